"""The clean policy: pure rules on a score table of ``(N,)`` arrays → one action per image, with a rule name.

Columns read (each optional except ``label``): ``split``, ``trusted``, dedup's ``dup_conflict``,
investigate's ``aux_loss``, ``suggested_label``, ``certified``, vote's ``vote_agreement``,
``vote_entropy``, ``vote_top_label``, ``vote_top_prob``, ``vote_given_prob``. Actions: keep, relabel, remove, review.
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
)


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


def decide(
    scores: Mapping[str, np.ndarray],
    *,
    cfg: CleanConfig | None = None,
    flag_options: Mapping[str, float] | None = None,
) -> dict[str, np.ndarray]:
    """Actions for every row. Returns ``action``, ``new_label``, ``rule`` (all ``(N,)`` object arrays).

    Rules, first match wins, for active rows not marked ``trusted``:
    ``junk`` (remove) → ``strong-relabel`` (relabel) → ``duplicate-conflict``, ``label-doubtful``,
    ``investigate-loss``, ``ambiguous`` (review; or remove with ``doubtful="remove"``) → keep.
    Noisy and ambiguous are the vote's own flags (:func:`dcai.vote.scores.flags`) at ``flag_options``, the
    thresholds the run's vote used (default: ``VoteConfig``'s).
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
    sugg = _strings(scores, "suggested_label", n)
    aux_loss = _floats(scores, "aux_loss", n)
    certified = _bools(scores, "certified", n)
    conflict = _bools(scores, "dup_conflict", n)

    vote = {"top": top, "top_prob": top_p, "given_prob": given_p, "agreement": agree, "entropy": entropy}
    noisy, ambiguous = vote_scores.flags({**vote, "scored": top != ""}, label, **flag_options)
    # Where an evidence value is missing, every comparison below is False: no rule fires on absent data.
    with np.errstate(invalid="ignore"):
        other = (top != label) & (top != "")
        junk = (top_p <= cfg.junk_max_top_prob) & (entropy >= cfg.junk_min_entropy)
        consensus = (sugg == "") | (sugg == top) if cfg.require_consensus else np.ones(n, bool)
        strong = noisy & (top_p >= cfg.relabel_min_prob) & (agree <= cfg.relabel_max_agreement) & consensus
        aux_doubt = (aux_loss > cfg.aux_review_loss) & ~certified
        noisy |= (sugg != "") & (sugg != label) & aux_doubt  # investigate's own other-label evidence

    in_play = ~np.isin(split, INACTIVE_SPLITS) & ~trusted
    action = np.full(n, KEEP, dtype=object)
    rule = np.full(n, None, dtype=object)
    new_label = np.full(n, None, dtype=object)
    doubtful = REMOVE if cfg.doubtful == REMOVE else REVIEW
    # Later assignments only fill rows still undecided, so the list order is the rule priority.
    for mask, act, name in (
        (junk, REMOVE, "junk"),
        (strong, RELABEL, "strong-relabel"),
        (conflict, doubtful, "duplicate-conflict"),
        (noisy, doubtful, "label-doubtful"),
        (aux_doubt & ~noisy, doubtful, "investigate-loss"),
        (ambiguous, doubtful, "ambiguous"),
    ):
        pick = mask & in_play & (rule == None)  # noqa: E711 - elementwise test on an object array
        action[pick] = act
        rule[pick] = name
    relabel = action == RELABEL
    new_label[relabel] = top[relabel]
    # A reviewer sees the best guess too: the vote's top label, else investigate's suggestion.
    ask = (action == REVIEW) | (action == REMOVE)
    no_guess = np.full(n, None, dtype=object)
    guess = np.where(other, top, np.where((sugg != "") & (sugg != label), sugg, no_guess))
    new_label[ask] = guess[ask]
    return {"action": action, "new_label": new_label, "rule": rule}


def doubt_score(scores: Mapping[str, np.ndarray]) -> np.ndarray:
    """``(N,)`` in [0, 1], higher = more doubtful: 1 − the given label's support. Orders the review queue."""
    label = np.asarray(scores["label"], dtype=object)
    n = len(label)
    support = np.vstack([_floats(scores, "vote_agreement", n), np.exp(-_floats(scores, "aux_loss", n))])
    known = ~np.isnan(support)
    mean = np.where(known, support, 0.0).sum(0) / np.maximum(known.sum(0), 1)
    return np.where(known.any(0), 1.0 - mean, 0.5)  # no evidence at all: neither end of the queue
