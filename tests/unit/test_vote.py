"""Vote scores and flags on hand-made member probabilities; trial fan-out plan; detection metrics."""

from __future__ import annotations

import numpy as np
import pytest

from dcai.config import ConfigError
from dcai.vote import scores as vs
from dcai.vote.config import VoteConfig
from dcai.vote.vote import trials

FLAGS = {
    "noisy_min_margin": 0.1,
    "noisy_max_agreement": 0.4,
    "ambiguous_max_top_prob": 0.5,
    "ambiguous_min_entropy": 0.6,
}


def _members(*rows_per_member):
    """``(M, N, C)`` from per-member lists of probability rows."""
    return np.array(rows_per_member, dtype=float)


def test_scores_of_a_confident_agreeing_ensemble_a_mislabel_and_a_confused_image():
    labels = np.array([0, 0, 1])
    probs = _members(
        [[0.9, 0.05, 0.05], [0.1, 0.85, 0.05], [0.34, 0.33, 0.33]],
        [[0.8, 0.1, 0.1], [0.05, 0.9, 0.05], [0.3, 0.4, 0.3]],
        [[0.95, 0.03, 0.02], [0.2, 0.7, 0.1], [0.33, 0.33, 0.34]],
    )
    s = vs.vote_scores(probs, labels)
    assert s["top"].tolist() == [0, 1, 1]
    assert s["agreement"][0] == 1.0 and s["agreement"][1] == 0.0
    assert s["given_prob"][1] == pytest.approx((0.1 + 0.05 + 0.2) / 3)
    assert s["entropy"][0] < 0.5 < s["entropy"][2] <= 1.0
    noisy, ambiguous = vs.flags(s, labels, **FLAGS)
    assert noisy.tolist() == [False, True, False]
    assert ambiguous.tolist() == [False, False, True]


def test_unscored_rows_get_nan_scores_and_no_flags():
    probs = np.full((2, 2, 3), np.nan)
    probs[:, 0] = [0.1, 0.8, 0.1]
    s = vs.vote_scores(probs, np.array([0, 0]))
    assert not s["scored"][1] and np.isnan(s["top_prob"][1]) and s["top"][1] == -1
    noisy, ambiguous = vs.flags(s, np.array([0, 0]), **FLAGS)
    assert noisy.tolist() == [True, False] and ambiguous.tolist() == [False, False]


def test_detection_metrics():
    d = vs.detection(np.array([1, 1, 0, 0, 1], bool), np.array([1, 0, 1, 0, 1], bool))
    assert d["precision"] == pytest.approx(2 / 3) and d["recall"] == pytest.approx(2 / 3)
    assert d["f1"] == pytest.approx(2 / 3)
    assert vs.detection(np.zeros(3, bool), np.zeros(3, bool))["f1"] == 0.0


def test_trials_cover_every_member_and_fold_once():
    cfg = VoteConfig(members=("lenet5", "vgg16"), folds=5, folds_per_trial=2)
    t = trials(cfg)
    assert len(t) == 6
    for m in cfg.members:
        assert sorted(f for x in t if x["member"] == m for f in x["folds"]) == list(range(5))
    assert len(trials(VoteConfig(folds=5))) == 5  # default: all folds of a member in one trial


def test_config_names_what_is_allowed():
    with pytest.raises(ConfigError, match="members must be from"):
        VoteConfig(members=("resnet18",))
    with pytest.raises(ConfigError, match="folds_per_trial"):
        VoteConfig(folds=3, folds_per_trial=4)
    with pytest.raises(ConfigError, match=r"resize must be one of \['tf', 'area'\]"):
        VoteConfig(resize="nearest")


def test_changing_only_flag_thresholds_reuses_the_trained_probabilities(tmp_path):
    import json

    from dcai.vote.vote import reuse, train_key

    ids, y = np.array(["a", "b"]), np.array([0, 1])
    one = VoteConfig(rounds=1)
    key = train_key(one, ids, y)
    assert key == train_key(one.replace(noisy_min_margin=0.8, ambiguous_min_entropy=0.9), ids, y)
    assert key != train_key(one.replace(epochs=3), ids, y) != train_key(one, ids, np.array([1, 1]))
    probs = np.full((5, 2, 2), 0.5)
    np.savez(
        tmp_path / "probs.npz", probs=probs, key=np.asarray(key), info=np.asarray(json.dumps([{"m": 1}]))
    )
    got, info, per_round = reuse(tmp_path, key)
    assert len(got) == 1 and np.array_equal(got[0], probs) and info == [{"m": 1}] and per_round == []
    assert reuse(tmp_path, "other")[0] is None and reuse(None, key)[0] is None


