"""The clean policy on hand-made score tables, and the stage: reasons recorded, nothing deleted."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from dcai import manifest
from dcai.clean import policy
from dcai.clean.config import CleanConfig
from dcai.clean.pipeline import apply
from dcai.config import ConfigError

O = np.array  # noqa: E741


def _scores(**cols) -> dict[str, np.ndarray]:
    n = len(cols["label"])
    base = {"split": ["train"] * n, "trusted": [False] * n}
    return {k: O(v, dtype=object) for k, v in {**base, **cols}.items()}


def _vote(label, top, top_p, agree, ent, given=None, top_cal=None, given_cal=None, **extra):
    """A vote score table; the given label's probability defaults to the top's where they agree, else 0.02.
    The calibrated columns default to the raw probabilities."""
    given = given or [p if t == lab else 0.02 for lab, t, p in zip(label, top, top_p)]
    return _scores(label=label, vote_top_label=top, vote_top_prob=top_p, vote_given_prob=given,
                   vote_agreement=agree, vote_entropy=ent, vote_top_cal=top_cal or top_p,
                   vote_given_cal=given_cal or given, **extra)  # fmt: skip


def test_each_rule_fires_on_its_own_row():
    s = _vote(
        label=["i", "i", "ii", "iv", "v", "x"],
        top=["i", "ii", "iii", "vi", "v", "x"],
        top_p=[0.95, 0.97, 0.6, 0.2, 0.25, 0.9],
        agree=[1.0, 0.0, 0.4, 0.2, 0.6, 1.0],
        ent=[0.1, 0.15, 0.5, 0.9, 0.5, 0.85],
        given=[0.95, 0.02, 0.3, 0.03, 0.25, 0.9],
    )
    d = policy.decide(s)
    assert d["action"].tolist() == ["keep", "relabel", "review", "remove", "review", "review"]
    assert d["rule"].tolist() == [
        None, "confident-relabel", "below-precision", "given-label-unlikely", "below-precision", "ambiguous",
    ]  # fmt: skip
    assert d["new_label"].tolist()[:3] == [None, "ii", "iii"]
    assert d["confidence"][1] == pytest.approx(0.97) and d["confidence"][3] == pytest.approx(0.97)


def test_select_keeps_the_most_certain_while_their_mean_reaches_the_precision():
    conf = O([0.99, 0.95, 0.9, 0.8, 0.7, 0.6], dtype=float)
    every = np.ones(6, bool)
    # running means: .99, .97, .947, .91, .868 -> four rows at 0.9
    assert policy.select(conf, every, precision=0.9).tolist() == [True] * 4 + [False] * 2
    assert policy.select(conf, every, precision=0.999).sum() == 0
    assert policy.select(conf, ~every, precision=0.5).sum() == 0


def test_below_the_precision_target_is_queued_not_changed():
    s = _vote(label=["i"] * 4, top=["ii"] * 4, top_p=[0.99, 0.8, 0.6, 0.55], agree=[0.0] * 4, ent=[0.1] * 4)
    d = policy.decide(s, cfg=CleanConfig(precision=0.85))
    assert d["action"].tolist() == ["relabel", "relabel", "review", "review"]  # mean .895 >= .85 > .797
    assert d["rule"].tolist()[2:] == ["below-precision"] * 2


def test_weak_evidence_changes_nothing():
    s = _vote(label=["i"], top=["ii"], top_p=[0.99], agree=[0.0], ent=[0.05])
    assert policy.decide(s, evidence_accuracy=0.9)["action"][0] == "relabel"
    weak = policy.decide(s, evidence_accuracy=0.3)
    assert weak["action"][0] == "review" and weak["rule"][0] == "label-doubtful"


def test_uncalibrated_evidence_only_queues():
    s = _vote(label=["i"], top=["ii"], top_p=[0.99], agree=[0.0], ent=[0.05])
    del s["vote_top_cal"], s["vote_given_cal"]
    assert policy.decide(s)["action"][0] == "review"


def test_class_cap_keeps_the_most_certain_and_queues_the_rest():
    n = 10
    s = _vote(label=["v"] * n, top=["x"] * n, top_p=[0.99 - 0.001 * k for k in range(n)], agree=[0.0] * n,
              ent=[0.1] * n)  # fmt: skip
    d = policy.decide(s, cfg=CleanConfig(max_changed_share=0.3))
    assert d["action"].tolist() == ["relabel"] * 3 + ["review"] * 7
    assert set(d["rule"][3:]) == {"over-class-cap"}
    # the cap holds even when doubtful images are removed
    assert (
        policy.decide(s, cfg=CleanConfig(max_changed_share=0.3, doubtful="remove"))["action"] == "relabel"
    ).sum() == 3


def test_trusted_and_inactive_rows_are_never_changed():
    s = _vote(
        label=["i", "i", "i"],
        top=["ii", "ii", "ii"],
        top_p=[0.99] * 3,
        agree=[0.0] * 3,
        ent=[0.05] * 3,
        trusted=[True, False, False],
        split=["label_book", "removed", "train"],
    )
    assert policy.decide(s, cfg=CleanConfig(max_changed_share=1.0))["action"].tolist() == [
        "keep",
        "keep",
        "relabel",
    ]


def test_investigate_disagreeing_with_the_vote_blocks_the_automatic_relabel():
    s = _vote(
        label=["i", "i"],
        top=["ii", "ii"],
        top_p=[0.95] * 2,
        agree=[0.0] * 2,
        ent=[0.1] * 2,
        suggested_label=["iii", "ii"],
        aux_loss=[3.0, 3.0],
        certified=[False, False],
    )
    cfg = CleanConfig(max_changed_share=1.0)
    d = policy.decide(s, cfg=cfg)
    # both sources say the given label is wrong, but not which is right: removed, not relabelled
    assert d["action"].tolist() == ["remove", "relabel"]
    assert d["rule"][0] == "given-label-unlikely"
    lax = policy.decide(s, cfg=cfg.replace(require_consensus=False))
    assert lax["action"].tolist() == ["relabel", "relabel"]


def test_investigate_alone_only_queues():
    s = _scores(
        label=["i", "i", "i"],
        aux_loss=[0.01, 4.0, 4.0],
        suggested_label=["i", "ii", "ii"],
        certified=[True, False, True],
    )
    d = policy.decide(s)
    assert d["action"].tolist() == ["keep", "review", "keep"]
    assert d["rule"][1] == "label-doubtful" and d["new_label"][1] == "ii"


def test_duplicate_conflict_is_queued_and_missing_evidence_keeps():
    s = _scores(label=["i", "i", "v"], dup_conflict=[True, None, False])
    d = policy.decide(s)
    assert d["action"].tolist() == ["review", "keep", "keep"]
    assert policy.decide(_scores(label=["i"]))["action"].tolist() == ["keep"]


def test_doubtful_remove_takes_out_what_would_be_asked():
    s = _vote(label=["v", "i"], top=["v", "i"], top_p=[0.25, 0.99], agree=[0.6, 1.0], ent=[0.5, 0.02],
              given_cal=[0.4, 0.99])  # fmt: skip
    d = policy.decide(s, cfg=CleanConfig(doubtful="remove"))
    assert d["action"].tolist() == ["remove", "keep"]


def test_doubt_score_orders_by_missing_support():
    s = _scores(label=["i", "i", "i"], vote_agreement=[1.0, 0.2, None], aux_loss=[0.0, 2.0, None])
    score = policy.doubt_score(s)
    assert score[0] == pytest.approx(0.0) and score[1] > 0.5 and score[2] == 0.5


def test_config_refuses_a_bad_choice():
    with pytest.raises(ConfigError, match="doubtful"):
        CleanConfig(doubtful="delete")
    with pytest.raises(ConfigError, match="precision"):
        CleanConfig(precision=1.5)


def test_noisy_and_ambiguous_are_the_votes_flags_at_the_votes_thresholds():
    """One rule, one set of knobs: clean flags exactly the rows ``vote.scores.flags`` flags."""
    from dcai.vote import scores as vs
    from dcai.vote.config import VoteConfig

    s = _vote(
        label=["i", "i", "ii", "v", "x"],
        top=["i", "ii", "iii", "v", "x"],
        top_p=[0.95, 0.7, 0.45, 0.45, 0.9],
        agree=[1.0, 0.4, 0.2, 0.6, 1.0],
        ent=[0.1, 0.3, 0.5, 0.5, 0.7],
    )
    del s["vote_top_cal"], s["vote_given_cal"]  # uncalibrated: no automatic rule comes first
    for options in (VoteConfig().flag_options(), {**VoteConfig().flag_options(), "ambiguous_max_top_prob": 0.3,
                                                  "ambiguous_min_entropy": 0.8, "noisy_min_margin": 0.9}):  # fmt: skip
        vote = {"top": s["vote_top_label"], "top_prob": s["vote_top_prob"].astype(float),
                "given_prob": s["vote_given_prob"].astype(float), "agreement": s["vote_agreement"].astype(float),
                "entropy": s["vote_entropy"].astype(float), "scored": np.ones(5, bool)}  # fmt: skip
        noisy, ambiguous = vs.flags(vote, s["label"], **options)
        rule = policy.decide(s, flag_options=options)["rule"]
        assert (rule == "label-doubtful").tolist() == noisy.tolist()
        assert (rule == "ambiguous").tolist() == ambiguous.tolist()
    assert policy.decide(s)["rule"].tolist() == [
        None,
        "label-doubtful",
        "label-doubtful",
        "ambiguous",
        "ambiguous",
    ]


def _manifest() -> pa.Table:
    rows = [  # id, label, top, top_p, agreement, entropy, given_p
        ("a", "i", "i", 0.99, 1.0, 0.05, 0.99),
        ("b", "i", "ii", 0.95, 0.0, 0.1, 0.02),
        ("c", "iv", "vi", 0.2, 0.2, 0.9, 0.04),
        ("d", "v", "v", 0.25, 0.6, 0.5, 0.25),
    ]
    t = manifest.from_rows(
        {"id": i, "uri": f"/x/{i}.png", "label": lab, "split": "train", "origin": "original"}
        for i, lab, *_ in rows
    )
    for name, k in (("vote_top_label", 2), ("vote_top_prob", 3), ("vote_agreement", 4), ("vote_entropy", 5),
                    ("vote_given_prob", 6), ("vote_top_cal", 3), ("vote_given_cal", 6)):  # fmt: skip
        t = manifest.with_column(t, name, [r[k] for r in rows])
    return t


def test_apply_auto_changes_with_reasons_and_queues_the_rest():
    t, queue, metrics = apply(_manifest(), CleanConfig(auto=True, max_changed_share=1.0))
    assert t.num_rows == 4
    assert manifest.column(t, "label").tolist() == ["i", "ii", "iv", "v"]
    assert manifest.column(t, "split").tolist() == ["train", "train", "removed", "train"]
    assert manifest.column(t, "reason").tolist() == [
        None, "clean: confident-relabel", "clean: given-label-unlikely", None,
    ]  # fmt: skip
    # d: its given label is more likely wrong than right (0.75), but removing it too would bring the mean below 0.9
    assert queue.column("id").to_pylist() == ["d"] and queue.column("why").to_pylist() == [
        "clean: below-precision"
    ]
    assert metrics["actions"] == {"keep": 1, "relabel": 1, "remove": 1, "review": 1}
    assert metrics["expected_precision"] == {"relabel": 0.95, "remove": 0.96}


def test_apply_without_auto_changes_nothing_and_queues_every_proposal():
    before = _manifest()
    t, queue, _ = apply(before, CleanConfig())
    assert manifest.column(t, "label").tolist() == manifest.column(before, "label").tolist()
    assert set(manifest.column(t, "split")) == {"train"}
    assert sorted(queue.column("id").to_pylist()) == ["b", "c", "d"]
    assert dict(zip(queue.column("id").to_pylist(), queue.column("suggested_label").to_pylist()))["b"] == "ii"


def test_weak_vote_makes_auto_change_nothing_and_says_so():
    t, queue, metrics = apply(
        _manifest(), CleanConfig(auto=True, max_changed_share=1.0), evidence_accuracy=0.2
    )
    assert set(manifest.column(t, "split")) == {"train"} and metrics["evidence_too_weak"]
    assert "relabel" not in metrics["actions"] and queue.num_rows == 3


def test_without_embed_or_value_columns_the_decisions_are_the_votes_alone():
    s = _vote(label=["i", "i", "ii", "ii"], top=["ii", "ii", "ii", "i"], top_p=[0.97, 0.7, 0.9, 0.6],
              agree=[0.0, 0.2, 1.0, 0.4], ent=[0.1, 0.3, 0.2, 0.7])  # fmt: skip
    alone = policy.decide(s)
    absent = policy.decide({**s, **{c: O([None] * 4, dtype=object) for c in
                                    ("embed_top_label", "embed_given_prob", "embed_noisy",
                                     "knn_prob_of_vote_top", "value_harmful")}})  # fmt: skip
    for key in ("action", "rule", "new_label"):
        assert alone[key].tolist() == absent[key].tolist()
    assert np.allclose(alone["confidence"].astype(float), absent["confidence"].astype(float), equal_nan=True)


def test_neighbours_that_agree_with_the_vote_lift_a_relabel_over_the_gate_and_disagreeing_ones_block_it():
    base = dict(label=["i", "i"], top=["ii", "ii"], top_p=[0.7, 0.7], agree=[0.0, 0.0], ent=[0.3, 0.3],
                given=[0.3, 0.3])  # fmt: skip
    cfg = CleanConfig(precision=0.85, knn_weight=0.5)
    assert policy.decide(_vote(**base), cfg=cfg)["action"].tolist() == ["review", "review"]  # 0.7 < 0.85
    s = _vote(
        **base, embed_top_label=["ii", "i"], embed_given_prob=[0.1, 0.9], knn_prob_of_vote_top=[0.9, 0.1]
    )
    d = policy.decide(s, cfg=cfg)
    # odds 0.7/0.3 x (0.9/0.1 over prior odds 1) ** 0.5 = 7 -> 0.875; disagreeing: 0.778 -> 0.44
    assert d["confidence"][0] == pytest.approx(0.875)
    assert d["action"].tolist()[0] == "relabel" and d["new_label"][0] == "ii"
    assert d["action"][1] == "review" and d["rule"][1] == "below-precision"
    assert "neighbours: given 10%, majority 'ii', vote's top 90%" in d["why"][0]


def test_neighbours_can_hold_a_removal_back_but_never_push_one_through():
    base = dict(label=["v"] * 4, top=["v"] * 4, top_p=[0.4, 0.4, 0.4, 0.1], agree=[1.0] * 4, ent=[0.5] * 4,
                given=[0.4, 0.4, 0.4, 0.1], given_cal=[0.4, 0.4, 0.4, 0.1])  # fmt: skip
    s = _vote(**base, embed_top_label=["x", "v", None, "v"], embed_given_prob=[0.0, 1.0, None, 0.95])
    d = policy.decide(s, cfg=CleanConfig(precision=0.85, knn_weight=0.5), evidence_accuracy=0.8)
    # 0: neighbours doubt it too, yet the doubt stays the vote's 0.6, below the 0.85 target
    assert d["action"][0] == "review" and d["rule"][0] == "below-precision"
    assert d["confidence"][0] == pytest.approx(0.6)
    # 1: neighbours back the label: doubt 0.6 (odds 1.5) x ((0.05 / 0.95) / (0.2 / 0.8)) ** 0.5 -> 0.29
    assert d["action"][1] == "review" and d["rule"][1] == "ambiguous"
    assert d["action"][2] == "review" and d["rule"][2] == "below-precision"  # the vote alone: 0.6 < 0.85
    # 3: the vote alone would remove it (doubt 0.9); its neighbours hold it back (odds 9 x 0.46 -> 0.81)
    assert (
        policy.decide(_vote(**base), cfg=CleanConfig(precision=0.85, knn_weight=0.5))["action"][3] == "remove"
    )
    assert d["action"][3] == "review" and d["confidence"][3] == pytest.approx(0.805, abs=0.01)


def test_knn_and_value_flags_alone_only_queue_with_their_reason_and_suggestion():
    s = _scores(label=["i", "i", "i"], embed_top_label=["ii", "i", "i"], embed_given_prob=[0.1, 0.9, 0.9],
                embed_noisy=[True, False, False], value_harmful=[False, True, False])  # fmt: skip
    d = policy.decide(s)
    assert d["action"].tolist() == ["review", "review", "keep"]
    assert d["rule"].tolist() == ["neighbours-disagree", "harms-validation", None]
    assert d["new_label"].tolist() == ["ii", None, None]
    assert d["why"][1] == "neighbours: given 90%; value: harms validation" and d["why"][2] is None


def test_combine_keeps_the_vote_where_the_knn_is_missing():
    out = policy.combine(O([0.6, 0.6, np.nan]), O([np.nan, 0.5, 0.9]), 0.5, weight=1.0)
    assert out[0] == 0.6 and out[1] == pytest.approx(0.6) and np.isnan(out[2])


def test_apply_reads_embeds_neighbours_and_says_why(tmp_path):
    from dcai.clean.pipeline import Neighbours

    t = manifest.with_column(_manifest(), "embed_given_prob", [1.0, 0.0, 0.1, 0.0])
    t = manifest.with_column(t, "embed_top_label", ["i", "ii", "x", "x"])
    classes = np.array(["i", "ii", "iv", "v", "vi", "x"])
    dist = np.zeros((4, 6))
    dist[[0, 1, 2, 3], [0, 1, 5, 5]] = [1.0, 1.0, 0.9, 1.0]
    dist[2, 4] = 0.1  # c: one neighbour in ten is the vote's top label "vi"
    nb = Neighbours(np.array(["d", "c", "b", "a"]), classes, dist[::-1])  # any order: matched by id
    assert nb.share(np.array(["b", "c", "zz"]), np.array(["ii", "vi", "i"])).tolist() == [1.0, 0.1, None]
    cleaned, _, metrics = apply(t, CleanConfig(auto=True, max_changed_share=1.0), neighbours=nb)
    why = dict(zip(manifest.column(cleaned, "id"), manifest.column(cleaned, "clean_why")))
    assert why["a"] is None and "neighbours: given 0%, majority 'ii', vote's top 100%" in why["b"]
    # d: the neighbours doubt its label too, but only the vote's doubt (0.75) can remove: queued, as without
    assert manifest.column(cleaned, "split").tolist() == ["train", "train", "removed", "train"]
    assert "knn_prob_of_vote_top" in metrics["evidence"] and metrics["changes"][0]["why"]
