"""Cross-fitting never scores an image with a model that saw it; the round bookkeeping of the loop."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dcai.investigate import rounds
from dcai.investigate.config import InvestigateConfig
from dcai.investigate.loop import JUNK, run_loop
from dcai.train import crossfit
from dcai.train.oof import cross_fit


def _spies():
    """A fit that remembers each model's rows, and a predict whose class 0 means "I trained on this row"."""

    def fit(model_fn, x, y, *, seeds, train_masks, **_):
        return [
            SimpleNamespace(seed=s, state_dict={"rows": m.copy()}, history=[{"acc": 1.0}])
            for s, m in zip(seeds, train_masks)
        ]

    def predict(model_fn, states, x, **_):
        seen = np.stack([s["rows"] for s in states])  # (K, N)
        return np.stack([seen, ~seen], axis=-1).astype(float)  # (K, N, 2)

    return fit, predict


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(2, 60),
    k=st.integers(2, 6),
    seed=st.integers(0, 10_000),
    data=st.data(),
)
def test_no_row_is_scored_by_a_model_that_trained_on_it(n, k, seed, data):
    labels = np.array(data.draw(st.lists(st.integers(0, 3), min_size=n, max_size=n)))
    groups = np.array(
        data.draw(st.lists(st.sampled_from([None, "a", "b", "c"]), min_size=n, max_size=n)), object
    )
    trainable = np.array(data.draw(st.lists(st.booleans(), min_size=n, max_size=n)))
    if trainable.sum() < k:  # every fold model needs a row to train on
        trainable[:] = True
    cf = crossfit.plan(n, k, seed=seed, labels=labels, groups=groups, trainable=trainable)
    if not cf.masks.any(axis=1).all():
        return  # fewer units (groups) than folds: some model has nothing to train on
    cf.check()
    fit, predict = _spies()
    oof, _ = cross_fit(
        lambda: None,
        np.zeros((n, 1, 1, 1)),
        labels,
        cf,
        fit=fit,
        predict=predict,
        epochs=1,
        batch_size=1,
        lr=1.0,
    )
    assert np.all(oof[:, 0] == 0.0), "some row was scored by a model that saw it"
    # a duplicate group never straddles folds
    for g in ("a", "b", "c"):
        folds = set(cf.folds[(groups == g) & trainable].tolist())
        assert len(folds) <= 1


def test_folds_are_stratified_and_untrainable_rows_get_the_mean_of_all_models():
    labels = np.repeat(np.arange(4), 25)
    trainable = np.ones(100, bool)
    trainable[::10] = False
    cf = crossfit.plan(100, 5, labels=labels, trainable=trainable, seed=3)
    for c in range(4):
        counts = np.bincount(cf.folds[(labels == c) & trainable], minlength=5)
        assert counts.max() - counts.min() <= 1
    assert (cf.folds[~trainable] == crossfit.UNTRAINED).all()
    probs = np.random.default_rng(0).random((5, 100, 3))
    oof = crossfit.out_of_fold(probs, cf)
    np.testing.assert_allclose(oof[~trainable], probs[:, ~trainable].mean(0))
    i = int(np.flatnonzero(trainable)[0])
    np.testing.assert_allclose(oof[i], probs[cf.folds[i], i])


def test_check_catches_a_leaky_plan():
    cf = crossfit.plan(10, 2, seed=0)
    leaky = crossfit.CrossFit(cf.folds, np.ones_like(cf.masks))
    with pytest.raises(AssertionError):
        leaky.check()


def test_select_takes_lowest_and_highest_disjoint_and_skips_nan():
    loss = np.array([0.1, 5.0, np.nan, 0.2, 3.0, 0.05])
    low, high = rounds.select(loss, np.array([1, 1, 1, 1, 1, 0], bool), k=2, l=1)
    assert low.tolist() == [0, 3] and high.tolist() == [1]
    low, high = rounds.select(loss, np.ones(6, bool), k=10, l=10)
    assert set(low) | set(high) == {0, 1, 3, 4, 5} and not set(low) & set(high)


def _probs_favouring(labels: np.ndarray, c: int, conf: float = 0.9) -> np.ndarray:
    p = np.full((len(labels), c), (1 - conf) / (c - 1))
    p[np.arange(len(labels)), labels] = conf
    return p


