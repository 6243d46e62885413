"""Configuration of the dedup stage."""

from __future__ import annotations

from dataclasses import dataclass

from dcai.config import StageConfig
from dcai.dedup import pixels, verify


@dataclass(frozen=True)
class DedupConfig(StageConfig):
    # normalisation and signatures
    size: int = 32  # ink mask side: 32 keeps a stroke of a 300 px scan and costs 128 bytes an image
    grid: int = 16  # shingle grid (cells of size/grid mask cells); coarser tolerates more jitter
    num_perm: int = 64  # MinHash permutations; bands * rows of them are used for LSH
    bands: int = 16  # LSH bands: P(candidate | Jaccard s) = 1 - (1 - s^rows)^bands
    rows: int = 4  # 16 x 4: 0.99 at s = 0.7, 0.35 at s = 0.4
    seed: int = 1  # MinHash seed (datasketch's default); signatures compare only under one seed
    phash_candidates: bool = True  # pHash bands as a second candidate source
    phash_distance: int = 10  # pHash pairs need at most this many differing bits (of 64)
    min_ink: int = 8  # masks with fewer ink cells (blank, a dot) are not near-matched: all blanks look alike
    # buckets and verification
    max_bucket: int = 64  # a bucket with more members is "hot": windowed pairs only (see lsh.bucket_pairs)
    hot_window: int = 8  # in a hot bucket, each member meets its next hot_window members in pHash order
    # and again in canvas order (lsh.geo_keys); 16 found 1 more planted copy in 300 for 1.7x the pairs
    #
    # Accept a candidate whose tolerant mask overlap reaches `threshold`, whose geometry passes the gates
    # below and (with `pixel_check`) whose files one promised transform explains pixel for pixel. The
    # pixel check holds precision, so the two cheap steps only bound its work: on `dcai synth` n=6000
    # (BENCHMARKS.md) every planted copy that is a candidate at all reaches 0.75 on both seeds (0.85
    # loses 2 of seed 1, 0.95 12 of seed 0), and ~1,100 pairs per 7,200 images reach the pixel check.
    # Look-alike data passes more (64x64 speed glyphs: 5 an image, ~1 ms each; 0.95 cuts that 8x).
    # Without the pixel check, use 0.95-0.99 (precision 0.59-0.81 there).
    threshold: float = 0.75
    radius: int = 1  # tolerance of the overlap, in mask cells
    # Geometric gates (verify.gate): a near copy keeps its canvas, or is a crop of it, or a resize of
    # it. Tolerances are logs (0.1 = 10 %) or canvas fractions, set from the transform bounds the stage
    # promises (crop ≤ 10 %, stroke ±1 px, rotation ≤ 5°) measured on `dcai synth` (BENCHMARKS.md).
    scale_tol: float = 0.1  # same canvas: ink spread within 10 % (a 1 px stroke change, small glyph)
    crop_max: float = 0.12  # crop: each side of the canvas at most ~11 % smaller
    crop_tol: float = 0.02  # crop: no resampling, so ink spread and pixel count agree within 2 %
    resize_tol: float = 0.05  # resize: ink spread scales with the canvas within 5 % + 1 px (blur)
    aspect_tol: float = 0.03  # resize: width and height scaled alike (rounding of a 48 px side: 2 %)
    # resize: ink centroid at the same canvas fraction; bilinear halving moves a thin stroke's centroid
    # by up to 2.4 % (0.015 lost 3 planted resizes in 300; 0.025 doubles the pairs to pixel-check)
    place_tol: float = 0.025
    # same canvas, resampled: centroid moved ≤ 3.5 % by 5° about the centre, but a ±1 px redraw of
    # mixed-width strokes moves it up to 6 % (3 planted copies of seed 1); +5 % pairs
    turn_tol: float = 0.07
    cut_tol: float = 0.1  # shift / crop: an image whose ink touches its border may have lost 10 % of it
    # Pixel check (dcai/dedup/pixels.py): decode both images of each pair the cheap steps accept and
    # keep it only when one promised transform explains one image by the other; residual tolerances as
    # measured in pixels.TOL / pixels.STROKE_TOL (JPEG q=30 on any transform stays under a third of them)
    pixel_check: bool = True
    pixel_tol: float = pixels.TOL  # 0.05: identity/JPEG, shift, crop, rotation, resize
    stroke_tol: float = pixels.STROKE_TOL  # 0.1: ±1 px stroke (ink outside thin <= thick <= dilate(thin))
    # pairs per Ray task of the pixel check, at most: ~1 s of work at ~0.3 ms a pair, where Ray Data's own
    # ~40 ms a task is 4 % (at 256 it was ~half: 0.32 against 0.16 ms a pair on 100 k pairs of a 1 M run).
    # Fewer pairs than 4 tasks a CPU are cut into 4 tasks a CPU, so a small run still uses every CPU
    pixel_batch: int = 4096
    # Files up to this size are kept, encoded, in the sketches (column `data`): the pixel check reads the
    # ones its pairs need from one object-store copy (when they fit `broadcast_bytes`) instead of the disk,
    # and `--against` needs no old file. Larger files are re-read. 0 = re-read every file.
    # `dcai synth` PNGs average ~0.5 KB, dcai-roman's ~3 KB: 1 M images keep ~0.5 GB.
    pixel_inline_bytes: int = 16 * 1024
    # policy
    keep_order: tuple[str, ...] = ("train", "val")  # which copy stays: earlier splits first, others after
    pinned_splits: tuple[str, ...] = ("test",)  # rows here are never moved (like trusted rows)
    max_near_group: int = (
        4  # a near-linked group larger than this is a chain of look-alikes: review, no removal
    )
    # engine
    batch_size: int = 512  # images per Ray Data batch: amortises task overhead, keeps a batch ~20 MB
    # Files a sketch task reads at once: overlaps the waits of object stores and network filesystems
    # (on the bench VM's local disk the cold 1 M sketch was no faster: BENCHMARKS dedup-speed).
    read_threads: int = 8
    # How band rows reach their reducer: "files", tasks scatter them through the stage folder (dedup.shuffle).
    shuffle: str = "files"
    partitions: int = 0  # hash partitions of the band group-by; 0 = about one per 250k band rows
    # Verify features of every image (packed mask + geometry, ~160 B) up to this size are put in the
    # object store once and read by the group-by's reducers, which verify their pairs in place: no pair
    # leaves its partition unless accepted. Past it (~13 M images at 2 GiB), candidates go through the
    # two-shuffle join of `join` instead. 0 = always the join.
    broadcast_bytes: int = 2 * 2**30
    max_listed: int = 200  # leakage groups listed in report.json (all are counted)

    PRESETS = {"tiny": {"batch_size": 64, "partitions": 2}}

    def gate_options(self) -> dict[str, float]:
        """The keyword arguments of ``verify.gate``."""
        return {k: getattr(self, k) for k in verify.GATE_OPTIONS}

    def __post_init__(self) -> None:
        self._check(
            8 <= self.size <= verify.MAX_SIZE and self.size % self.grid == 0,
            f"size must be in [8, {verify.MAX_SIZE}] (a mask row is one 64-bit word) and a multiple of grid, "
            f"got size={self.size}, grid={self.grid}",
        )
        self._check(
            self.bands * self.rows <= self.num_perm,
            f"bands * rows ({self.bands * self.rows}) must be <= num_perm ({self.num_perm})",
        )
        self._check(self.bands >= 1 and self.rows >= 1, "bands and rows must be >= 1")
        self._check(0.0 < self.threshold <= 1.0, f"threshold must be in (0, 1], got {self.threshold}")
        self._check(
            0 <= self.phash_distance <= 64, f"phash_distance must be in [0, 64], got {self.phash_distance}"
        )
        self._check(
            2 <= self.hot_window <= self.max_bucket,
            f"need 2 <= hot_window <= max_bucket, got {self.hot_window}, {self.max_bucket}",
        )
        self._check(self.max_near_group >= 2, f"max_near_group must be >= 2, got {self.max_near_group}")
        self._check(self.radius >= 0, f"radius must be >= 0, got {self.radius}")
        self._check(
            self.pixel_tol > 0 and self.stroke_tol > 0 and self.pixel_batch > 0,
            f"pixel_tol, stroke_tol and pixel_batch must be > 0, got {self.pixel_tol}, {self.stroke_tol}, "
            f"{self.pixel_batch}",
        )
        self._check(
            self.pixel_inline_bytes >= 0, f"pixel_inline_bytes must be >= 0, got {self.pixel_inline_bytes}"
        )
        gates = self.gate_options()
        self._check(all(v >= 0 for v in gates.values()), f"gate tolerances must be >= 0, got {gates}")
        self._check(
            self.shuffle == "files",
            f"shuffle must be 'files' (tasks scatter band rows through the stage folder), got {self.shuffle!r}; "
            "'ray' (Ray Data's hash shuffle) was removed: no test covered it",
        )
        self._check(
            self.batch_size > 0 and self.partitions >= 0 and self.read_threads >= 1,
            "batch_size and read_threads must be > 0 and partitions >= 0",
        )