def test_with_several_rounds_the_noisy_thresholds_choose_training_rows_so_they_are_in_the_key():
    from dcai.vote.vote import train_key

    ids, y = np.array(["a", "b"]), np.array([0, 1])
    two = VoteConfig(rounds=2)
    assert train_key(two, ids, y) != train_key(two.replace(noisy_min_margin=0.3), ids, y)
    assert train_key(two, ids, y) != train_key(VoteConfig(rounds=1), ids, y)
    assert train_key(two, ids, y) != train_key(two.replace(round_flagged="relabel"), ids, y)
    with pytest.raises(ConfigError, match="round_flagged"):
        VoteConfig(round_flagged="keep")
    with pytest.raises(ConfigError, match="rounds"):
        VoteConfig(rounds=0)
    assert train_key(two, ids, y) != train_key(two.replace(rounds_scored="last"), ids, y)
    one = VoteConfig(rounds=1)  # one round: which rounds are scored cannot change what trains
    assert train_key(one, ids, y) == train_key(one.replace(rounds_scored="last"), ids, y)
    with pytest.raises(ConfigError, match="rounds_scored"):
        VoteConfig(rounds_scored="first")


def test_the_flags_read_every_round_averaged_or_the_last_round():
    from dcai.train import crossfit
    from dcai.vote.rounds import run_rounds

    given = np.array([0, 0, 0, 0])
    # row 0: both rounds call it class 1 (noisy); row 1: only round 2 does, and the average stays with 0
    first = np.array([[[0.1, 0.9], [0.9, 0.1], [0.9, 0.1], [0.9, 0.1]]])
    second = np.array([[[0.1, 0.9], [0.3, 0.7], [0.9, 0.1], [0.9, 0.1]]])
    cfg_all = VoteConfig(rounds=2, weak_members="keep")  # one given class: any model looks weak beside it
    assert np.allclose(cfg_all.scored([first, second]), (first + second) / 2)
    assert np.array_equal(cfg_all.replace(rounds_scored="last").scored([first, second]), second)
    cf = crossfit.plan(4, 2, seed=0, labels=given)
    for how, noisy_last in (("all", 1), ("last", 2)):
        answers = iter([first, second])

        def fit(plan, y, answers=answers):
            return next(answers), []

        _, summary, _ = run_rounds(fit, given, cf, cfg_all.replace(rounds_scored=how))
        assert [x["noisy"] for x in summary] == [1, noisy_last]


def _planted_noise(rng, n, c):
    """True labels of ``n`` rows in ``c`` classes, the given ones (20 % moved to the next class), the moved."""
    true = rng.integers(0, c, n)
    given = true.copy()
    flip = rng.random(n) < 0.2
    given[flip] = (true[flip] + 1) % c
    return true, given, flip


def _memorizer(true, classes, calls):
    """A fake fan-out whose fold model k returns the label it trained on for its training rows (it memorised
    them) and the true label elsewhere: a row scored by a model that trained on it looks clean."""
    from dcai.train import crossfit

    def fit(plan, y_train):
        calls.append((plan.masks.copy(), y_train.copy()))
        k, n = plan.masks.shape
        raw = np.full((k, n, classes), 0.02)
        for f in range(k):
            seen = plan.masks[f]
            raw[f, seen, y_train[seen]] = 0.96
            raw[f, ~seen, true[~seen]] = 0.96
        oof = crossfit.out_of_fold(raw, plan)
        return np.stack([oof, oof]), [{"member": "a"}, {"member": "b"}]

    return fit


