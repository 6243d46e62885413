"""The 2021 Data-Centric AI competition's fixed model, ported from its official Keras script.

``FixedNet`` maps ``(B, 3, 32, 32)`` float RGB pixels in [0, 255] to ``(B, num_classes)`` logits.
Each semantic of the official script, and where it lives here:

- input: RGB (grayscale repeated), 32×32 by bilinear resize without antialias, half-pixel centres,
  float pixels not rounded back to uint8 → :mod:`dcai.models.inputs`;
- ``keras.applications.resnet.preprocess_input`` ("caffe" mode): RGB → BGR, subtract the ImageNet
  means 103.939, 116.779, 123.68 (B, G, R), no scaling → :func:`preprocess`, first step of the forward;
- ``ResNet50(include_top=False, weights=None)`` cut at ``conv2_block3_out``: ZeroPadding 3 + conv1
  7×7/2 + BN + ReLU, ZeroPadding 1 + max-pool 3×3/2, then conv2_block1..3, bottlenecks 64-64-256
  (a projection shortcut in block 1; stage 2 has stride 1). Keras ResNet50 convolutions have biases
  (``use_bias=True``), unlike torchvision's;
- ``GlobalAveragePooling2D`` + ``Dense(num_classes)`` without activation; the script trains with
  ``CategoricalCrossentropy(from_logits=True)``, i.e. softmax cross-entropy on these logits;
- Keras initialisation: Glorot-uniform kernels, zero biases, BN gamma 1 / beta 0, moving mean 0 /
  variance 1; BN epsilon 1.001e-5 and momentum 0.99 (torch's ``momentum`` is ``1 - 0.99``). In
  training BN normalises by the batch statistics; the moving variance is updated with the unbiased
  batch variance, as TF 2's fused kernel did in 2021 (Keras 3 uses the biased one: a factor
  n/(n-1) ≥ 0.998 at batch 8, n = B·H·W);
- :data:`RECIPE`: Adam(lr 1e-4, epsilon 1e-7) with TF's epsilon placement, batch 8 with the last
  partial batch kept, 100 epochs, best-val-accuracy weights kept on strict improvement, and the
  shuffle of ``image_dataset_from_directory`` (file list shuffled once, then a 64-element shuffle
  buffer every epoch) → applied by :func:`dcai.train.engine.fit`;
- the size cap (:func:`check_cap`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from dcai.errors import InputError

INPUT_SIZE = 32
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
BN_EPS = 1.001e-5
BN_MOMENTUM = 1.0 - 0.99  # Keras momentum 0.99 weighs the old moving average; torch's weighs the new batch
MAX_IMAGES = 10_000


@dataclass(frozen=True)
class Recipe:
    """The official training hyper-parameters, in the keyword names of :func:`dcai.train.engine.fit`."""

    epochs: int = 100
    batch_size: int = 8
    lr: float = 1e-4
    eps: float = 1e-7  # Keras Adam's default; added to sqrt(v), before bias correction (see dcai.train.optim)
    betas: tuple[float, float] = (0.9, 0.999)
    shuffle: str = "keras"  # image_dataset_from_directory: shuffle once, then a buffer of 8 * batch_size
    keep_best: bool = True  # ModelCheckpoint(monitor="val_accuracy", mode="max", save_best_only=True)

    def fit_kwargs(self) -> dict:
        return {
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "lr": self.lr,
            "eps": self.eps,
            "betas": self.betas,
            "shuffle": self.shuffle,
            "keep_best": self.keep_best,
        }


RECIPE = Recipe()


class CapError(InputError):
    """More train+val images than the competition allows."""


def official_count(n_train: int, n_val: int, batch_size: int = 8) -> int:
    """The count the official script compares with 10,000: ``(train batches + val batches) * 8``.

    It counts batches, so each split is rounded up to a multiple of the batch size.
    """
    return (math.ceil(n_train / batch_size) + math.ceil(n_val / batch_size)) * batch_size


def check_cap(n_train: int, n_val: int, *, max_images: int = MAX_IMAGES) -> int:
    """Refuse a dataset over the cap the way the official script does; returns the counted size."""
    counted = official_count(n_train, n_val)
    if counted > max_images:
        raise CapError(
            f"{n_train} train + {n_val} val = {n_train + n_val} images (counted as {counted} in whole "
            f"batches of 8, as the official script does) is over the limit of {max_images:,}"
        )
    return counted


def preprocess(x: torch.Tensor, mean_bgr: torch.Tensor) -> torch.Tensor:
    """Keras ``preprocess_input(mode="caffe")`` on ``(B, 3, H, W)`` RGB in [0, 255]: BGR minus the means."""
    return x.flip(1) - mean_bgr.view(1, 3, 1, 1)


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS, momentum=BN_MOMENTUM)


class Bottleneck(nn.Module):
    """Keras ``block1``: 1×1 → 3×3 → 1×1 (×4), each conv followed by BN; projection shortcut optional."""

    def __init__(self, in_channels: int, filters: int, *, stride: int = 1, conv_shortcut: bool = True):
        super().__init__()
        out = 4 * filters
        self.shortcut = (
            nn.Sequential(nn.Conv2d(in_channels, out, 1, stride=stride), _bn(out)) if conv_shortcut else None
        )
        # Keras puts a conv block's stride on the first 1×1 conv (it is 1 in stage 2 anyway).
        self.conv1, self.bn1 = nn.Conv2d(in_channels, filters, 1, stride=stride), _bn(filters)
        self.conv2, self.bn2 = nn.Conv2d(filters, filters, 3, padding=1), _bn(filters)  # "same" at stride 1
        self.conv3, self.bn3 = nn.Conv2d(filters, out, 1), _bn(out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = self.shortcut(x) if self.shortcut is not None else x
        y = F.relu(self.bn1(self.conv1(x)))
        y = F.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return F.relu(shortcut + y)


class FixedNet(nn.Module):
    """ResNet50 cut at ``conv2_block3_out`` + GAP + Dense: ``(B, 3, 32, 32)`` RGB 0..255 → ``(B, C)`` logits.

    Module names follow Keras' layer names (``conv1``, ``conv2_block1`` …) so that weights can be
    copied across by name (see ``tests/tf``).
    """

    mean_bgr: torch.Tensor

    def __init__(self, num_classes: int = 10):
        super().__init__()
        # A buffer, not a Python constant: the forward must not create tensors (CUDA-graph capture).
        self.register_buffer("mean_bgr", torch.tensor(CAFFE_MEAN_BGR), persistent=False)
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2)  # after an explicit ZeroPadding2D(3), as in Keras
        self.conv1_bn = _bn(64)
        self.conv2_block1 = Bottleneck(64, 64, stride=1, conv_shortcut=True)
        self.conv2_block2 = Bottleneck(256, 64, conv_shortcut=False)
        self.conv2_block3 = Bottleneck(256, 64, conv_shortcut=False)
        self.fc = nn.Linear(256, num_classes)
        keras_init_(self)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 3, 32, 32)`` RGB → ``conv2_block3_out``, ``(B, 256, 8, 8)``."""
        x = preprocess(x, self.mean_bgr)
        x = F.relu(self.conv1_bn(self.conv1(F.pad(x, (3, 3, 3, 3)))))
        # Keras pads with zeros before the pool; after ReLU that equals no padding, but say it as Keras does.
        x = F.max_pool2d(F.pad(x, (1, 1, 1, 1)), 3, stride=2)
        return self.conv2_block3(self.conv2_block2(self.conv2_block1(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x).mean(dim=(2, 3)))


def keras_init_(module: nn.Module) -> nn.Module:
    """Keras defaults in place: Glorot-uniform conv / dense kernels, zero biases (BN keeps 1 / 0)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            # fan_in = k·k·in and fan_out = k·k·out, as Keras computes them for a conv kernel
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return module


def fixed_net(num_classes: int = 10) -> FixedNet:
    """The ``model_fn`` to pass to :func:`dcai.train.engine.fit`."""
    return FixedNet(num_classes)
