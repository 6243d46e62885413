"""The five vote architectures (ResNet34, AlexNet, LeNet5, AllConvNet, VGG-16) adapted to small inputs.

Each maps ``(B, 3, H, W)`` float RGB pixels in [0, 255] (the fixed model's input, so one engine feeds
every model) to ``(B, num_classes)`` logits; ``H, W >= 32``. ``width`` scales every channel count, so a
test can train all five on a CPU in seconds (``width=0.125``) with the same topology. No dropout: the
engine trains K copies under ``torch.func.vmap``, which refuses random ops; augmentation regularises.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import torch
from torch import nn

VOTE_MEMBERS = ("resnet34", "alexnet", "lenet5", "allconv", "vgg16")


def _ch(channels: int, width: float) -> int:
    return max(4, int(round(channels * width)))


class _Scale(nn.Module):
    """[0, 255] → [-1, 1]: these nets are trained from scratch and have no caffe-mean convention."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * (2.0 / 255.0) - 1.0


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.short = (
            nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))
            if stride != 1 or cin != cout
            else nn.Identity()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(y)) + self.short(x))


class ResNet34(nn.Module):
    """He et al. 2016, blocks (3, 4, 6, 3); CIFAR stem (one 3×3 conv, no max-pool) for 32×32 inputs."""

    def __init__(self, num_classes: int = 10, *, width: float = 1.0):
        super().__init__()
        chans = [_ch(c, width) for c in (64, 128, 256, 512)]
        layers: list[nn.Module] = [
            _Scale(),
            nn.Conv2d(3, chans[0], 3, padding=1, bias=False),
            nn.BatchNorm2d(chans[0]),
            nn.ReLU(inplace=True),
        ]
        cin = chans[0]
        for i, (cout, blocks) in enumerate(zip(chans, (3, 4, 6, 3))):
            for b in range(blocks):
                layers.append(BasicBlock(cin, cout, stride=2 if (b == 0 and i > 0) else 1))
                cin = cout
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x))


class AlexNet(nn.Module):
    """Krizhevsky et al. 2012 in its CIFAR form: five convs (5×5, 5×5, 3×3 ×3), three pools, two FC.

    BatchNorm after each convolution (not in the 2012 paper, which had local response normalisation):
    without it, trained from scratch at the vote's Adam 1e-3, AlexNet ended predicting one class on
    most seeds, at full width on a GPU (out-of-fold 12.7%, BENCHMARKS "gpu") as at 0.25 on a CPU
    (BENCHMARKS "member-inputs"), and a lower rate left it far below the other members.
    """

    def __init__(self, num_classes: int = 10, *, width: float = 1.0):
        super().__init__()
        c = [_ch(n, width) for n in (64, 192, 384, 256, 256)]
        fc = _ch(1024, width)  # 4096 in ImageNet AlexNet; 1024 is plenty for 4×4 maps of 32×32 inputs

        def conv(cin: int, cout: int, k: int) -> list[nn.Module]:
            return [nn.Conv2d(cin, cout, k, padding=k // 2), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]

        self.features = nn.Sequential(
            _Scale(),
            *conv(3, c[0], 5),
            nn.MaxPool2d(2),
            *conv(c[0], c[1], 5),
            nn.MaxPool2d(2),
            *conv(c[1], c[2], 3),
            *conv(c[2], c[3], 3),
            *conv(c[3], c[4], 3),
            nn.MaxPool2d(2),
            nn.AdaptiveAvgPool2d(4),  # 4×4 for 32×32 input; keeps larger inputs working
            nn.Flatten(),
        )
        self.classifier = nn.Sequential(
            nn.Linear(c[4] * 16, fc),
            nn.ReLU(inplace=True),
            nn.Linear(fc, fc),
            nn.ReLU(inplace=True),
            nn.Linear(fc, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class LeNet5(nn.Module):
    """LeCun et al. 1998 on 32×32: conv 5×5 (6) → pool → conv 5×5 (16) → pool → 120 → 84 → classes."""

    def __init__(self, num_classes: int = 10, *, width: float = 1.0):
        super().__init__()
        # LeNet is already tiny; the multiplier only ever widens it (width < 1 keeps the original).
        k = max(1.0, width)
        c1, c2, f1, f2 = (max(1, int(round(n * k))) for n in (6, 16, 120, 84))
        self.features = nn.Sequential(
            _Scale(),
            nn.Conv2d(3, c1, 5),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(c1, c2, 5),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.AdaptiveAvgPool2d(5),  # 5×5 for 32×32 input, as in the original
            nn.Flatten(),
        )
        self.classifier = nn.Sequential(
            nn.Linear(c2 * 25, f1), nn.ReLU(inplace=True), nn.Linear(f1, f2), nn.ReLU(inplace=True)
        )
        self.fc = nn.Linear(f2, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.classifier(self.features(x)))


class AllConvNet(nn.Module):
    """Springenberg et al. 2015, All-CNN-C: no pooling (strided 3×3 convs), 1×1 class maps, global mean."""

    def __init__(self, num_classes: int = 10, *, width: float = 1.0):
        super().__init__()
        a, b = _ch(96, width), _ch(192, width)

        def conv(cin: int, cout: int, k: int, stride: int = 1) -> list[nn.Module]:
            # BN is not in the paper; without it All-CNN needs a finely tuned lr to start learning at all.
            return [
                nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2),
                nn.BatchNorm2d(cout),
                nn.ReLU(True),
            ]

        self.net = nn.Sequential(
            _Scale(),
            *conv(3, a, 3),
            *conv(a, a, 3),
            *conv(a, a, 3, 2),
            *conv(a, b, 3),
            *conv(b, b, 3),
            *conv(b, b, 3, 2),
            *conv(b, b, 3),
            *conv(b, b, 1),
            nn.Conv2d(b, num_classes, 1),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


_VGG16 = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")


class VGG16(nn.Module):
    """Simonyan & Zisserman 2015, configuration D with BN; five pools take 32×32 to 1×1, one FC head."""

    def __init__(self, num_classes: int = 10, *, width: float = 1.0):
        super().__init__()
        layers: list[nn.Module] = [_Scale()]
        cin = 3
        for v in _VGG16:
            if v == "M":
                layers.append(nn.MaxPool2d(2))
            else:
                cout = _ch(int(v), width)
                layers += [nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
                cin = cout
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x))


_REGISTRY: dict[str, type[nn.Module]] = {
    "resnet34": ResNet34,
    "alexnet": AlexNet,
    "lenet5": LeNet5,
    "allconv": AllConvNet,
    "vgg16": VGG16,
}


def vote_model(name: str, num_classes: int = 10, *, width: float = 1.0) -> nn.Module:
    """One vote member by name (one of :data:`VOTE_MEMBERS`)."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown vote member {name!r}; choose from {list(VOTE_MEMBERS)}")
    if width <= 0:
        raise ValueError(f"width must be positive, got {width}")
    return _REGISTRY[name](num_classes, width=width)


def model_fn(name: str, num_classes: int = 10, *, width: float = 1.0) -> Callable[[], nn.Module]:
    """A picklable zero-argument factory, the ``model_fn`` :func:`dcai.train.engine.fit` takes."""
    vote_model(name, num_classes, width=width)  # fail on a bad name now, not inside a remote trial
    return partial(vote_model, name, num_classes, width=width)
