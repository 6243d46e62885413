"""The fixed model's semantics against references derived by hand: resize, preprocessing, layout, cap,
best-epoch rule."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from dcai.models import inputs
from dcai.models.fixed import BN_EPS, CapError, FixedNet, check_cap, official_count, preprocess
from dcai.train.engine import Trainer


def _resize_1d(row: list[float], out: int) -> np.ndarray:
    x = torch.tensor(row, dtype=torch.float32).view(1, 1, 1, -1)
    return inputs.resize_batch(x, (1, out)).view(-1).numpy()


def test_resize_half_pixel_centres_by_hand():
    # 4 -> 2: output i samples (i + 0.5) * 2 - 0.5 = 0.5, 2.5: the mean of each pair, no wider window
    assert np.allclose(_resize_1d([0, 10, 20, 100], 2), [5, 60])
    # 3 -> 2: samples at 0.25 and 1.75
    assert np.allclose(_resize_1d([0, 40, 80], 2), [0.75 * 0 + 0.25 * 40, 0.25 * 40 + 0.75 * 80])
    # 2 -> 4: samples at -0.25 (clamped to 0), 0.25, 0.75, 1.25 (upper neighbour clamped)
    assert np.allclose(_resize_1d([0, 100], 4), [0, 25, 75, 100])
    # 8 -> 2 without antialias: samples at 1.5 and 5.5 read only pixels 1, 2 and 5, 6
    assert np.allclose(_resize_1d([1000, 10, 30, 1000, 1000, 50, 70, 1000], 2), [20, 60])


def test_area_resize_averages_every_pixel():
    # 8 -> 2 by area: each output is the mean of its 4 inputs, so the ink the aliased resize skips counts
    row = [1000, 10, 30, 1000, 1000, 50, 70, 1000]
    x = torch.tensor(row, dtype=torch.float32).view(1, 1, 1, -1)
    assert np.allclose(inputs.resize_batch(x, (1, 2), "area").view(-1).numpy(), [510, 530])
    # a 1 px dark stroke on a 64 px white canvas: the aliased resize to 8 px misses it, the area one keeps it
    img = np.full((64, 64), 255, np.uint8)
    img[:, 13] = 0
    assert inputs.resize(img, 8).min() == 255
    assert inputs.resize(img, 8, "area").min() == pytest.approx(255 * 7 / 8)
    # smaller than the target: scaled up (bilinear, antialias has nothing to average), same shape
    assert inputs.resize(img[:4, :4], 8, "area").shape == (8, 8, 3)
    with pytest.raises(ValueError, match="resize method"):
        inputs.resize(img, 8, "nearest")


def test_resize_two_dimensional_and_gray_to_rgb():
    img = np.array([[0, 64], [255, 128]], dtype=np.uint8)  # (H, W) grayscale
    out = inputs.resize(img, 4)
    assert out.shape == (4, 4, 3) and out.dtype == np.float32
    assert np.array_equal(out[..., 0], out[..., 2])  # gray repeated to three channels
    # pixel (1, 1) samples (0.25, 0.25): bilinear of the 2x2 corners, fractions kept (not rounded)
    expect = 0.75 * 0.75 * 0 + 0.75 * 0.25 * 64 + 0.25 * 0.75 * 255 + 0.25 * 0.25 * 128
    assert out[1, 1, 0] == pytest.approx(expect)
    assert out[1, 1, 0] != round(expect)


def test_preprocess_is_caffe():
    x = torch.tensor([10.0, 20.0, 30.0]).view(1, 3, 1, 1)  # R, G, B
    y = preprocess(x, torch.tensor([103.939, 116.779, 123.68])).view(-1)
    assert torch.allclose(y, torch.tensor([30 - 103.939, 20 - 116.779, 10 - 123.68]))


def test_layout_and_keras_initialisation():
    torch.manual_seed(0)
    m = FixedNet(10)
    assert sum(p.numel() for p in m.parameters()) == 229_386  # "about 0.23 M parameters"
    assert m(torch.rand(2, 3, 32, 32) * 255).shape == (2, 10)
    assert m.features(torch.rand(1, 3, 32, 32)).shape == (1, 256, 8, 8)
    for mod in m.modules():
        if isinstance(mod, torch.nn.Conv2d):
            assert mod.bias is not None and torch.all(mod.bias == 0)  # Keras ResNet50 convs have biases
            fan_in = mod.in_channels * mod.kernel_size[0] * mod.kernel_size[1]
            fan_out = mod.out_channels * mod.kernel_size[0] * mod.kernel_size[1]
            assert mod.weight.abs().max() <= math.sqrt(6 / (fan_in + fan_out))  # Glorot uniform
        if isinstance(mod, torch.nn.BatchNorm2d):
            assert mod.eps == BN_EPS and mod.momentum == pytest.approx(0.01)
    assert m.conv2_block1.conv1.stride == (1, 1) and m.conv2_block1.shortcut is not None
    assert m.conv2_block2.shortcut is None


def test_cap_counts_whole_batches_and_names_the_count():
    assert official_count(8000, 2000) == 10_000
    assert check_cap(8000, 2000) == 10_000
    with pytest.raises(CapError, match=r"9993 train \+ 1 val = 9994 images.*10008"):
        check_cap(9993, 1)  # 1,250 + 1 batches of 8: over, though 9,994 < 10,000
    with pytest.raises(CapError, match="10001"):
        check_cap(9001, 1000)


@pytest.mark.slow
def test_best_epoch_is_the_first_strictly_best():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (16, 32, 32, 3), dtype=np.uint8)
    y = rng.integers(0, 3, 16)
    trainer = Trainer(lambda: FixedNet(3), x, y, x[:8], y[:8], seeds=[0])
    script = iter([0.5, 0.7, 0.7, 0.6, 0.8, 0.8, 0.2])
    trainer.evaluate = lambda *a: (np.array([next(script)]), np.array([1.0]))
    weights = {}
    for _ in range(7):
        trainer.train_epoch()
        weights[trainer.epoch] = trainer.stack.state_dict(0)
    (result,) = trainer.results()
    assert result.best_epoch == 5 and result.best_val_acc == 0.8
    for name, t in result.state_dict.items():
        assert torch.equal(t, weights[5][name])
    assert not torch.equal(weights[5]["fc.weight"], weights[7]["fc.weight"])
