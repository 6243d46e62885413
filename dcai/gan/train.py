"""Training the paper's GAN without Ray: the frozen classifier, the adversarial loop, checkpoints, resume.

Real images are ``(N, S, S)`` grayscale pixels in [0, 255] with class indices ``(N,)``. The classifier
is the fixed model (:class:`dcai.models.fixed.FixedNet`, RGB ``(B, 3, S, S)`` in [0, 255]) trained on the
run's data and frozen; the generator's images reach it with the gray channel repeated, as the fixed
model reads every image. :class:`GanTrainer` holds all the state (both networks, both optimizers, the
step, the random streams); ``state_dict`` / ``load_state_dict`` continue exactly where it was, so the
Ray Train loop (:mod:`dcai.gan.pipeline`) and :func:`train_local` resume from a checkpoint alike.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from dcai.gan import nets
from dcai.gan.config import GanConfig
from dcai.train.engine import resolve_device

CHECKPOINT = "gan.pt"
LOG_EVERY = 10  # iterations between history records (loss terms, the classifier's accuracy on fakes)
# DCGAN's Adam (β1 = 0.5): the paper gives the learning rate only, and its GAN is "analogous to DCGAN"
BETAS = (0.5, 0.999)


@dataclass(frozen=True)
class Settings:
    """What one GAN training needs of :class:`GanConfig` (a search trial overrides γ, δ and the ramp)."""

    iterations: int
    batch_size: int = 32
    lr: float = 1e-4
    gamma: float = 0.5
    delta: float = 1.0
    ramp: float = 0.5
    gamma_cap: float = 0.5
    conditional_disc: bool = True
    width: int = 64
    seed: int = 0

    @classmethod
    def of(cls, cfg: GanConfig, **changes) -> Settings:
        names = cls.__dataclass_fields__
        return cls(**{**{k: getattr(cfg, k) for k in names}, **changes})

    @property
    def ramp_steps(self) -> int:
        return int(round(self.ramp * self.iterations))

    @property
    def gamma_max(self) -> float:
        """γ the schedule rises to, after the cap (the guard)."""
        return min(self.gamma, self.gamma_cap)


def train_classifier(
    x: np.ndarray,
    y: np.ndarray,
    x_val,
    y_val,
    *,
    num_classes: int,
    epochs: int,
    seed: int = 0,
    device: str = "auto",
) -> tuple[dict, float]:
    """The "pre-trained classifier": the fixed model, official recipe, ``epochs`` epochs on ``x`` ``(N, S, S, 3)``.

    Returns ``(state_dict, best val accuracy or nan)``; best-val weights when there is a val split."""
    from dcai.models.fixed import RECIPE, fixed_net
    from dcai.train.engine import fit

    options = {**RECIPE.fit_kwargs(), "epochs": epochs}
    has_val = x_val is not None and len(x_val) > 0
    (result,) = fit(
        functools.partial(fixed_net, num_classes), x, y, x_val if has_val else None, y_val if has_val else None,
        seeds=[seed], device=device, **options,
    )  # fmt: skip
    return result.state_dict, result.best_val_acc


def frozen_classifier(state: dict, num_classes: int, device: torch.device) -> nn.Module:
    from dcai.models.fixed import fixed_net

    model = fixed_net(num_classes)
    model.load_state_dict(state)
    model.eval()  # frozen: batch norm uses its moving statistics, the weights never change
    for p in model.parameters():
        p.requires_grad_(False)
    return model.to(device)


def as_rgb(x: torch.Tensor) -> torch.Tensor:
    """``(B, 1, S, S)`` → ``(B, 3, S, S)``: the fixed model reads gray images with the channel repeated."""
    return x.expand(-1, 3, -1, -1)


class GanTrainer:
    """Generator, discriminator and frozen classifier, trained one iteration at a time."""

    def __init__(
        self,
        x_real: np.ndarray,
        y_real: np.ndarray,
        classifier_state: dict,
        *,
        num_classes: int,
        settings: Settings,
        device: str | torch.device = "auto",
    ):
        self.s = settings
        self.device = resolve_device(device)
        self.num_classes = num_classes
        torch.manual_seed(settings.seed)  # the networks' initial weights
        size = int(x_real.shape[-1])
        self.gen = nets.Generator(num_classes, size=size, width=settings.width).to(self.device)
        self.disc = nets.Discriminator(num_classes, size=size, width=settings.width).to(self.device)
        self.classifier = frozen_classifier(classifier_state, num_classes, self.device)
        self.opt_g = torch.optim.Adam(self.gen.parameters(), lr=settings.lr, betas=BETAS)
        self.opt_d = torch.optim.Adam(self.disc.parameters(), lr=settings.lr, betas=BETAS)
        self.x = (
            torch.as_tensor(np.asarray(x_real, dtype=np.float32))
            .view(len(x_real), 1, size, size)
            .to(self.device)
        )
        self.y = torch.as_tensor(np.asarray(y_real), dtype=torch.long, device=self.device)
        self.rng = torch.Generator(self.device).manual_seed(settings.seed + 1)
        self.step = 0
        self.history: list[dict] = []
        self.resumed: list[int] = []  # the steps this training was resumed at, from a checkpoint

    def _disc_labels(self, y: torch.Tensor) -> torch.Tensor:
        # the conditional-discriminator guard: off, the discriminator sees one class for every image
        return y if self.s.conditional_disc else torch.zeros_like(y)

    def train_step(self) -> dict:
        """One discriminator and one generator update on a batch of ``batch_size``; returns the loss terms."""
        b = self.s.batch_size
        idx = torch.randint(len(self.y), (b,), generator=self.rng, device=self.device)
        real, y = self.x[idx], self.y[idx]  # fakes are drawn for the classes of a real batch
        # "a noise vector with the length of 64 that is sampled from a normal distribution with the mean of
        # zero and standard deviation of one" (training; sampling truncates, see dcai.gan.sample)
        z = torch.randn(b, self.gen.noise, generator=self.rng, device=self.device)
        self.gen.train()
        fake = self.gen(z, y)
        dl = self._disc_labels(y)
        loss_d = nets.discriminator_loss(self.disc(real, dl), self.disc(fake.detach(), dl))
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        self.opt_d.step()
        gamma = nets.gamma_at(self.step, gamma=self.s.gamma_max, ramp_steps=self.s.ramp_steps)
        disc_logits = self.disc(fake, dl)
        class_logits = self.classifier(as_rgb(fake))
        loss_g = nets.generator_loss(disc_logits, class_logits, y, gamma=gamma, delta=self.s.delta)
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()
        self.step += 1
        with torch.no_grad():
            out = {
                "step": self.step,
                "gamma": gamma,
                "loss_d": float(loss_d),
                "loss_g": float(loss_g),
                "cce": float(nn.functional.cross_entropy(class_logits, y)),
                "class_acc": float((class_logits.argmax(1) == y).float().mean()),
            }
        if self.step % LOG_EVERY == 0 or self.step == self.s.iterations:
            self.history.append(out)
        return out

    def train(
        self, until: int, *, every: int = 0, on_checkpoint: Callable[[GanTrainer], object] | None = None
    ) -> None:
        """Train to iteration ``until``, calling ``on_checkpoint`` every ``every`` iterations and at the end."""
        while self.step < until:
            self.train_step()
            if on_checkpoint is not None and (self.step == until or (every and self.step % every == 0)):
                on_checkpoint(self)

    def state_dict(self) -> dict:
        """Everything to continue exactly here (CPU tensors, picklable)."""
        cpu = lambda sd: {k: v.detach().cpu().clone() for k, v in sd.items()}  # noqa: E731
        return {
            "step": self.step,
            "settings": self.s.__dict__,
            "num_classes": self.num_classes,
            "size": self.gen.size,
            "generator": cpu(self.gen.state_dict()),
            "discriminator": cpu(self.disc.state_dict()),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "rng": self.rng.get_state(),
            "history": list(self.history),
            "resumed": list(self.resumed),
        }

    def load_state_dict(self, state: dict) -> None:
        # a checkpoint continues under the same settings; only the iterations may grow (train on, as to 200k)
        mine = {k: v for k, v in self.s.__dict__.items() if k != "iterations"}
        theirs = {k: v for k, v in state["settings"].items() if k != "iterations"}
        if theirs != mine:
            raise ValueError(
                f"checkpoint is for settings {state['settings']}, this trainer has {self.s.__dict__}"
            )
        self.gen.load_state_dict(state["generator"])
        self.disc.load_state_dict(state["discriminator"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        self.rng.set_state(state["rng"])
        self.step = int(state["step"])
        self.history = list(state["history"])
        self.resumed = [*state.get("resumed", []), self.step]


def save(state: dict, path: str | os.PathLike) -> Path:
    """Write a checkpoint atomically (a killed save leaves the previous one whole)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)
    return path


def load(path: str | os.PathLike) -> dict:
    return torch.load(path, map_location="cpu", weights_only=False)


def train_local(
    x_real: np.ndarray,
    y_real: np.ndarray,
    classifier_state: dict,
    *,
    num_classes: int,
    settings: Settings,
    checkpoint_dir: str | os.PathLike,
    every: int,
    device: str = "auto",
) -> GanTrainer:
    """Train in this process, resuming from ``checkpoint_dir/gan.pt`` when an earlier attempt left one."""
    trainer = GanTrainer(
        x_real, y_real, classifier_state, num_classes=num_classes, settings=settings, device=device
    )
    path = Path(checkpoint_dir) / CHECKPOINT
    if path.exists():
        trainer.load_state_dict(load(path))
    trainer.train(settings.iterations, every=every, on_checkpoint=lambda t: save(t.state_dict(), path))
    return trainer


def generator_from(state: dict, device: str | torch.device = "cpu") -> nets.Generator:
    """The generator of a checkpoint, in eval mode (batch norm's moving statistics) for sampling."""
    s = state["settings"]
    g = nets.Generator(int(state["num_classes"]), size=int(state["size"]), width=int(s["width"]))
    g.load_state_dict(state["generator"])
    return g.to(resolve_device(device)).eval()
