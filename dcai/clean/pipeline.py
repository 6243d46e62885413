"""``NN-clean``: read the latest manifest's score columns, decide per image, apply (``--auto``) or queue.

Every change goes through ``manifest.set_label`` / ``set_split`` with reason ``"clean: <rule>"``; a
removed image keeps its row. The decision table is plain column arithmetic, so no Ray is needed
even for millions of rows.
"""

from __future__ import annotations

import io
from collections import Counter

import numpy as np
import pyarrow as pa

from dcai import manifest
from dcai.clean import policy
from dcai.clean.config import CleanConfig
from dcai.review import queue as q
from dcai.review.pipeline import apply_log_to, review_log_hash
from dcai.runs import Run, StageContext, StageOutput
from dcai.vote.config import VoteConfig

STAGE = "clean"


def score_table(table: pa.Table, neighbours: Neighbours | None = None) -> dict[str, np.ndarray]:
    """The policy's input: ``label``, ``split``, ``trusted`` and whichever evidence columns exist; with
    embed's ``neighbours``, the kNN's probability of the vote's top label (``knn_prob_of_vote_top``)."""
    names = ("label", "split", "trusted", *(c for c in policy.EVIDENCE if c in table.column_names))
    scores = {c: np.asarray(table.column(c).to_pylist(), dtype=object) for c in names}
    if neighbours is not None and "vote_top_label" in scores:
        scores["knn_prob_of_vote_top"] = neighbours.share(
            manifest.column(table, "id"), scores["vote_top_label"]
        )
    return scores


