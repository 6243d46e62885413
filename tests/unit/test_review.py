"""Review queue: Parquet/CSV round trip, decision parsing, path matching, truth reviewer, the stage."""

from __future__ import annotations

import csv

import numpy as np
import pyarrow as pa
import pytest

from dcai import manifest
from dcai.review import decisions as dec
from dcai.review import queue as q
from dcai.review.config import ReviewConfig
from dcai.review.pipeline import run
from dcai.runs import Run, StageOutput


def _table(n: int = 6) -> pa.Table:
    labels = ["i", "ii", "v"] * (n // 3)
    return manifest.from_rows(
        {
            "id": f"r{k}",
            "uri": f"/run/images/{k}.png",
            "source_uri": f"/data/src/train/{lab}/img{k}.png",
            "label": lab,
            "split": "train",
            "origin": "original",
        }
        for k, lab in enumerate(labels)
    )


def test_queue_round_trips_through_csv_and_parquet(tmp_path):
    t = _table()
    where = np.array([True, False, True, True, False, False])
    queue = q.make_queue(
        t,
        where,
        why="vote: noisy",
        suggested=["v", None, "ii", None, None, None],
        score=[0.1, 0, 0.9, 0.5, 0, 0],
    )
    assert queue.column("id").to_pylist() == ["r2", "r3", "r0"]  # most doubtful first
    pq_path, csv_path = q.write_queue(queue, tmp_path)
    for path in (pq_path, csv_path):
        back = q.read_queue(path)
        assert back.to_pylist() == queue.to_pylist()
    assert q.read_queue(csv_path).column("suggested_label").to_pylist() == ["ii", None, "v"]


def test_merge_keeps_the_first_entry_of_an_id():
    t = _table()
    a = q.make_queue(t, np.array([1, 1, 0, 0, 0, 0], bool), why="investigate: high loss")
    b = q.make_queue(t, np.array([0, 1, 1, 0, 0, 0], bool), why="vote: noisy")
    m = q.merge(a, b)
    assert sorted(m.column("id").to_pylist()) == ["r0", "r1", "r2"]
    assert (
        dict(zip(m.column("id").to_pylist(), m.column("why").to_pylist()))["r1"] == "investigate: high loss"
    )


@pytest.mark.parametrize(
    ("text", "want"),
    [("keep", "keep"), (" Remove ", "remove"), ("relabel:v", "relabel:v"), ("RELABEL: ii", "relabel:ii")],
)
def test_parse_decision_accepts_the_three_forms(text, want):
    assert str(dec.parse_decision(text, classes=["i", "ii", "v"])) == want


@pytest.mark.parametrize("text", ["", "maybe", "relabel:", "relabel:xi", "keep:i"])
def test_parse_decision_refuses_anything_else(text):
    with pytest.raises(dec.DecisionError):
        dec.parse_decision(text, classes=["i", "ii", "v"])


def test_path_index_matches_trailing_parts_and_refuses_ambiguity():
    t = manifest.from_rows(
        [
            {
                "id": "a",
                "uri": "u1",
                "source_uri": "/d/train/i/x.png",
                "label": "i",
                "split": "train",
                "origin": "original",
            },
            {
                "id": "b",
                "uri": "u2",
                "source_uri": "/d/val/i/x.png",
                "label": "i",
                "split": "val",
                "origin": "original",
            },
        ]
    )
    idx = dec.PathIndex(t)
    assert idx.lookup("train/i/x.png") == 0
    assert idx.lookup("/d/val/i/x.png") == 1
    assert idx.lookup("i/x.png") is None  # both end with it
    assert idx.lookup("nope.png") is None


def test_read_and_apply_decisions_by_id_and_by_path(tmp_path):
    t = _table()
    f = tmp_path / "d.csv"
    f.write_text("id,path,decision\nr0,,relabel:v\n,train/ii/img1.png,remove\nr2,,keep\nr3,,\n")
    d = dec.read_decisions(f, t)
    assert {k: str(v) for k, v in d.items()} == {"r0": "relabel:v", "r1": "remove", "r2": "keep"}
    out = dec.apply_decisions(t, d)
    assert out.num_rows == t.num_rows  # nothing deleted
    assert manifest.column(out, "label")[0] == "v" and manifest.column(out, "reason")[0] == "review: relabel"
    assert manifest.column(out, "split")[1] == "removed"
    assert manifest.column(out, "review").tolist()[:4] == ["relabel:v", "remove", "keep", None]


def test_read_decisions_names_the_line_of_a_bad_row(tmp_path):
    f = tmp_path / "d.csv"
    f.write_text("id,decision\nr0,keep\nr1,relabel:xi\n")
    with pytest.raises(dec.DecisionError, match=r"d.csv:3"):
        dec.read_decisions(f, _table())
    f.write_text("id,decision\nzzz,keep\n")
    with pytest.raises(dec.DecisionError, match="zzz"):
        dec.read_decisions(f, _table())


def test_truth_reviewer_reads_synth_truth_and_reviewed_samples(tmp_path):
    t = _table()
    truth = tmp_path / "truth.csv"
    truth.write_text(
        "path,split,given_label,true_label,problem\n"
        "data/train/i/img0.png,train,i,i,clean\n"
        "data/train/ii/img1.png,train,ii,v,mislabel\n"
        "data/train/v/img2.png,train,v,,blank\n"
    )
    ans = dec.TruthReviewer.from_csv(truth).answer(t, ["r0", "r1", "r2", "r3"])
    assert {k: str(v) for k, v in ans.items()} == {"r0": "keep", "r1": "relabel:v", "r2": "remove"}
    sample = tmp_path / "sample.csv"
    sample.write_text("path,given_label,verdict,reviewed_label\ntrain/i/img3.png,i,wrong_label,ii\n")
    ans = dec.TruthReviewer.from_csv(sample).answer(t, ["r3"])
    assert str(ans["r3"]) == "relabel:ii"


def _run_with_queue(tmp_path) -> Run:
    run_ = Run(tmp_path / "run")
    t = _table()
    run_.execute("ingest", lambda _, ctx: StageOutput(t), needs_input=False)

    def vote(table, ctx):
        q.write_queue(
            q.make_queue(
                table,
                np.array([1, 1, 1, 0, 0, 0], bool),
                why="vote: noisy",
                suggested=["ii", "ii", "i", None, None, None],
            ),
            ctx.workdir,
        )
        return StageOutput(table)

    run_.execute("vote", vote)
    return run_


def test_review_stage_imports_accumulates_and_shrinks_the_queue(tmp_path):
    run_ = _run_with_queue(tmp_path)
    first = tmp_path / "first.csv"
    first.write_text("id,decision\nr0,relabel:ii\n")
    report, ran = run(str(run_.root), ReviewConfig(), decisions_csv=str(first))
    assert ran and report["answered"] == 1 and report["left_in_queue"] == 2
    second = tmp_path / "second.csv"
    second.write_text("path,decision\ntrain/ii/img1.png,remove\n")
    report, _ = run(str(run_.root), ReviewConfig(), decisions_csv=str(second))
    assert report["answered"] == 2 and report["left_in_queue"] == 1
    table = run_.manifest("review")
    assert manifest.column(table, "label")[0] == "ii" and manifest.column(table, "split")[1] == "removed"
    left = q.read_queue(run_.stage_dir("review") / q.QUEUE_CSV)
    assert left.column("id").to_pylist() == ["r2"]


def test_review_stage_simulated_reviewer_answers_at_most_max_items(tmp_path):
    run_ = _run_with_queue(tmp_path)
    truth = tmp_path / "truth.csv"
    with open(truth, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "true_label"])
        w.writerows([["train/i/img0.png", "ii"], ["train/ii/img1.png", "ii"], ["train/v/img2.png", "i"]])
    report, _ = run(str(run_.root), ReviewConfig(max_items=2), truth_csv=str(truth))
    assert report["answered_from_queue"] == 2 and report["left_in_queue"] == 1
    assert report["suggestions_checked"] == 2 and report["suggestions_right"] == 2


def test_truth_align_and_score_flags(tmp_path):
    from dcai.review.truth import align, score

    t = _table()
    f = tmp_path / "truth.csv"
    f.write_text(
        "path,true_label,problem\n"
        "train/i/img0.png,i,clean\ntrain/ii/img1.png,v,mislabel\ntrain/v/img2.png,,blank\ntrain/i/img3.png,i,clean\n"
    )
    truth = align(t, f)
    assert truth["known"].tolist() == [True, True, True, True, False, False]
    flagged = np.array([True, True, False, False, True, False])
    s = score(flagged, truth, suggested=np.array([None, "v", None, None, None, None], dtype=object))
    assert (s["rows"], s["errors"], s["flagged"], s["true_positives"]) == (4, 2, 2, 1)
    assert s["precision"] == 0.5 and s["recall"] == 0.5 and s["suggestion_accuracy"] == 1.0
    sample = tmp_path / "sample.csv"
    sample.write_text("path,given_label,verdict,reviewed_label\ntrain/v/img2.png,v,remove,\n")
    assert align(t, sample)["problem"][2] == "junk"