def test_loop_certifies_queues_reviews_and_trains_on_the_trusted_set_later():
    rng = np.random.default_rng(0)
    true = rng.integers(0, 3, 60)
    given = true.copy()
    given[:6] = (true[:6] + 1) % 3  # six mislabels
    truth = true.copy()
    truth[6] = JUNK
    trusted = np.zeros(60, bool)
    trusted[50:] = True
    seen_train = []

    def score(cf, labels):
        cf.check()
        seen_train.append(cf.masks.any(0).copy())
        return _probs_favouring(true, 3), {"train_acc": [1.0], "epoch_seconds": 0.01}

    def reviewer(queued, suggested):
        return {int(i): ("remove", None) if truth[i] == JUNK else ("relabel", int(true[i])) for i in queued}

    cfg = InvestigateConfig(rounds=3, certify_per_round=10, review_per_round=8, min_trusted=25, folds=2)
    res = run_loop(
        given, trusted=trusted, active=np.ones(60, bool), score=score, cfg=cfg, reviewer=reviewer, truth=truth
    )
    st_ = res.state
    assert len(res.table) == 3
    assert res.table[0]["trained_on"] == "all" and res.table[-1]["trained_on"] == "trusted"
    assert seen_train[0].sum() == 60 and seen_train[-1].sum() < 60
    assert (st_.labels[:6] == true[:6]).all()  # every mislabel was queued first and relabelled
    assert st_.status[6] == rounds.REMOVED or st_.labels[6] == given[6]
    assert (st_.status[50:] == rounds.TRUSTED).all()
    assert res.table[0]["suggestion_accuracy"] == 1.0
    assert res.table[0]["validated_share"] == pytest.approx(18 / 50)


def test_loop_without_reviewer_leaves_queued_rows_out_of_training():
    labels = np.zeros(20, np.int64)
    calls = []

    def score(cf, lab):
        calls.append(cf.masks.any(0).copy())
        p = np.tile([0.8, 0.2], (20, 1))
        p[:3] = [0.1, 0.9]
        return p, {}

    cfg = InvestigateConfig(rounds=2, certify_per_round=5, review_per_round=3, min_trusted=100, folds=2)
    res = run_loop(labels, trusted=np.zeros(20, bool), active=np.ones(20, bool), score=score, cfg=cfg)
    first = (res.state.status == rounds.QUEUED) & (res.state.round_of == 1)
    assert set(np.flatnonzero(first).tolist()) == {0, 1, 2}
    assert not calls[1][:3].any()


def test_with_the_real_engine_memorised_rows_are_only_scored_out_of_fold(request):
    """LeNet memorises random labels: in-sample accuracy 1, so chance-level scores prove out-of-fold."""
    import torch

    from dcai.train.oof import fit_predict, make_model_fn

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny net: more threads only contend (20x slower on a busy 2-core box)
    request.addfinalizer(lambda: torch.set_num_threads(threads))
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (48, 32, 32, 3), dtype=np.uint8)
    y = rng.integers(0, 4, 48)
    cf = crossfit.plan(48, 2, seed=0, labels=y)
    probs, info = fit_predict(
        make_model_fn("lenet5", 4),
        x,
        y,
        cf.masks,
        seeds=[0, 1],
        epochs=40,
        batch_size=8,
        lr=3e-3,
        device="cpu",
    )
    pred = probs.argmax(-1)
    for k in range(2):
        assert (pred[k][cf.masks[k]] == y[cf.masks[k]]).mean() == 1.0  # it saw these: memorised
    oof_acc = (crossfit.out_of_fold(probs, cf).argmax(1) == y).mean()
    assert oof_acc < 0.6  # random labels cannot be predicted by a model that never saw them


def test_held_out_rows_are_scored_but_never_trained_on_or_decided():
    labels = np.zeros(30, np.int64)
    holdout = np.zeros(30, bool)
    holdout[:5] = True
    trained = []

    def score(cf, lab):
        cf.check()
        trained.append(cf.masks.any(0).copy())
        assert (cf.folds[:5] == crossfit.UNTRAINED).all()
        return np.tile([0.6, 0.4], (30, 1)), {}

    cfg = InvestigateConfig(rounds=3, certify_per_round=4, review_per_round=2, min_trusted=1000, folds=2)
    res = run_loop(
        labels, trusted=np.zeros(30, bool), active=np.ones(30, bool), holdout=holdout, score=score, cfg=cfg
    )
    assert not any(t[:5].any() for t in trained)
    assert (res.state.status[:5] == rounds.HELDOUT).all() and not np.isnan(res.probs[:5]).any()