class Neighbours:
    """Embed's calibrated neighbour label probabilities ``dist`` ``(M, C)`` of its rows ``ids`` ``(M,)``,
    ``classes`` ``(C,)``."""

    def __init__(self, ids: np.ndarray, classes: np.ndarray, dist: np.ndarray):
        self.row = {str(i): j for j, i in enumerate(ids)}
        self.col = {str(c): k for k, c in enumerate(classes)}
        self.dist = np.asarray(dist, float)

    @classmethod
    def of_run(cls, run: Run) -> Neighbours | None:
        """The run's embed stage's, if it has one (``vectors.npz``)."""
        folder = run.stage_dir("embed")
        path = folder / "vectors.npz" if folder is not None else None
        if path is None or not path.exists():
            return None
        with np.load(io.BytesIO(path.read_bytes())) as z:
            return cls(z["ids"], z["classes"], z["prob"] if "prob" in z else z["dist"])

    def share(self, ids: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """``(N,)`` the kNN's probability of ``labels[i]`` for row ``ids[i]``; None where unknown."""
        out = np.full(len(ids), None, dtype=object)
        for i, (rid, lab) in enumerate(zip(ids, labels)):
            j, k = self.row.get(str(rid)), self.col.get(str(lab))
            if j is not None and k is not None:
                out[i] = float(self.dist[j, k])
        return out


def vote_flag_options(run: Run) -> dict[str, float]:
    """The noisy / ambiguous thresholds the run's vote flagged with: its recorded config, else ``VoteConfig``'s."""
    recorded = run.report("vote").get("config") or {}
    return {k: recorded.get(k, v) for k, v in VoteConfig().flag_options().items()}


def vote_accuracy(run: Run) -> float | None:
    """The run's vote's out-of-fold accuracy on the given labels (its kept members), if it voted."""
    value = run.report("vote").get("ensemble_oof_accuracy")
    return float(value) if value is not None else None


def apply(
    table: pa.Table,
    cfg: CleanConfig,
    *,
    flag_options: dict[str, float] | None = None,
    evidence_accuracy: float | None = None,
    decided: set[str] | frozenset[str] = frozenset(),
    neighbours: Neighbours | None = None,
) -> tuple[pa.Table, pa.Table, dict]:
    """Decide and (with ``cfg.auto``) apply. Returns ``(new manifest, review queue, metrics)``.
    ``flag_options``: the vote's noisy / ambiguous thresholds (default: ``VoteConfig``'s);
    ``evidence_accuracy``: the vote's out-of-fold accuracy, which gates every automatic change;
    ``neighbours``: embed's kNN label shares (:meth:`Neighbours.of_run`)."""
    scores = score_table(table, neighbours)
    d = policy.decide(scores, cfg=cfg, flag_options=flag_options, evidence_accuracy=evidence_accuracy)
    action, rule, new_label = d["action"], d["rule"], d["new_label"]
    if cfg.auto:
        for label in sorted({x for x in new_label[action == policy.RELABEL]}):
            pick = (action == policy.RELABEL) & (new_label == label)
            for name in sorted(set(rule[pick])):
                table = manifest.set_label(table, pick & (rule == name), label, reason=f"clean: {name}")
        for name in sorted(set(rule[action == policy.REMOVE])):
            pick = (action == policy.REMOVE) & (rule == name)
            table = manifest.set_split(table, pick, manifest.REMOVED, reason=f"clean: {name}")
        ask = action == policy.REVIEW
    else:
        ask = action != policy.KEEP  # propose only: a person decides every change
    if decided:
        ask = ask & ~np.isin(manifest.column(table, "id"), list(decided))
    queue = q.make_queue(
        table,
        ask,
        why=np.array([f"clean: {r}" for r in rule], dtype=object),
        suggested=new_label,
        score=policy.doubt_score(scores),
    )
    why = d["why"]
    for name, values in (
        ("clean_action", action),
        ("clean_rule", rule),
        ("clean_label", new_label),
        ("clean_why", why),
    ):
        table = manifest.with_column(table, name, pa.array(values.tolist(), pa.string()))
    changed = [
        {"id": i, "uri": u, "label": lab, "action": a, "new_label": nl, "rule": r, "why": w}
        for i, u, lab, a, nl, r, w in zip(
            manifest.column(table, "id"),
            manifest.column(table, "uri"),
            scores["label"],
            action,
            new_label,
            rule,
            why,
        )
        if a != policy.KEEP
    ]
    expected = {}
    for act in (policy.RELABEL, policy.REMOVE):
        pick = action == act
        if pick.any():
            expected[act] = round(float(np.nanmean(d["confidence"][pick].astype(float))), 4)
    weak = evidence_accuracy is not None and evidence_accuracy < cfg.min_evidence_accuracy and cfg.auto
    metrics = {
        "auto": cfg.auto,
        # the calibrated probability, averaged over what --auto changed, that each change is right
        "expected_precision": expected,
        "evidence_accuracy": evidence_accuracy,
        "evidence_too_weak": bool(weak),
        "flag_options": flag_options or VoteConfig().flag_options(),
        "evidence": sorted(c for c in policy.EVIDENCE if c in scores),
        "actions": dict(Counter(action.tolist())),
        "rules": dict(Counter(r for r in rule.tolist() if r)),
        "queued": queue.num_rows,
        "changes": changed[:2000],
    }
    return table, queue, metrics


def run(run_dir: str, cfg: CleanConfig, *, force: bool = False) -> tuple[dict, bool]:
    """Clean the latest manifest of ``run_dir`` into ``NN-clean/``. Returns ``(report, ran)``."""

    the_run = Run(run_dir)
    flag_options = vote_flag_options(the_run)
    accuracy = vote_accuracy(the_run)
    neighbours = Neighbours.of_run(the_run)

    # the review app's decisions so far come first, as `dcai review --apply` would apply them
    log_hash = review_log_hash(the_run.root)

    def stage(table: pa.Table, ctx: StageContext) -> StageOutput:
        table, decided, _ = apply_log_to(table, the_run.root)
        table, queue, metrics = apply(
            table,
            cfg,
            flag_options=flag_options,
            evidence_accuracy=accuracy,
            decided=decided,
            neighbours=neighbours,
        )
        metrics["review_log_decisions"] = len(decided)
        if metrics["evidence_too_weak"]:
            print(
                f"   clean: the vote's out-of-fold accuracy {accuracy:.3f} is below min_evidence_accuracy "
                f"{cfg.min_evidence_accuracy:g}: nothing changed automatically, flagged images are queued",
                flush=True,
            )
        q.write_queue(queue, ctx.workdir)
        return StageOutput(table, metrics)

    key = {**flag_options, "evidence_accuracy": accuracy, **({"review_log": log_hash} if log_hash else {})}
    _, report, ran = the_run.execute(STAGE, stage, config=cfg.to_dict(), extra_key=key, force=force)
    return report, ran
