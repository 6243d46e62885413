"""The one training engine: K small models trained at once on data that lives on the device.

Public API (every model fit in dcai goes through it)::

    fit(model_fn, x_train, y_train, x_val=None, y_val=None, *, seeds=(0,), epochs=100, batch_size=8,
        lr=1e-4, eps=1e-7, betas=(0.9, 0.999), shuffle="full", augment=None, train_masks=None,
        val_masks=None, keep_best=True, device="auto", cuda_graphs=None, init_states=None,
        loss="ce", keep_epochs=(), supcon_temperature=0.1,
        on_epoch=None) -> list[FitResult]                     # one result per seed / mask row
    predict(model_fn, states, x, *, device="auto", logits=False) -> np.ndarray  # (K, N, classes)
    Trainer(...same keywords as fit, less epochs / on_epoch...)  # .train_epoch(), .results(),
                                                                 # .state_dict() / .load_state_dict()

Shapes: ``x_*`` are images ``(N, H, W, C)``, uint8 or float32 pixel values in [0, 255], numpy or
torch, already at the model's input size; ``y_*`` are class indices ``(N,)``. ``model_fn()`` returns
an ``nn.Module`` mapping ``(B, C, H, W)`` float pixels in [0, 255] to ``(B, classes)`` logits (it does
its own normalisation, as :class:`dcai.models.fixed.FixedNet` does). Model ``k`` is initialised under
``seeds[k]`` and shuffles with it, so it trains the same alone or beside others. ``train_masks``
``(K, N)`` bool gives each model its own training rows (folds); ``val_masks`` ``(K, N_val)`` its own
validation rows. ``augment(x, generator)`` maps a ``(B, C, H, W)`` float batch to one of the same
shape on the device (see :mod:`dcai.train.augment`). The loss is softmax cross-entropy, mean over
the batch; the optimizer is Adam in Keras' form (:mod:`dcai.train.optim`); with ``keep_best`` the
weights of the epoch with the best validation accuracy (strictly better than every earlier epoch)
are returned. ``shuffle``: ``"full"`` or ``"keras"`` (:mod:`dcai.train.schedule`).
``loss="supcon"`` trains an embedding instead: each step sees two augmented views of the batch and
minimises the supervised contrastive loss (:mod:`dcai.train.contrastive`) of the model outputs; its
``acc`` is the batch 1-NN agreement, and it takes no validation data. ``keep_epochs``: the epochs
after which every model's weights are kept in :attr:`FitResult.checkpoints` (TracIn reads them).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from dcai.train import contrastive, graphs
from dcai.train.optim import StackedAdam
from dcai.train.schedule import Orders, lockstep
from dcai.train.stack import ModelFn, Stack, build

Augment = Callable[[torch.Tensor, "torch.Generator | None"], torch.Tensor]
LOSSES = ("ce", "supcon")  # softmax cross-entropy on the labels; supervised contrastive (an embedding)


@dataclass
class FitResult:
    """One trained model: its best (or last) weights and the per-epoch history."""

    seed: int
    best_val_acc: float  # nan without validation data
    best_epoch: int  # 1-based; the last epoch without validation data or with keep_best=False
    history: list[dict] = field(default_factory=list)  # per epoch: epoch, loss, acc, val_loss, val_acc
    state_dict: dict[str, torch.Tensor] = field(default_factory=dict)  # CPU tensors, for model_fn()
    checkpoints: dict[int, dict[str, torch.Tensor]] = field(default_factory=dict)  # keep_epochs' weights


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` → ``cuda`` when available, else ``cpu``; anything else as given."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def to_device_images(x, device: torch.device) -> torch.Tensor:
    """``(N, H, W, C)`` uint8 / float array or tensor → the same on ``device`` (uint8 stays uint8)."""
    t = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x)
    if t.dim() != 4:
        raise ValueError(f"images must be (N, H, W, C), got shape {tuple(t.shape)}")
    if t.dtype not in (torch.uint8, torch.float32):
        t = t.float()
    return t.to(device)


def _cpu_copy(t: torch.Tensor) -> torch.Tensor:
    """A CPU copy that later in-place training cannot change (``.cpu()`` of a CPU tensor is itself)."""
    return t.detach().to("cpu", copy=True)


def _masks(masks, k: int, n: int, what: str) -> np.ndarray:
    if masks is None:
        return np.ones((k, n), dtype=bool)
    m = np.asarray(masks, dtype=bool)
    if m.shape != (k, n):
        raise ValueError(f"{what} must be (K={k}, N={n}) bool, got shape {m.shape}")
    return m


class Trainer:
    """K models training together, one epoch at a time; its whole state can be saved and restored."""

    def __init__(
        self,
        model_fn: ModelFn,
        x_train,
        y_train,
        x_val=None,
        y_val=None,
        *,
        seeds: Sequence[int] = (0,),
        batch_size: int = 8,
        lr: float = 1e-4,
        eps: float = 1e-7,
        betas: tuple[float, float] = (0.9, 0.999),
        shuffle: str = "full",
        augment: Augment | None = None,
        train_masks=None,
        val_masks=None,
        keep_best: bool = True,
        device: str | torch.device = "auto",
        cuda_graphs: bool | None = None,
        init_states: Sequence[dict] | None = None,
        loss: str = "ce",
        keep_epochs: Sequence[int] = (),
        supcon_temperature: float = 0.1,
    ):
        if loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
        self.device = resolve_device(device)
        if self.device.type == "cpu":
            # Adam's tiny second moments become denormal floats, which are 10-50x slower on x86 CPUs.
            torch.set_flush_denormal(True)
        self.seeds = [int(s) for s in seeds]
        k = len(self.seeds)
        if k == 0:
            raise ValueError("seeds must name at least one model")
        self.x = to_device_images(x_train, self.device)
        self.y = torch.as_tensor(np.asarray(y_train), dtype=torch.long, device=self.device)
        self.train_masks = _masks(train_masks, k, len(self.y), "train_masks")
        rows = [np.flatnonzero(m) for m in self.train_masks]
        if any(len(r) == 0 for r in rows):
            raise ValueError("every model needs at least one training row (a train_masks row is all False)")
        self.has_val = x_val is not None and len(x_val) > 0
        if self.has_val and loss == "supcon":
            raise ValueError("loss='supcon' trains an embedding: it takes no validation data")
        self.loss, self.keep_epochs = loss, {int(e) for e in keep_epochs}
        self.supcon_temperature = float(supcon_temperature)
        self.kept: dict[int, list[dict[str, torch.Tensor]]] = {}
        if self.has_val:
            self.x_val = to_device_images(x_val, self.device)
            self.y_val = torch.as_tensor(np.asarray(y_val), dtype=torch.long, device=self.device)
            self.val_masks = torch.as_tensor(
                _masks(val_masks, k, len(self.y_val), "val_masks"), device=self.device
            )
        self.batch_size, self.keep_best, self.augment = batch_size, keep_best, augment
        self.orders = Orders(rows, self.seeds, shuffle=shuffle, batch_size=batch_size)
        models = build(model_fn, self.seeds)
        if init_states is not None:
            for m, s in zip(models, init_states, strict=True):
                m.load_state_dict(s)
        self.stack = Stack(models, self.device)
        self.params = list(self.stack.params.values())
        self.opt = StackedAdam(self.params, lr=lr, betas=betas, eps=eps, flat=self.stack.flat)
        self.graphs = self.device.type == "cuda" if cuda_graphs is None else bool(cuda_graphs)
        if self.graphs and self.device.type != "cuda":
            raise ValueError("cuda_graphs=True needs a CUDA device")
        # Augmentation draws for all K models from one generator; inside CUDA graphs it must be the
        # default CUDA generator (see dcai.train.graphs), seeded here.
        aug_seed = self.seeds[0] * 1_000_003 + k
        self.gen: torch.Generator | None = None
        if self.graphs:
            torch.cuda.manual_seed(aug_seed)
        else:
            self.gen = torch.Generator(self.device).manual_seed(aug_seed)
        self.epoch = 0
        self.best = self.stack.snapshot()
        self.best_acc = np.full(k, -np.inf)
        self.best_epoch = np.zeros(k, dtype=int)
        self.history: list[list[dict]] = [[] for _ in range(k)]
        self._sums = torch.zeros(3, k, device=self.device)  # loss sum, correct, seen; per model
        self._captured: dict[tuple[int, bool], tuple[torch.cuda.CUDAGraph, torch.Tensor, torch.Tensor]] = {}

    @property
    def k(self) -> int:
        return len(self.seeds)

    # ---- one step ----------------------------------------------------------------------------

    def _step(self, idx: torch.Tensor, active: torch.Tensor, masked: bool) -> None:
        """Train on rows ``idx`` ``(K, b)``; models with ``active == 0`` are left as they were."""
        saved = [b.clone() for b in self.stack.buffers.values()] if masked else None
        x = self.x[idx].permute(0, 1, 4, 2, 3).float()  # (K, b, C, H, W)
        y = self.y[idx]
        if self.loss == "supcon":  # two augmented views of each image, one after the other
            views = [x if self.augment is None else self.augment(x.flatten(0, 1), self.gen).reshape(x.shape)
                     for _ in range(2)]  # fmt: skip
            feats = self.stack.forward(torch.cat(views, 1), train=True)  # (K, 2b, D)
            y2 = torch.cat([y, y], 1)
            per = contrastive.supcon(feats, y2, temperature=self.supcon_temperature)
            ce = (per[:, : idx.shape[1]] + per[:, idx.shape[1] :]) / 2  # (K, b): an image's two views
            right = contrastive.nearest_agrees(feats.detach(), y2)[:, : idx.shape[1]]
        else:
            if self.augment is not None:
                x = self.augment(x.flatten(0, 1), self.gen).reshape(x.shape)
            logits = self.stack.forward(x, train=True)
            ce = F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="none").view(idx.shape)
            right = logits.detach().argmax(-1) == y
        # Summing the models' mean losses gives each model exactly its own gradient.
        grads = torch.autograd.grad((ce.mean(1) * active).sum(), self.params)
        self.opt.step(grads, active)
        with torch.no_grad():
            self._sums[0].add_(ce.detach().sum(1) * active)
            self._sums[1].add_(right.sum(1) * active)
            self._sums[2].add_(idx.shape[1] * active)
            if saved is not None:  # BatchNorm's running statistics of inactive models: put back
                for b, s in zip(self.stack.buffers.values(), saved):
                    b.copy_(torch.where(active.view(-1, *[1] * (b.dim() - 1)) > 0, b, s))

    def _graph(self, size: int, masked: bool):
        key = (size, masked)
        if key not in self._captured:
            idx = torch.zeros(self.k, size, dtype=torch.long, device=self.device)
            active = torch.ones(self.k, device=self.device)
            state = self.stack.tensors() + self.opt.m + self.opt.v + [self.opt.t, self._sums]
            g = graphs.capture(lambda: self._step(idx, active, masked), state)
            self._captured[key] = (g, idx, active)
        return self._captured[key]

    # ---- epochs ------------------------------------------------------------------------------

    def train_epoch(self) -> dict[str, np.ndarray]:
        """One epoch for every model, then validation; returns per-model ``(K,)`` metrics."""
        self._sums.zero_()
        for seg in lockstep(self.orders.epoch()):
            idx_all = torch.as_tensor(seg.idx, device=self.device)
            active = torch.as_tensor(seg.active, dtype=torch.float32, device=self.device)
            masked = not bool(seg.active.all())
            if self.graphs:
                graph, static_idx, static_active = self._graph(seg.size, masked)
                static_active.copy_(active)
                for s in range(len(idx_all)):
                    static_idx.copy_(idx_all[s])
                    graph.replay()
            else:
                for s in range(len(idx_all)):
                    self._step(idx_all[s], active, masked)
        self.epoch += 1
        if self.epoch in self.keep_epochs:
            self.kept[self.epoch] = [self.stack.state_dict(k) for k in range(self.k)]
        loss, correct, seen = self._sums.cpu().numpy()
        metrics = {"loss": loss / np.maximum(seen, 1), "acc": correct / np.maximum(seen, 1)}
        if self.has_val:
            metrics["val_acc"], metrics["val_loss"] = self.evaluate(self.x_val, self.y_val, self.val_masks)
            improved = metrics["val_acc"] > self.best_acc  # strict: a tie keeps the earlier epoch
            if improved.any():
                self._keep(improved)
                self.best_acc[improved] = metrics["val_acc"][improved]
                self.best_epoch[improved] = self.epoch
        for k in range(self.k):
            self.history[k].append({"epoch": self.epoch, **{n: float(v[k]) for n, v in metrics.items()}})
        return metrics

    def _keep(self, improved: np.ndarray) -> None:
        where = torch.as_tensor(improved, device=self.device)
        with torch.no_grad():
            for best, t in zip(self.best, self.stack.tensors()):
                best.copy_(torch.where(where.view(-1, *[1] * (t.dim() - 1)), t, best))

    @torch.no_grad()
    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, H, W, C)`` on the device → ``(K, N, classes)`` with the current weights, eval mode."""
        chunk = max(8, (16384 if self.device.type == "cuda" else 2048) // self.k)
        out = [
            self.stack.forward(x[i : i + chunk].permute(0, 3, 1, 2).float(), train=False)
            for i in range(0, len(x), chunk)
        ]
        return torch.cat(out, dim=1)

    def evaluate(self, x: torch.Tensor, y: torch.Tensor, masks: torch.Tensor | None = None):
        """Accuracy and mean loss per model ``(K,)`` on ``x`` / ``y`` (only each model's ``masks`` rows)."""
        logits = self.logits(x)
        m = torch.ones(logits.shape[:2], device=self.device) if masks is None else masks.float()
        ce = F.cross_entropy(logits.flatten(0, 1), y.repeat(self.k), reduction="none").view(m.shape)
        n = m.sum(1).clamp(min=1)
        acc = ((logits.argmax(-1) == y).float() * m).sum(1) / n
        return acc.cpu().numpy().astype(np.float64), ((ce * m).sum(1) / n).cpu().numpy().astype(np.float64)

    # ---- results and checkpoints ---------------------------------------------------------------

    def results(self) -> list[FitResult]:
        use_best = self.keep_best and self.has_val and self.epoch > 0
        if use_best:
            current = self.stack.snapshot()
            self.stack.restore(self.best)
        out = []
        for k, seed in enumerate(self.seeds):
            best_epoch = int(self.best_epoch[k]) if use_best else self.epoch
            acc = (
                float(self.best_acc[k])
                if use_best
                else (self.history[k][-1].get("val_acc", float("nan")) if self.history[k] else float("nan"))
            )
            kept = {e: states[k] for e, states in sorted(self.kept.items())}
            out.append(
                FitResult(seed, acc, best_epoch, list(self.history[k]), self.stack.state_dict(k), kept)
            )
        if use_best:
            self.stack.restore(current)
        return out

    def state_dict(self) -> dict:
        """Everything needed to continue exactly where this trainer is (CPU tensors, picklable)."""
        return {
            "epoch": self.epoch,
            "seeds": self.seeds,
            "tensors": [_cpu_copy(t) for t in self.stack.tensors()],
            "best": [_cpu_copy(t) for t in self.best],
            "best_acc": self.best_acc.copy(),
            "best_epoch": self.best_epoch.copy(),
            "history": [list(h) for h in self.history],
            "kept": self.kept,
            "opt": self.opt.state_dict(),
            "orders": self.orders.state(),
            "rng": self.gen.get_state() if self.gen is not None else torch.cuda.get_rng_state(),
        }

    def load_state_dict(self, state: dict) -> None:
        if list(state["seeds"]) != self.seeds:
            raise ValueError(f"checkpoint is for seeds {state['seeds']}, this trainer has {self.seeds}")
        self.stack.restore([t.to(self.device) for t in state["tensors"]])
        for b, s in zip(self.best, state["best"]):
            b.copy_(s)
        self.epoch = int(state["epoch"])
        self.best_acc, self.best_epoch = np.array(state["best_acc"]), np.array(state["best_epoch"])
        self.history = [list(h) for h in state["history"]]
        self.kept = dict(state.get("kept", {}))
        self.opt.load_state_dict(state["opt"])
        self.orders.load_state(state["orders"])
        if self.gen is not None:
            self.gen.set_state(state["rng"])
        else:
            torch.cuda.set_rng_state(state["rng"])


def fit(
    model_fn: ModelFn,
    x_train,
    y_train,
    x_val=None,
    y_val=None,
    *,
    epochs: int = 100,
    on_epoch: Callable[[Trainer, dict], None] | None = None,
    **options,
) -> list[FitResult]:
    """Train ``len(seeds)`` models at once (see the module docstring); one :class:`FitResult` each."""
    trainer = Trainer(model_fn, x_train, y_train, x_val, y_val, **options)
    for _ in range(epochs):
        metrics = trainer.train_epoch()
        if on_epoch is not None:
            on_epoch(trainer, metrics)
    return trainer.results()


@torch.no_grad()
def predict(
    model_fn: ModelFn, states: Sequence[dict], x, *, device: str | torch.device = "auto", logits: bool = False
) -> np.ndarray:
    """Class probabilities (or logits) of K trained models: ``(N, H, W, C)`` → ``(K, N, classes)``."""
    dev = resolve_device(device)
    stack = Stack.from_states(model_fn, states, dev)
    xt = to_device_images(x, dev)
    chunk = max(8, (16384 if dev.type == "cuda" else 2048) // stack.k)
    out = torch.cat(
        [
            stack.forward(xt[i : i + chunk].permute(0, 3, 1, 2).float(), train=False)
            for i in range(0, len(xt), chunk)
        ],
        dim=1,
    )
    return (out if logits else out.softmax(-1)).cpu().numpy()
