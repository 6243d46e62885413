"""The five vote architectures: shapes for small and larger inputs, width multiplier, factory errors."""

from __future__ import annotations

import pickle

import pytest
import torch

from dcai.models.vote import VOTE_MEMBERS, model_fn, vote_model


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny nets: extra threads only contend on a busy CPU."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("name", VOTE_MEMBERS)
def test_member_maps_pixels_to_logits_and_learns(name):
    torch.manual_seed(0)
    m = vote_model(name, 7, width=0.125)
    x = torch.rand(4, 3, 32, 32) * 255
    y = m(x)
    assert y.shape == (4, 7) and torch.isfinite(y).all()
    y.sum().backward()
    assert all(p.grad is not None for p in m.parameters() if p.requires_grad)
    m.eval()
    assert m(torch.rand(2, 3, 48, 40) * 255).shape == (2, 7)  # nothing assumes 32×32


def test_width_scales_parameters():
    small = sum(p.numel() for p in vote_model("vgg16", 10, width=0.25).parameters())
    full = sum(p.numel() for p in vote_model("vgg16", 10).parameters())
    assert small * 8 < full


def test_factory_is_picklable_and_refuses_unknown_names():
    build = pickle.loads(pickle.dumps(model_fn("lenet5", 3, width=0.5)))
    assert build()(torch.zeros(1, 3, 32, 32)).shape == (1, 3)
    with pytest.raises(ValueError, match="resnet34"):
        vote_model("resnet18")
