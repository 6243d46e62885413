"""The paper's conditional GAN (seeds/004, section 4): generator, discriminator and the generator's loss.

``Generator``: noise ``(B, 64)`` + class ``(B,)`` → ``(B, 1, S, S)`` grayscale pixels in [0, 255]
(``S`` = the fixed model's input side, 32). ``Discriminator``: ``(B, 1, S, S)`` + class → ``(B,)``
logits (real > 0). Every choice below quotes the sentence of the paper it follows, or says why the
paper is silent and what dcai chose.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

NOISE = 64  # "The generator accepts a noise vector with the length of 64"
TRUNCATION = 0.7  # "a truncated normal distribution with a mean of 0, standard deviation of 1, and a
# truncation threshold of 0.7"
LEAK = 0.2  # "The discriminator ... uses leaky ReLU with alpha = 0.2"


def _conv_bn_relu(cin: int, cout: int, *, up: bool) -> list[nn.Module]:
    # "All layers except the last one are followed by batch normalization and ReLU."
    conv = (
        nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False)
        if up
        else nn.Conv2d(cin, cout, 3, 1, 1, bias=False)
    )
    return [conv, nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class Generator(nn.Module):
    """ "The generator includes eight convolutional layers" (DCGAN-like, conditioned on the class).

    The paper gives the count, not the shapes; dcai's: the noise and a learnt class embedding are
    projected to a ``4 × 4`` map, three stride-2 transposed convolutions double it to ``S``
    (DCGAN's up-sampling), each followed by a 3×3 convolution that refines at that scale: six layers;
    two more 3×3 convolutions at full size, the last one to one channel with ``tanh`` (DCGAN's output)
    mapped to [0, 255]. Eight convolutions in all, BN + ReLU after all but the last.
    """

    def __init__(self, num_classes: int = 10, *, size: int = 32, width: int = 64, noise: int = NOISE):
        super().__init__()
        if size % 8 or size < 8:
            raise ValueError(f"size must be a multiple of 8 (three doublings from size/8), got {size}")
        self.num_classes, self.size, self.noise = num_classes, size, noise
        self.start = size // 8
        w = width
        self.embed = nn.Embedding(num_classes, noise)  # "conditioned on the class labels"
        self.project = nn.Sequential(
            nn.Linear(2 * noise, 4 * w * self.start * self.start, bias=False),
            nn.BatchNorm1d(4 * w * self.start * self.start),
            nn.ReLU(inplace=True),
        )
        layers: list[nn.Module] = []
        chans = [4 * w, 4 * w, 2 * w, w]
        for cin, cout in zip(chans[:-1], chans[1:]):
            layers += _conv_bn_relu(cin, cout, up=True) + _conv_bn_relu(
                cout, cout, up=False
            )  # 2 convs a scale
        layers += _conv_bn_relu(w, w // 2, up=False)  # conv 7
        layers += [nn.Conv2d(w // 2, 1, 3, 1, 1)]  # conv 8: the last, no BN / ReLU
        self.net = nn.Sequential(*layers)
        self.width = w

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        h = self.project(torch.cat([z, self.embed(labels)], 1))
        h = h.view(len(z), 4 * self.width, self.start, self.start)
        return (torch.tanh(self.net(h)) + 1.0) * 127.5  # [0, 255], the pixel range every dcai model reads


class Discriminator(nn.Module):
    """ "The discriminator benefits from five convolutional layers and uses leaky ReLU with alpha = 0.2".

    Conditioned on the class as in a conditional GAN (Mirza & Osindero, the paper's [6]): the class
    enters as a learnt ``S × S`` plane stacked on the image. Four stride-2 4×4 convolutions and a
    last one over the remaining map give the logit; no BN (the paper names none for it).
    """

    def __init__(self, num_classes: int = 10, *, size: int = 32, width: int = 64):
        super().__init__()
        if size % 16 or size < 16:
            raise ValueError(f"size must be a multiple of 16 (four halvings), got {size}")
        self.size = size
        self.embed = nn.Embedding(num_classes, size * size)
        w = width
        chans = [2, w, 2 * w, 4 * w, 8 * w]
        layers: list[nn.Module] = []
        for cin, cout in zip(chans[:-1], chans[1:]):
            layers += [nn.Conv2d(cin, cout, 4, 2, 1), nn.LeakyReLU(LEAK, inplace=True)]
        layers += [nn.Conv2d(8 * w, 1, size // 16)]  # conv 5: the whole (size/16)² map to one logit
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        plane = self.embed(labels).view(len(x), 1, self.size, self.size)
        return self.net(torch.cat([x * (2.0 / 255.0) - 1.0, plane], 1)).flatten()


def truncated_noise(
    n: int, *, noise: int = NOISE, threshold: float = TRUNCATION, generator=None, device=None
):
    """``(n, noise)`` draws of N(0, 1) kept within ``±threshold`` (redrawn, not clipped)."""
    z = torch.empty(n, noise, device=device)
    return nn.init.trunc_normal_(z, 0.0, 1.0, -threshold, threshold, generator=generator)


def generator_loss(
    disc_logits: torch.Tensor, class_logits: torch.Tensor, labels: torch.Tensor, *, gamma: float, delta: float
) -> torch.Tensor:
    """ "Gen Loss = δ × BCE(g_disc, y_disc) − γ × CCE(g_class, y_class)".

    ``disc_logits`` ``(B,)`` of the generated batch (the generator wants them called real);
    ``class_logits`` ``(B, C)`` of the frozen classifier on the same batch, ``labels`` ``(B,)`` the
    classes they were generated for. A positive ``gamma`` rewards the generator when the classifier's
    cross-entropy on its images rises: images the classifier gets wrong.
    """
    bce = F.binary_cross_entropy_with_logits(disc_logits, torch.ones_like(disc_logits))
    cce = F.cross_entropy(class_logits, labels)
    return delta * bce - gamma * cce


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """DCGAN's: BCE of real images against 1 plus generated ones against 0."""
    return F.binary_cross_entropy_with_logits(
        real_logits, torch.ones_like(real_logits)
    ) + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))


def gamma_at(step: int, *, gamma: float, ramp_steps: int) -> float:
    """ "linearly increase γ up to 0.5": 0 at step 0, ``gamma`` from ``ramp_steps`` on."""
    if ramp_steps <= 0:
        return gamma
    return gamma * min(1.0, step / ramp_steps)
