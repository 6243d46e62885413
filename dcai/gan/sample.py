"""Sampling the trained generator: truncated noise, the validity check, the dedup check against the run.

"noise vectors that are drawn from a truncated normal distribution with a mean of 0, standard deviation
of 1, and a truncation threshold of 0.7" (seeds/004, section 5). A drawn image ``(S, S)`` uint8 is kept
only when (1) the validity classifier (augment's, :mod:`dcai.augment.validity`) reads the class it was
generated for: the guard against a generator that won by drawing another numeral; (2) it is no copy of
a run image nor of an image kept before it (dedup's sketch: equal decoded pixels, or ink masks that
overlap by ``threshold`` among pHash neighbours). The fixed classifier's reading is recorded too: the
paper's aim is images it gets wrong.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from dcai import imaging
from dcai.augment import validity
from dcai.dedup import normalise, sketch, verify
from dcai.dedup.config import DedupConfig
from dcai.gan import nets

KEPT, INVALID, DUPLICATE = "kept", "reads as another class", "duplicate"


@dataclass
class Index:
    """Dedup sketches of the images a new one must not copy: ``pixel_hash`` set, pHash ``(N,)`` uint64,
    packed ink masks and ink counts; grows as images are kept."""

    hashes: set[str]
    phash: np.ndarray
    masks: np.ndarray  # (N, S*S/8) uint8
    ink: np.ndarray
    cfg: DedupConfig = field(default_factory=DedupConfig)

    @classmethod
    def of(cls, data: Sequence[bytes], cfg: DedupConfig | None = None) -> Index:
        cfg = cfg or DedupConfig()
        sk = sketch.sketch(list(data), cfg) if data else None
        if sk is None:
            empty = np.zeros(0, np.uint64)
            return cls(
                set(), empty, np.zeros((0, cfg.size * cfg.size // 8), np.uint8), np.zeros(0, np.int32), cfg
            )
        return cls(set(sk["pixel_hash"]), sk["phash"], sk["mask"], sk["ink"], cfg)

    def copy_of(self, data: bytes, *, threshold: float) -> str | None:
        """Why ``data`` copies an indexed image (``"same pixels"``, ``"ink mask 0.97"``), or None; then adds it."""
        sk = sketch.sketch([data], self.cfg)
        h, ph, mask, ink = sk["pixel_hash"][0], sk["phash"][0], sk["mask"][0], int(sk["ink"][0])
        why = None
        if h in self.hashes:
            why = "same pixels as a run image"
        elif ink >= self.cfg.min_ink and len(self.phash):
            near = np.flatnonzero(
                (np.bitwise_count(self.phash ^ ph) <= self.cfg.phash_distance)
                & (self.ink >= self.cfg.min_ink)
            )
            if len(near):
                size = self.cfg.size
                a = np.repeat(normalise.unpack(mask[None], size), len(near), axis=0)
                score = verify.similarity(a, normalise.unpack(self.masks[near], size), radius=self.cfg.radius)
                if score.max() >= threshold:
                    why = f"ink mask overlap {score.max():.2f} with a run image"
        if why is None:
            self.hashes.add(h)
            self.phash = np.append(self.phash, ph)
            self.masks = np.concatenate([self.masks, mask[None]])
            self.ink = np.append(self.ink, ink)
        return why


@torch.no_grad()
def draw(
    gen: nets.Generator, labels: np.ndarray, seeds: Sequence[int], *, device: str | torch.device = "cpu"
) -> np.ndarray:
    """Images of class ``labels`` ``(M,)`` → ``(M, S, S)`` uint8; image ``j``'s noise (truncated at 0.7)
    drawn under ``seeds[j]``, so a row's seed and its generator checkpoint give the image back."""
    z = torch.cat(
        [nets.truncated_noise(1, generator=torch.Generator().manual_seed(int(s))) for s in seeds]
    ).to(device)
    x = gen(z, torch.as_tensor(labels, dtype=torch.long, device=device))
    return x.round().clamp(0, 255).to(torch.uint8)[:, 0].cpu().numpy()


@torch.no_grad()
def fixed_reading(
    classifier: torch.nn.Module, images: np.ndarray, device: str | torch.device = "cpu"
) -> np.ndarray:
    """The frozen fixed model's class index for each ``(M, S, S)`` uint8 image."""
    x = torch.as_tensor(images, dtype=torch.float32, device=device)[:, None].expand(-1, 3, -1, -1)
    return classifier(x).argmax(1).cpu().numpy()


@dataclass
class Drawn:
    """Every image drawn for a class, with its verdict."""

    images: list[np.ndarray]
    labels: list[int]
    status: list[str]  # KEPT, INVALID or DUPLICATE (+ why)
    validity_reads: list[str]
    fixed_reads: list[str]
    seeds: list[int]  # each image's noise seed (see draw)


def sample(
    gen: nets.Generator,
    *,
    classes: Sequence[str],
    per_class: int,
    classify: validity.Classify,
    classifier: torch.nn.Module | None,
    index: Index,
    dedup_threshold: float,
    oversample: int = 4,
    seed: int = 0,
    batch: int = 64,
    device: str | torch.device = "cpu",
) -> Drawn:
    """Draw until ``per_class`` images of each class pass both checks, or ``per_class * oversample`` were
    drawn for it. ``classify`` is the validity classifier (augment's contract: ``(N, S, S)`` uint8 → scores)."""
    out = Drawn([], [], [], [], [], [])
    names = np.asarray(list(classes), dtype=object)
    for k in range(len(classes)):
        kept = drawn = 0
        while kept < per_class and drawn < per_class * oversample:
            n = min(batch, per_class * oversample - drawn)
            seeds = [(seed * 1_000_003 + k) * 100_003 + drawn + j for j in range(n)]
            images = draw(gen, np.full(n, k), seeds, device=device)
            drawn += n
            reads = validity.predicted_labels(
                list(images), classify=classify, classes=classes, size=images.shape[-1]
            )
            fixed = (
                names[fixed_reading(classifier, images, device)]
                if classifier is not None
                else np.full(n, "", object)
            )
            for j in range(n):
                if kept >= per_class:
                    break
                status = KEPT
                if reads[j] != classes[k]:
                    status = f"{INVALID}: {reads[j]}"
                else:
                    why = index.copy_of(imaging.encode_png(images[j]), threshold=dedup_threshold)
                    if why is not None:
                        status = f"{DUPLICATE}: {why}"
                kept += status == KEPT
                out.images.append(images[j])
                out.labels.append(k)
                out.status.append(status)
                out.validity_reads.append(str(reads[j]))
                out.fixed_reads.append(str(fixed[j]))
                out.seeds.append(seeds[j])
    return out
