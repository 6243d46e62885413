"""The clean policy: pure rules on a score table of ``(N,)`` arrays → one action per image, with a rule name.

Columns read (each optional except ``label``): ``split``, ``trusted``, dedup's ``dup_conflict``,
investigate's ``aux_loss``, ``suggested_label``, ``certified``, vote's ``vote_agreement``,
``vote_entropy``, ``vote_top_label``, ``vote_top_prob``, ``vote_given_prob`` and its calibrated
``vote_top_cal``, ``vote_given_cal`` (:mod:`dcai.vote.evidence`), embed's kNN ``embed_given_prob``,
``embed_top_label``, ``embed_noisy`` and ``knn_prob_of_vote_top`` (the kNN's calibrated probability of
the vote's top label, which the clean stage reads from embed's ``vectors.npz``; :func:`dcai.embed.knn.calibrate`),
value's ``value_harmful``.
Actions: keep, relabel, remove, review.

Only the calibrated probabilities change an image: each automatic decision carries an expected
precision (the calibrated probability that it is right), and :func:`select` keeps the most certain
decisions while their mean stays at the configured precision. Everything else the evidence doubts
is queued for a person and stays in the data.

The rule that combines the detectors (:func:`combine`): the vote's calibrated probability of an event
("its top label is the true one", "the given label is wrong") is the base; where embed ran, the kNN's
estimate of the same event (its calibrated neighbour share, kept within [0.05, 0.95]) multiplies its odds by
``(kNN odds / prior odds) ** knn_weight``, the prior being what is known before looking at the image (1 / classes
for a label, the vote's out-of-fold error rate for a wrong label). With ``knn_weight`` 1 that is Bayes'
rule for two independent experts; below 1 it discounts them for sharing the labels they learnt from. So
neighbours that agree with the vote's other label raise the relabel's confidence, neighbours that
disagree lower it, and the precision gate reads the result. A removal may only be held back: neighbours
that back the given label lower the doubt, neighbours that do not never raise it above the vote's (an
unusual but rightly labelled image has scattered neighbours too: on the reviewed sample, the first
encoder's removals on such evidence were right half the time). Value's harmful flag and the kNN's own flag only queue (they carry no
calibrated probability); investigate and dedup act as before.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from dcai.clean.config import CleanConfig
from dcai.manifest import INACTIVE_SPLITS
from dcai.vote import scores as vote_scores
from dcai.vote.config import VoteConfig

KEEP, RELABEL, REMOVE, REVIEW = "keep", "relabel", "remove", "review"
EVIDENCE = (
    "dup_conflict",
    "aux_loss",
    "suggested_label",
    "certified",
    "vote_agreement",
    "vote_entropy",
    "vote_top_label",
    "vote_top_prob",
    "vote_given_prob",
    "vote_top_cal",
    "vote_given_cal",
    "embed_top_label",
    "embed_given_prob",
    "embed_noisy",
    "knn_prob_of_vote_top",
    "value_harmful",
)
KNN_CLIP = 0.05  # a kNN probability is never taken as certain: kept in [0.05, 0.95]


def _floats(scores: Mapping[str, np.ndarray], name: str, n: int) -> np.ndarray:
    """A float column; NaN where the value is null or the stage that writes it has not run."""
    if name not in scores:
        return np.full(n, np.nan)
    return np.array([np.nan if v is None else v for v in scores[name]], dtype=float)


def _strings(scores: Mapping[str, np.ndarray], name: str, n: int) -> np.ndarray:
    """A string column as an object array; ``""`` for null or absent."""
    if name not in scores:
        return np.full(n, "", dtype=object)
    return np.array([v if isinstance(v, str) else "" for v in scores[name]], dtype=object)


def _bools(scores: Mapping[str, np.ndarray], name: str, n: int) -> np.ndarray:
    if name not in scores:
        return np.zeros(n, bool)
    return np.array([bool(v) if v is not None and v == v else False for v in scores[name]], dtype=bool)


def select(confidence: np.ndarray, candidate: np.ndarray, *, precision: float) -> np.ndarray:
    """``(N,)`` bool: the most confident ``candidate`` rows whose mean ``confidence`` is at least ``precision``.

    ``confidence`` is each decision's probability of being right, so the mean over the chosen rows is
    their expected precision; sorted from the most certain, the longest prefix that keeps it is taken.
    """
    idx = np.flatnonzero(candidate)
    if not len(idx):
        return np.zeros(len(candidate), bool)
    order = idx[np.argsort(-confidence[idx], kind="stable")]
    running = np.cumsum(confidence[order]) / np.arange(1, len(order) + 1)
    ok = np.flatnonzero(running >= precision - 1e-12)
    out = np.zeros(len(candidate), bool)
    if len(ok):
        out[order[: ok[-1] + 1]] = True
    return out


def cap_per_class(
    change: np.ndarray, confidence: np.ndarray, label: np.ndarray, active: np.ndarray, *, share: float
) -> np.ndarray:
    """``change`` ``(N,)`` bool limited to ``share`` of each class's active rows, the most confident kept."""
    out = change.copy()
    for cls in np.unique(label[change]):
        mine = np.flatnonzero(change & (label == cls))
        limit = int(np.ceil(share * (active & (label == cls)).sum()))  # a class of 2 may still lose 1
        if len(mine) > limit:
            drop = mine[np.argsort(-confidence[mine], kind="stable")][limit:]
            out[drop] = False
    return out


