"""The training engine: K at once equals K alone, folds, Keras Adam, schedules, resume, augmentation, cache."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from dcai.models.fixed import fixed_net
from dcai.train import augment, data
from dcai.train.engine import Trainer, fit, predict
from dcai.train.optim import StackedAdam
from dcai.train.schedule import Orders, buffer_shuffle, lockstep
from tests.helpers import draw_numeral, save_png


def tiny_net(classes: int = 3) -> nn.Module:
    """A few hundred parameters with BatchNorm: the engine's code paths at a fraction of the cost.
    Takes (B, 3, 16, 16)."""
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, stride=2),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.AvgPool2d(7),
        nn.Flatten(),
        nn.Linear(8, classes),
    )


def toy(n: int, size: int = 16, seed: int = 0):
    """Separable classes: the class sets the brightness of a noisy image. ``(n, size, size, 3)`` uint8."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    x = np.clip(rng.normal(60 + 70 * y[:, None, None, None], 40, (n, size, size, 3)), 0, 255).astype(np.uint8)
    return x, y


@pytest.mark.slow
def test_k_at_once_matches_k_alone_fixed_model():
    x, y = toy(40, 32)
    xv, yv = toy(24, 32, seed=1)
    together = fit(lambda: fixed_net(3), x, y, xv, yv, seeds=[0, 1], epochs=2, shuffle="keras")
    for r in together:
        (alone,) = fit(lambda: fixed_net(3), x, y, xv, yv, seeds=[r.seed], epochs=2, shuffle="keras")
        assert [h["val_acc"] for h in r.history] == pytest.approx(
            [h["val_acc"] for h in alone.history], abs=0.05
        )
        assert [h["loss"] for h in r.history] == pytest.approx([h["loss"] for h in alone.history], rel=1e-3)
        assert r.best_epoch == alone.best_epoch


def test_folds_with_unequal_sizes_match_separate_fits():
    x, y = toy(45)
    xv, yv = toy(20, seed=1)
    masks = np.zeros((2, 45), dtype=bool)
    masks[0, :37] = True  # 4 full batches + 5: ends on a partial batch of its own
    masks[1, 20:] = True  # 3 full batches + 1: the steps where only one model is active get masked
    together = fit(tiny_net, x, y, xv, yv, seeds=[3, 4], epochs=3, train_masks=masks, batch_size=8)
    for k, r in enumerate(together):
        rows = np.flatnonzero(masks[k])
        (alone,) = fit(tiny_net, x[rows], y[rows], xv, yv, seeds=[r.seed], epochs=3, batch_size=8)
        for name, t in r.state_dict.items():
            assert torch.allclose(t.float(), alone.state_dict[name].float(), atol=1e-5), name


def test_val_masks_score_each_model_on_its_own_rows():
    x, y = toy(32)
    vm = np.zeros((2, 32), dtype=bool)
    vm[0, :16], vm[1, 16:] = True, True
    trainer = Trainer(tiny_net, x, y, x, y, seeds=[0, 1], val_masks=vm)
    trainer.train_epoch()
    probs = predict(tiny_net, [r.state_dict for r in trainer.results()], x)
    assert probs.shape == (2, 32, 3) and np.allclose(probs.sum(-1), 1, atol=1e-5)
    for k in range(2):
        acc = (probs[k, vm[k]].argmax(-1) == y[vm[k]]).mean()
        assert trainer.history[k][-1]["val_acc"] == pytest.approx(acc)


def test_adam_equals_torch_without_epsilon_and_skips_inactive_models():
    torch.manual_seed(0)
    p = torch.randn(2, 5)
    ref = p[0].clone().requires_grad_()
    torch_adam = torch.optim.Adam([ref], lr=1e-2, eps=0.0)
    ours = StackedAdam([p], lr=1e-2, eps=0.0)  # with eps = 0 Keras' and torch's forms coincide
    for _ in range(5):
        g = torch.randn(5)
        ref.grad = g.clone()
        torch_adam.step()
        ours.step([torch.stack([g, torch.randn(5)])], torch.tensor([1.0, 1.0]))
    assert torch.allclose(p[0], ref.detach(), atol=1e-6)
    q = torch.randn(2, 5)
    frozen = q[1].clone()
    masked = StackedAdam([q], lr=1e-2, eps=1e-7)
    for _ in range(5):
        masked.step([torch.randn(2, 5)], torch.tensor([1.0, 0.0]))
    assert torch.equal(q[1], frozen) and masked.t.tolist() == [5.0, 0.0]


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 200), buffer=st.integers(1, 80), seed=st.integers(0, 10_000))
def test_buffer_shuffle_is_a_local_permutation(n, buffer, seed):
    order = np.arange(n) * 3
    out = buffer_shuffle(order, buffer, np.random.default_rng(seed))
    assert sorted(out.tolist()) == order.tolist()
    position = {v: i for i, v in enumerate(out.tolist())}
    # input element i only enters the buffer after i - buffer outputs: it can never come out earlier
    assert all(position[order[i]] >= i - buffer for i in range(n))


