"""investigate → vote → clean --auto → review on local Ray, tiny data with a planted mislabel and a truth file."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from dcai import manifest
from dcai.clean.config import CleanConfig
from dcai.clean.pipeline import run as clean_run
from dcai.investigate.config import InvestigateConfig
from dcai.investigate.pipeline import run as investigate_run
from dcai.review import queue as q
from dcai.review.config import ReviewConfig
from dcai.review.pipeline import run as review_run
from dcai.runs import Run, StageOutput
from dcai.vote.config import VoteConfig
from dcai.vote.pipeline import run as vote_run
from tests.helpers import make_good

pytestmark = [pytest.mark.slow]


@pytest.fixture
def labelled_run(tmp_path):
    paths = make_good(tmp_path / "src", classes=("i", "ii", "v"), per_class=10, split="train")
    rows, truth = [], []
    for k, p in enumerate(paths):
        given = p.parent.name
        if k == 0:
            given = "v"  # a planted mislabel of an "i"
        rows.append({"id": f"r{k}", "uri": str(p), "source_uri": str(p), "label": given, "split": "train",
                     "origin": "original", "content_hash": f"h{k}"})  # fmt: skip
        truth.append([f"train/{p.parent.name}/{p.name}", p.parent.name])
    with open(tmp_path / "truth.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "true_label"])
        w.writerows(truth)
    run = Run(tmp_path / "run")
    run.execute("ingest", lambda _, ctx: StageOutput(manifest.from_rows(rows)), needs_input=False)
    return run, tmp_path / "truth.csv"


def test_label_stages_end_to_end(ray_local, labelled_run):
    run, truth = labelled_run
    tiny_inv = InvestigateConfig().replace(**{**InvestigateConfig.PRESETS["tiny"], "rounds": 1, "epochs": 1})
    report, _ = investigate_run(str(run.root), tiny_inv, truth_csv=str(truth))
    assert len(report["rounds"]) == 1 and report["rounds"][0]["queued"] == 4
    assert report["reviewed"]["keep"] + report["reviewed"]["relabel"] + report["reviewed"]["remove"] == 4
    inv = run.manifest("investigate")
    assert inv.num_rows == 30 and "aux_loss" in inv.column_names
    status = manifest.column(inv, "investigate_status").tolist()
    assert status.count("certified") == 8 and status.count("reviewed") == 4

    tiny_vote = VoteConfig().replace(**{**VoteConfig.PRESETS["tiny"], "members": ("lenet5",), "epochs": 1})
    report, _ = vote_run(str(run.root), tiny_vote)
    assert report["rows_voted"] == 30 and set(report["member_oof_accuracy"]) == {"lenet5"}
    z = np.load(run.stage_dir("vote") / "probs.npz")
    assert z["probs"].shape == (1, 30, 3)

    # thresholds that fire on a 1-epoch ensemble: every rule must leave a reason and delete nothing
    report, _ = clean_run(str(run.root), CleanConfig(auto=True, doubtful="remove"))
    cleaned = run.manifest("clean")
    assert cleaned.num_rows == 30
    reasons = [r for r in manifest.column(cleaned, "reason").tolist() if r]
    assert all(r.startswith(("clean: ", "investigate: reviewer ")) for r in reasons)
    assert sum(report["actions"].values()) == 30

    decisions = run.root / "decisions.csv"
    decisions.write_text("id,decision\nr1,relabel:ii\n")
    report, _ = review_run(str(run.root), ReviewConfig(), decisions_csv=str(decisions))
    assert report["answered"] == 1
    assert manifest.column(run.manifest("review"), "label")[1] == "ii"
    assert q.find_queue(run.root) is not None


def test_vote_rounds_keep_every_round_and_train_round_two_without_round_one_noisy(ray_local, labelled_run):
    run, _ = labelled_run
    # thresholds that flag every row whose top label is another: a 1-epoch ensemble flags some
    cfg = VoteConfig().replace(**{**VoteConfig.PRESETS["tiny"], "members": ("lenet5",), "epochs": 1,
                                  "rounds": 2, "noisy_min_margin": 0.0, "noisy_max_agreement": 1.0})  # fmt: skip
    report, _ = vote_run(str(run.root), cfg)
    first, second = report["rounds"]
    assert 0 < first["noisy"] and second["trained_on"] == 30 - first["noisy"] and second["relabelled"] == 0
    assert report["noisy"] == second["noisy"] == sum(manifest.column(run.manifest("vote"), "vote_noisy"))
    assert {t["round"] for t in report["trials"]} == {1, 2}
    z = np.load(run.stage_dir("vote") / "probs.npz")
    # the stage's probabilities are both rounds' averaged (rounds_scored="all", the default)
    assert z["round_probs"].shape == (2, 1, 30, 3) and np.allclose(
        z["round_probs"].mean(0), z["probs"], atol=1e-6
    )
