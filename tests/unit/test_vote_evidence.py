"""The vote's evidence checks: members that learnt nothing are set aside; calibration by temperature."""

from __future__ import annotations

import numpy as np

from dcai.vote import evidence


def test_a_member_predicting_one_class_is_set_aside_and_a_far_weaker_one_too():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 10, 500)
    good = np.eye(10)[y] * 0.8 + 0.02  # right everywhere
    one_class = np.tile(np.eye(10)[3], (500, 1))  # AlexNet's collapse: always class 3
    weak = np.eye(10)[np.where(rng.random(500) < 0.6, y, (y + 1) % 10)]  # right 60% of the time
    probs = np.stack([good, one_class, weak])
    acc, kept, why = evidence.usable(probs, y, np.ones(500, bool), names=["a", "b", "c"])
    assert acc[0] == 1.0 and acc[1] < 0.2
    assert kept.tolist() == [True, False, False]
    assert "one class" in why["b"] and "below the best" in why["c"]
    # with no gap rule the 60% member stays
    _, kept, _ = evidence.usable(probs, y, np.ones(500, bool), names=["a", "b", "c"], margin=0.1, max_gap=1.0)
    assert kept.tolist() == [True, False, True]


def test_no_member_kept_gives_unscored_probabilities():
    probs = np.full((2, 4, 3), 1 / 3)
    out = evidence.kept_probs(probs, np.array([False, False]))
    assert out.shape == (1, 4, 3) and np.isnan(out).all()


def test_temperature_undoes_overconfidence_and_calibrated_top_matches_accuracy():
    rng = np.random.default_rng(1)
    n, c = 4000, 5
    y = rng.integers(0, c, n)
    right = rng.random(n) < 0.7  # the model is right 70% of the time ...
    pred = np.where(right, y, (y + rng.integers(1, c, n)) % c)
    p = np.full((n, c), 0.01 / (c - 1))
    p[np.arange(n), pred] = 0.99  # ... yet says 99%
    t = evidence.fit_temperature(p, y, np.ones(n, bool))
    assert t > 1.5
    cal = evidence.calibrate(p, t)
    assert np.allclose(cal.sum(1), 1.0)
    assert abs(cal[np.arange(n), pred].mean() - 0.7) < 0.03
    # an already calibrated model keeps T near 1
    q = np.full((n, c), 0.3 / (c - 1))
    q[np.arange(n), pred] = 0.7
    assert 0.8 < evidence.fit_temperature(q, y, np.ones(n, bool)) < 1.25