def test_lockstep_keeps_each_models_order():
    orders = Orders([np.arange(20), np.arange(100, 113)], [0, 1], shuffle="full", batch_size=8)
    batches = orders.epoch()
    segments = lockstep(batches)
    seen: list[list[int]] = [[], []]
    for seg in segments:
        for step in seg.idx:
            for k in np.flatnonzero(seg.active):
                seen[k] += step[k].tolist()
    assert seen == [np.concatenate(b).tolist() for b in batches]
    # models of 20 and 13 rows: both full; model 0's second 8 beside model 1's 5; model 0's last 4
    assert [(s.size, s.active.tolist(), len(s.idx)) for s in segments] == [
        (8, [True, True], 1),
        (8, [True, False], 1),
        (5, [False, True], 1),
        (4, [True, False], 1),
    ]


def test_resume_from_state_is_exact():
    x, y = toy(30)
    opts = dict(seeds=[0, 1], shuffle="keras", augment=augment.Heavy())
    a = Trainer(tiny_net, x, y, x, y, **opts)
    a.train_epoch()
    state = a.state_dict()
    a.train_epoch()
    b = Trainer(tiny_net, x, y, x, y, **opts)
    b.load_state_dict(state)
    b.train_epoch()
    for ta, tb in zip(a.stack.tensors(), b.stack.tensors()):
        assert torch.equal(ta, tb)
    assert a.history == b.history


def test_augment_ops_keep_shape_dtype_and_are_seeded():
    x = torch.from_numpy(np.stack([np.repeat(draw_numeral("iv", size=32)[..., None], 3, 2)] * 4)).permute(
        0, 3, 1, 2
    )
    a = augment.heavy(x, torch.Generator().manual_seed(0))
    b = augment.heavy(x, torch.Generator().manual_seed(0))
    assert a.shape == x.shape and a.dtype == torch.uint8 and torch.equal(a, b)
    assert not torch.equal(a, x)
    xf = x.float()
    assert augment.heavy(xf, torch.Generator().manual_seed(0)).dtype == torch.float32
    assert torch.allclose(augment.affine(xf, rotation=0.0, translation=0.0), xf, atol=1e-3)
    assert torch.equal(augment.contrast(x, factor=0.0), x)
    assert torch.equal(augment.spots(x, p=0.0), x) and torch.equal(augment.dashed_lines(x, p=0.0), x)
    black = augment.spots(x, torch.Generator().manual_seed(1), p=1.0, radius=(0.2, 0.3))
    assert (black == 0).sum() > (x == 0).sum()


def test_image_cache_decodes_each_image_once(tmp_path, monkeypatch):
    files = [
        str(save_png(draw_numeral("ii", size=40, seed=i), tmp_path / "img" / f"{i}.png")) for i in range(3)
    ]
    first = data.load_images(files, cache_dir=tmp_path / "cache")
    assert first.shape == (3, 32, 32, 3) and first.dtype == np.float32

    def refuse(*a, **k):
        raise AssertionError("decoded again")

    monkeypatch.setattr(data.inputs, "load", refuse)
    again = data.load_images(files[::-1], cache_dir=tmp_path / "cache")
    assert np.array_equal(again, first[::-1])
    # another resize method is another cache: never served the first method's pixels
    monkeypatch.undo()
    area = data.load_images(files, method="area", cache_dir=tmp_path / "cache")
    assert not np.array_equal(area, first)
    assert sorted(p.name for p in (tmp_path / "cache").glob("*.npz")) == ["rgb32-area-v1.npz", "rgb32-v1.npz"]


@pytest.mark.gpu
def test_cuda_graphs_match_eager():
    x, y = toy(40, 32)
    kw = dict(seeds=[0, 1], epochs=2, device="cuda")
    graphed = fit(lambda: fixed_net(3), x, y, x, y, cuda_graphs=True, **kw)
    eager = fit(lambda: fixed_net(3), x, y, x, y, cuda_graphs=False, **kw)
    for g, e in zip(graphed, eager):
        assert [h["loss"] for h in g.history] == pytest.approx([h["loss"] for h in e.history], rel=1e-3)