@pytest.mark.parametrize("flagged", ["drop", "relabel"])
def test_round_two_trains_without_round_one_noisy_rows_and_still_scores_every_row_out_of_fold(flagged):
    from dcai.train import crossfit
    from dcai.vote.rounds import run_rounds

    n, c = 90, 3
    true, given, flip = _planted_noise(np.random.default_rng(3), n, c)
    trusted = np.zeros(n, bool)
    trusted[np.flatnonzero(flip)[:2]] = True  # trusted rows train with their given label, flagged or not
    cf = crossfit.plan(n, 3, seed=0, labels=given)
    calls: list = []
    cfg = VoteConfig(rounds=2, round_flagged=flagged)
    by_round, summary, infos = run_rounds(_memorizer(true, c, calls), given, cf, cfg, protected=trusted)
    assert len(by_round) == len(calls) == 2 and [s["round"] for s in summary] == [1, 2]
    for probs in by_round:  # every row by a model that never saw it: the planted mislabels all show
        noisy, _ = vs.flags(vs.vote_scores(probs, given), given, **FLAGS)
        assert np.array_equal(noisy, flip)
    (masks1, y1), (masks2, y2) = calls
    assert np.array_equal(masks1, cf.masks) and np.array_equal(y1, given)
    acted = flip & ~trusted
    if flagged == "drop":
        assert np.array_equal(masks2, cf.masks & ~acted[None, :]) and np.array_equal(y2, given)
        assert summary[1]["trained_on"] == n - acted.sum() and summary[1]["relabelled"] == 0
    else:
        assert np.array_equal(masks2, cf.masks) and np.array_equal(y2, np.where(acted, true, given))
        assert summary[1]["trained_on"] == n and summary[1]["relabelled"] == acted.sum()
    assert summary[0]["noisy"] == summary[1]["noisy"] == flip.sum()


def test_a_plan_that_scores_rows_with_their_own_model_is_refused():
    from dcai.train import crossfit
    from dcai.vote.rounds import next_training

    y = np.array([0, 1, 0, 1, 0, 1])
    cf = crossfit.plan(6, 2, seed=0, labels=y)
    noisy = np.array([True, False, False, False, False, False])
    nxt, _ = next_training(cf, y, noisy, y, flagged="drop")
    assert not nxt.masks[:, 0].any()
    leaky = crossfit.CrossFit(cf.folds, np.ones_like(cf.masks))
    with pytest.raises(AssertionError, match="trained on"):
        next_training(leaky, y, noisy, y, flagged="relabel")


def test_calibrate_sweep_and_curves_on_a_planted_toy():
    from dcai.vote import calibrate

    n, c = 400, 4
    true, given, flip = _planted_noise(np.random.default_rng(0), n, c)
    probs = np.full((3, n, c), 0.05)
    probs[:, np.arange(n), true] = 0.85  # members that know the truth
    s = vs.vote_scores(probs, given)
    out = calibrate.sweep(s, given, flip, defaults={k: getattr(VoteConfig(), k) for k in calibrate.GRID})
    assert out["defaults_on_report_half"]["f1"] == 1.0 and out["best_on_report_half"]["f1"] == 1.0
    curves = calibrate.auto_curves(s, given, true, flip)
    assert all(r["right"] == r["n"] == flip.sum() for r in curves["relabel"][:4])
    assert calibrate.accuracy(probs, true, ["a", "b", "c"])["ensemble"] == 1.0


def test_vote_body_without_ray_flags_the_mislabel_a_fan_out_sees(tmp_path):
    """The stage body with the fan-out passed in: members that know the true labels flag the one wrong."""
    from dcai import manifest
    from dcai.vote.vote import vote

    true = ["i", "ii", "iii"] * 6
    given = list(true)
    given[4] = "iii"  # a planted mislabel of an "ii"
    table = manifest.from_rows(
        {"id": f"r{k}", "uri": f"/x/{k}.png", "label": lab, "split": "train", "origin": "original"}
        for k, lab in enumerate(given)
    )
    classes = sorted(set(true))

    def fan_out(x, y, plan, *, num_classes):
        probs = np.full((len(true), num_classes), 0.05)
        probs[np.arange(len(true)), [classes.index(t) for t in true]] = 0.9
        return np.broadcast_to(probs, (2, *probs.shape)).copy(), [{"member": "m", "folds": []}]

    cfg = VoteConfig().replace(**{**VoteConfig.PRESETS["tiny"], "rounds": 1})
    load = lambda sub: np.zeros((sub.num_rows, 4, 4, 3), np.float32)  # noqa: E731
    out = vote(table, cfg, tmp_path, load=load, fan_out=fan_out)
    assert manifest.column(out.table, "vote_noisy").tolist() == [k == 4 for k in range(len(true))]
    assert manifest.column(out.table, "vote_top_label")[4] == "ii" and out.metrics["noisy"] == 1
    assert (tmp_path / "probs.npz").exists()


def test_vote_engine_names_the_valid_choices():
    import pytest

    from dcai.config import ConfigError
    from dcai.vote.config import ENGINES, VoteConfig

    assert VoteConfig().engine == "train" and set(ENGINES) == {"train", "tune-train", "tune"}
    with pytest.raises(ConfigError, match="engine must be one of train, tune-train, tune"):
        VoteConfig(engine="spark")
    with pytest.raises(ConfigError, match="workers must be >= 0"):
        VoteConfig(workers=-1)
