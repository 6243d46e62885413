"""The paper's GAN networks and losses (dcai/gan/nets.py)."""

from __future__ import annotations

import pytest
import torch

from dcai.gan import nets


def test_gan_shapes_and_paper_layer_counts():
    g, d = nets.Generator(10), nets.Discriminator(10)
    convs = (torch.nn.Conv2d, torch.nn.ConvTranspose2d)
    assert sum(isinstance(m, convs) for m in g.net.modules()) == 8  # "eight convolutional layers"
    assert sum(isinstance(m, torch.nn.Conv2d) for m in d.net.modules()) == 5  # "five convolutional layers"
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in g.net.modules()) == 7  # all but the last
    z = nets.truncated_noise(4, generator=torch.Generator().manual_seed(0))
    assert z.shape == (4, nets.NOISE) and float(z.abs().max()) <= nets.TRUNCATION
    x = g(z, torch.arange(4))
    assert x.shape == (4, 1, 32, 32) and float(x.min()) >= 0.0 and float(x.max()) <= 255.0
    assert d(x, torch.arange(4)).shape == (4,)


def test_generator_loss_signs():
    disc = torch.zeros(6)
    labels = torch.zeros(6, dtype=torch.long)
    right = torch.tensor([[5.0] + [0.0] * 9] * 6)  # the classifier is sure and right
    wrong = torch.tensor([[0.0, 5.0] + [0.0] * 8] * 6)  # sure and wrong
    # γ > 0 rewards images the classifier gets wrong: a lower generator loss for them
    assert nets.generator_loss(disc, wrong, labels, gamma=0.5, delta=1.0) < nets.generator_loss(
        disc, right, labels, gamma=0.5, delta=1.0
    )
    # with γ = 0 only the discriminator term is left
    assert float(nets.generator_loss(disc, wrong, labels, gamma=0.0, delta=1.0)) == pytest.approx(
        float(torch.nn.functional.binary_cross_entropy_with_logits(disc, torch.ones(6)))
    )
    assert nets.gamma_at(0, gamma=0.5, ramp_steps=100) == 0.0
    assert nets.gamma_at(50, gamma=0.5, ramp_steps=100) == 0.25
    assert nets.gamma_at(500, gamma=0.5, ramp_steps=100) == 0.5