def _odds(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return p / (1 - p)


def combine(vote_p: np.ndarray, knn_p: np.ndarray, prior: float | np.ndarray, *, weight: float) -> np.ndarray:
    """``(N,)`` the vote's probability of an event updated by the kNN's estimate of it (see the module
    docstring); where the kNN estimate is NaN (embed did not run, or not on that row) the vote's stays."""
    knn = np.clip(knn_p, KNN_CLIP, 1 - KNN_CLIP)
    odds = _odds(vote_p) * (_odds(knn) / _odds(np.asarray(prior, float))) ** weight
    with np.errstate(invalid="ignore"):
        return np.where(np.isnan(knn_p) | np.isnan(vote_p), vote_p, odds / (1 + odds))


def decide(
    scores: Mapping[str, np.ndarray],
    *,
    cfg: CleanConfig | None = None,
    flag_options: Mapping[str, float] | None = None,
    evidence_accuracy: float | None = None,
) -> dict[str, np.ndarray]:
    """Actions for every row. Returns ``action``, ``new_label``, ``rule`` and ``confidence`` (``(N,)`` arrays).

    For active rows not marked ``trusted``, relabel before remove:

    - ``confident-relabel``: the vote's top label is another one, with calibrated probability at least
      ``relabel_min_prob`` (and investigate's suggestion agrees, if any);
    - ``given-label-unlikely`` (remove): no confident other label, and the calibrated probability that
      the given label is wrong is at least ``remove_min_doubt``;

    each set trimmed by :func:`select` to the configured precision, then to ``max_changed_share`` of a
    class (:func:`cap_per_class`); and only when ``evidence_accuracy`` (the vote's out-of-fold accuracy)
    reaches ``min_evidence_accuracy``. Queued for review (or removed with ``doubtful="remove"``):
    ``over-class-cap``, ``below-precision``, ``duplicate-conflict``, ``label-doubtful`` (the vote's noisy
    flag, :func:`dcai.vote.scores.flags` at ``flag_options``), ``investigate-loss``,
    ``neighbours-disagree`` (embed's flag), ``harms-validation`` (value's flag), ``ambiguous``.
    ``why`` says, per acted or queued row, what each detector said.
    """
    cfg = cfg or CleanConfig()
    flag_options = flag_options or VoteConfig().flag_options()
    label = np.asarray(scores["label"], dtype=object)
    n = len(label)
    split = _strings(scores, "split", n)
    trusted = _bools(scores, "trusted", n)

    top = _strings(scores, "vote_top_label", n)
    top_p = _floats(scores, "vote_top_prob", n)
    given_p = _floats(scores, "vote_given_prob", n)
    agree = _floats(scores, "vote_agreement", n)
    entropy = _floats(scores, "vote_entropy", n)
    top_cal = _floats(scores, "vote_top_cal", n)
    given_cal = _floats(scores, "vote_given_cal", n)
    sugg = _strings(scores, "suggested_label", n)
    aux_loss = _floats(scores, "aux_loss", n)
    certified = _bools(scores, "certified", n)
    conflict = _bools(scores, "dup_conflict", n)
    knn_given = _floats(scores, "embed_given_prob", n)
    knn_top_share = _floats(scores, "knn_prob_of_vote_top", n)
    knn_top = _strings(scores, "embed_top_label", n)
    knn_noisy = _bools(scores, "embed_noisy", n)
    harmful = _bools(scores, "value_harmful", n)
    n_classes = max(len({v for v in label if isinstance(v, str)}), 2)
    wrong_prior = 1.0 - evidence_accuracy if evidence_accuracy is not None else 0.2
    wrong_prior = float(np.clip(wrong_prior, 0.02, 0.5))
    w = cfg.knn_weight
    top_comb = combine(top_cal, knn_top_share, 1.0 / n_classes, weight=w)
    given_comb = 1.0 - combine(1.0 - given_cal, 1.0 - knn_given, wrong_prior, weight=w)

    vote = {"top": top, "top_prob": top_p, "given_prob": given_p, "agreement": agree, "entropy": entropy}
    noisy, ambiguous = vote_scores.flags({**vote, "scored": top != ""}, label, **flag_options)
    in_play = ~np.isin(split, INACTIVE_SPLITS) & ~trusted
    strong_enough = evidence_accuracy is None or evidence_accuracy >= cfg.min_evidence_accuracy
    # Where an evidence value is missing, every comparison below is False: no rule fires on absent data.
    with np.errstate(invalid="ignore"):
        other = (top != label) & (top != "")
        consensus = (sugg == "") | (sugg == top) if cfg.require_consensus else np.ones(n, bool)
        relabel_wanted = in_play & other & (top_comb >= cfg.relabel_min_prob) & consensus & strong_enough
        # the calibrated probability that the given label is wrong: the neighbours may only lower the vote's
        doubt = np.fmin(1.0 - given_cal, 1.0 - given_comb)
        remove_wanted = in_play & ~relabel_wanted & (doubt >= cfg.remove_min_doubt) & strong_enough
        aux_doubt = (aux_loss > cfg.aux_review_loss) & ~certified
        noisy |= (sugg != "") & (sugg != label) & aux_doubt  # investigate's own other-label evidence
    confidence = np.where(relabel_wanted, top_comb, np.where(remove_wanted, doubt, np.nan))
    relabel = select(np.nan_to_num(confidence), relabel_wanted, precision=cfg.precision)
    remove = select(np.nan_to_num(confidence), remove_wanted, precision=cfg.precision)
    changed = cap_per_class(
        relabel | remove, np.nan_to_num(confidence), label, in_play, share=cfg.max_changed_share
    )
    capped = (relabel | remove) & ~changed
    relabel &= changed
    remove &= changed

    action = np.full(n, KEEP, dtype=object)
    rule = np.full(n, None, dtype=object)
    new_label = np.full(n, None, dtype=object)
    doubtful = REMOVE if cfg.doubtful == REMOVE else REVIEW
    # Later assignments only fill rows still undecided, so the list order is the rule priority.
    for mask, act, name in (
        (relabel, RELABEL, "confident-relabel"),
        (remove, REMOVE, "given-label-unlikely"),
        (capped, REVIEW, "over-class-cap"),  # never removed by doubtful="remove": the cap holds
        ((relabel_wanted | remove_wanted), doubtful, "below-precision"),
        (conflict, doubtful, "duplicate-conflict"),
        (noisy, doubtful, "label-doubtful"),
        (aux_doubt & ~noisy, doubtful, "investigate-loss"),
        (knn_noisy, doubtful, "neighbours-disagree"),
        (harmful, doubtful, "harms-validation"),
        (ambiguous, doubtful, "ambiguous"),
    ):
        pick = mask & in_play & (rule == None)  # noqa: E711 - elementwise test on an object array
        action[pick] = act
        rule[pick] = name
    is_relabel = action == RELABEL
    new_label[is_relabel] = top[is_relabel]
    # A reviewer sees the best guess too: the vote's top label, else investigate's suggestion.
    ask = (action == REVIEW) | (action == REMOVE)
    no_guess = np.full(n, None, dtype=object)
    guess = np.where(other, top, np.where((sugg != "") & (sugg != label), sugg, no_guess))
    guess = np.where((guess == None) & (knn_top != "") & (knn_top != label), knn_top, guess)  # noqa: E711
    new_label[ask] = guess[ask]
    evidence = {"top": top, "top_cal": top_cal, "given_cal": given_cal, "knn_top": knn_top,
                "knn_given": knn_given, "knn_top_share": knn_top_share, "harmful": harmful,
                "aux_doubt": aux_doubt, "conflict": conflict, "top_comb": top_comb, "doubt": doubt}  # fmt: skip
    why = np.full(n, None, dtype=object)
    for i in np.flatnonzero(action != KEEP):
        why[i] = explain(int(i), label[i], evidence)
    return {"action": action, "new_label": new_label, "rule": rule, "confidence": confidence, "why": why}


def explain(i: int, given: str, e: Mapping[str, np.ndarray]) -> str:
    """One line: what each detector said of row ``i`` (those that ran), and the combined probabilities."""
    parts = []
    if e["top"][i]:
        parts.append(
            f"vote: top {e['top'][i]!r} p={e['top_cal'][i]:.2f}, given {given!r} p={e['given_cal'][i]:.2f}"
        )
    if not np.isnan(e["knn_given"][i]):
        knn = f"neighbours: given {e['knn_given'][i]:.0%}"
        if e["knn_top"][i] != given:
            knn += f", majority {e['knn_top'][i]!r}"
        if e["top"][i] and e["top"][i] != given and not np.isnan(e["knn_top_share"][i]):
            knn += f", vote's top {e['knn_top_share'][i]:.0%}"
        parts.append(knn)
    if e["harmful"][i]:
        parts.append("value: harms validation")
    if e["aux_doubt"][i]:
        parts.append("investigate: high loss")
    if e["conflict"][i]:
        parts.append("dedup: label conflict")
    if not np.isnan(e["top_comb"][i]) and e["top"][i] and e["top"][i] != given:
        parts.append(f"combined p(top)={e['top_comb'][i]:.2f}")
    if not np.isnan(e["doubt"][i]):
        parts.append(f"combined p(given wrong)={e['doubt'][i]:.2f}")
    return "; ".join(parts) or "no detector evidence"


def doubt_score(scores: Mapping[str, np.ndarray]) -> np.ndarray:
    """``(N,)`` in [0, 1], higher = more doubtful: 1 − the given label's support. Orders the review queue."""
    label = np.asarray(scores["label"], dtype=object)
    n = len(label)
    support = np.vstack([_floats(scores, "vote_agreement", n), np.exp(-_floats(scores, "aux_loss", n))])
    known = ~np.isnan(support)
    mean = np.where(known, support, 0.0).sum(0) / np.maximum(known.sum(0), 1)
    return np.where(known.any(0), 1.0 - mean, 0.5)  # no evidence at all: neither end of the queue
