"""Configuration of vote: members, folds, training recipe, Tune fan-out, noisy / ambiguous thresholds."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dcai.config import StageConfig
from dcai.models.inputs import RESIZE_METHODS
from dcai.models.vote import VOTE_MEMBERS

# Options that only turn probabilities into flags (dcai.vote.scores.flags): with one round, changing them
# re-flags without retraining; with more, the noisy flags choose the later rounds' training rows.
# rounds_scored (which rounds' probabilities the flags read) behaves alike (vote.pipeline.train_key).
FLAG_OPTIONS = ("noisy_min_margin", "noisy_max_agreement", "ambiguous_max_top_prob", "ambiguous_min_entropy")


ENGINES = ("train", "tune-train", "tune")  # how vote fits its trials on Ray (VoteConfig.engine)
INPUTS = ("driver", "ray_data")  # where vote's images live (VoteConfig.inputs)


@dataclass(frozen=True)
class VoteConfig(StageConfig):
    members: tuple[str, ...] = VOTE_MEMBERS  # the 3rd-place team's five architectures
    width: float = 1.0  # channel multiplier for every member (0.25 trains 5 members × 5 folds on a CPU)
    widths: tuple[float, ...] = ()  # one multiplier per member, overriding width (e.g. a narrower ResNet34)
    folds: int = 5
    epochs: int = 30
    batch_size: int = 32
    # Adam; the members train from scratch, with BatchNorm but for LeNet5 and AlexNet. AlexNet x0.25 at this
    # rate ends predicting one class on some seeds (BENCHMARKS "member-inputs"); at 3e-4 it does not, but
    # reaches only 54-59% in 15 epochs on the competition data (a /tmp probe), so the rate stays.
    lr: float = 1e-3
    augment: str = "heavy"  # "heavy" (the paper's, dcai.train.augment) or "none"
    # Input side in px. 48: on planted noise (bench/labels.py, BENCHMARKS "labels") the noisy flag's F1 at
    # 32 px was 0.878 (tf resize) / 0.897 (area) on seed 1 and 48 px gave 0.930 (tf) there and 0.943 (area)
    # on seed 2: thin strokes that 32 px loses tell look-alike numerals apart. It costs ~2.6x the CPU time
    # of 32 px (the demo and the tiny preset keep 32).
    image_size: int = 48
    # How images are brought to image_size (dcai.models.inputs.RESIZE_METHODS): "area" averages the pixels
    # each input pixel covers; "tf" is the fixed model's aliased resize, which on 200-250 px scans reads 2 x 2
    # of every 8 x 8 pixels and misses thin strokes. "area": one LeNet-5, 3 seeds (bench/member_inputs.py,
    # BENCHMARKS "member-inputs"), on the competition data's reviewed images 72.5% -> 78.1% (30 epochs), on
    # `dcai synth` seed 1's clean test set 67.1% -> 73.3% (15 epochs); the same cost.
    resize: str = "area"
    splits: tuple[str, ...] = ("train", "val")  # rows voted on; trusted rows (label_book) always train
    # Rows of these splits are scored by every fold model but never trained on (nor certified or
    # queued): a test set kept out of the pipeline, e.g. the reviewed sample of the real data.
    holdout_splits: tuple[str, ...] = ()
    seed: int = 0
    device: str = "auto"
    # Tune trials: one per member × group of folds. 0 = all folds of a member in one trial (stacked on
    # one device by the engine: the fast way on a GPU); 1 = one trial per member × fold (a CPU cluster).
    folds_per_trial: int = 0
    # GPUs per trial, fractional to pack several on one GPU (0.5: two members' fold stacks share one).
    # -1 = "auto": 1 if the cluster has a GPU when the stage starts, else 0; only for clusters whose GPUs
    # are already up (an autoscaler starts GPU nodes only for tasks that ask: see competition-gpu.yaml).
    gpus_per_trial: float = -1.0
    cpus_per_trial: float = 1.0  # per trial: per Ray Train worker (engine "train") or Tune trial ("tune")
    # How the trials are fitted on Ray: "train", one elastic TorchTrainer whose workers split the trials
    # (dcai.train.pipeline.fit_many); "tune-train", a Tune trial per trial launching its own one-worker
    # TorchTrainer (fan_out_trainers); "tune", a plain Tune trial each (fan_out), no Ray Train.
    # BENCHMARKS "vote-ray" measures them.
    engine: str = "train"
    workers: int = 0  # engine "train": at most this many workers; 0 = one per trial (what fits runs)
    max_failures: int = 2  # a lost worker / trial restarts this many times, from its last epoch
    storage_path: str = ""  # Ray Train / Tune storage, any pyarrow.fs URI all nodes reach; "" = in the stage
    # Where the images live. "driver": decoded into the driver (float32, cached in RUN/cache), shipped to
    # the workers and predicted there: the exact resize. "ray_data": decoded once by Ray Data into the run's
    # uint8 tensor dataset (RUN/tensors/, dcai.tensors), which each training worker reads itself and an
    # actor pool holding the fold models predicts over, writing the out-of-fold probabilities to Parquet in
    # the stage (oof/); the driver holds no pixels. Pixels rounded to uint8 (at most 0.5 of 255 off), so
    # the models differ slightly from "driver"'s. BENCHMARKS "vote-ray" measures both.
    inputs: str = "driver"
    predict_actors: int = 0  # inputs "ray_data": actors predicting; 0 = one per CPU (per GPU share with GPUs)
    # Flags (dcai.vote.scores.flags). Chosen on synthetic planted noise by bench/labels.py, see there.
    noisy_min_margin: float = 0.1
    noisy_max_agreement: float = 0.4
    ambiguous_max_top_prob: float = 0.5
    ambiguous_min_entropy: float = 0.6
    # Rounds (dcai.vote.rounds): round r > 1 refits the fold models without the rows round r - 1 flagged
    # noisy ("drop") or with those rows relabelled to the ensemble's top label ("relabel"); the last
    # round's scores and flags are the stage's. Each round costs a full fan-out. Two, dropping: on planted
    # noise (bench/labels.py, BENCHMARKS "labels": n 2000, seed 2, 10 epochs) the noisy flag's F1 went
    # 0.820 -> 0.860 in round 2 and back to 0.840 in round 3; relabelling instead gave 0.804 (the flags'
    # false positives, clean images, get a wrong label and teach it).
    rounds: int = 2
    round_flagged: str = "drop"
    # Which rounds' out-of-fold probabilities score the images: "all" averages them (M members x R rounds of
    # fold models, each row still scored only by models that never trained on it), "last" takes the last
    # round's. "all": on a choice run (BENCHMARKS "labels", run *scoring*: seed 2, 10 epochs, 2 rounds) the
    # noisy flag's F1 was 0.872 on round 2 alone and 0.890 on both rounds averaged, at the same thresholds
    # (the two rounds' models err differently: round 1 learnt from the noisy rows round 2 dropped).
    rounds_scored: str = "all"
    # A member whose out-of-fold accuracy on the given labels does not beat predicting the commonest label
    # by weak_member_margin of what is left to learn, or is more than weak_member_gap below the best
    # member's, learnt nothing the ensemble can use: it is set aside and reported (dcai.vote.evidence;
    # weak_members="keep" averages every member in). AlexNet before BatchNorm predicted one class (12.7%
    # out of fold on the competition data, BENCHMARKS "gpu").
    weak_members: str = "set_aside"
    weak_member_margin: float = 0.1
    weak_member_gap: float = 0.25

    PRESETS = {
        "tiny": {
            "members": ("lenet5", "allconv"),
            "width": 0.125,
            "folds": 2,
            "epochs": 2,
            "batch_size": 16,
            "augment": "none",
            "image_size": 32,
        }
    }

    def member_guard(self) -> dict[str, float]:
        """The keyword arguments of ``dcai.vote.evidence.keep_members``."""
        if self.weak_members == "keep":
            return {"margin": -np.inf, "max_gap": np.inf}
        return {"margin": self.weak_member_margin, "max_gap": self.weak_member_gap}

    def flag_options(self) -> dict[str, float]:
        """The keyword arguments of ``dcai.vote.scores.flags``."""
        return {k: getattr(self, k) for k in FLAG_OPTIONS}

    def scored(self, by_round: list[np.ndarray]) -> np.ndarray:
        """The ``(M, N, C)`` probabilities the flags read, from the rounds so far (``(M, N, C)`` each)."""
        return np.mean(by_round, axis=0) if self.rounds_scored == "all" else by_round[-1]

    def member_width(self, member: str) -> float:
        return self.widths[self.members.index(member)] if self.widths else self.width

    def __post_init__(self) -> None:
        bad = [m for m in self.members if m not in VOTE_MEMBERS]
        self._check(
            bool(self.members) and not bad, f"members must be from {list(VOTE_MEMBERS)}, got {bad or '()'}"
        )
        self._check(len(set(self.members)) == len(self.members), "members must not repeat")
        self._check(self.width > 0, f"width must be > 0, got {self.width}")
        self._check(
            not self.widths or (len(self.widths) == len(self.members) and min(self.widths) > 0),
            f"widths must give one positive multiplier per member ({len(self.members)}), got {self.widths}",
        )
        self._check(self.folds >= 2, f"folds must be >= 2 (out-of-fold scores), got {self.folds}")
        self._check(self.epochs >= 1 and self.batch_size >= 1, "epochs and batch_size must be >= 1")
        self._check(self.lr > 0, f"lr must be > 0, got {self.lr}")
        self._check(
            self.augment in ("heavy", "none"), f"augment must be 'heavy' or 'none', got {self.augment!r}"
        )
        self._check(
            self.resize in RESIZE_METHODS,
            f"resize must be one of {list(RESIZE_METHODS)}, got {self.resize!r}",
        )
        self._check(
            0 <= self.folds_per_trial <= self.folds,
            f"folds_per_trial must be in [0, folds], got {self.folds_per_trial}",
        )
        self._check(bool(self.splits), "splits must name at least one split")
        self._check(not set(self.splits) & set(self.holdout_splits), "holdout_splits must not overlap splits")
        self._check(self.rounds >= 1, f"rounds must be >= 1, got {self.rounds}")
        self._check(
            self.round_flagged in ("drop", "relabel"),
            f"round_flagged must be 'drop' or 'relabel', got {self.round_flagged!r}",
        )
        self._check(
            self.rounds_scored in ("all", "last"),
            f"rounds_scored must be 'all' or 'last', got {self.rounds_scored!r}",
        )
        self._check(
            self.weak_members in ("set_aside", "keep"),
            f"weak_members must be 'set_aside' or 'keep', got {self.weak_members!r}",
        )
        self._check(
            0 <= self.weak_member_margin < 1,
            f"weak_member_margin must be in [0, 1), got {self.weak_member_margin}",
        )
        self._check(
            0 < self.weak_member_gap <= 1, f"weak_member_gap must be in (0, 1], got {self.weak_member_gap}"
        )
        self._check(self.cpus_per_trial > 0, f"cpus_per_trial must be > 0, got {self.cpus_per_trial}")
        self._check(
            self.engine in ENGINES, f"engine must be one of {', '.join(ENGINES)}, got {self.engine!r}"
        )
        self._check(self.inputs in INPUTS, f"inputs must be one of {', '.join(INPUTS)}, got {self.inputs!r}")
        self._check(self.predict_actors >= 0, f"predict_actors must be >= 0, got {self.predict_actors}")
        self._check(self.workers >= 0, f"workers must be >= 0 (0 = one per trial), got {self.workers}")
        self._check(self.max_failures >= 0, f"max_failures must be >= 0, got {self.max_failures}")
        for name in (
            "noisy_min_margin",
            "noisy_max_agreement",
            "ambiguous_max_top_prob",
            "ambiguous_min_entropy",
        ):
            v = getattr(self, name)
            self._check(0.0 <= v <= 1.0, f"{name} must be in [0, 1], got {v}")
