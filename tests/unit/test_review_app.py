"""The review app's parts without a browser: the decision log, the index, applying the log, the map."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest

from dcai import manifest
from dcai.cli import main
from dcai.review import items as ix
from dcai.review import log as rlog
from dcai.review.decisions import DecisionError
from dcai.review.runfs import RunFS
from dcai.runs import Run
from tests.helpers import make_review_run


@pytest.fixture
def built(tmp_path):
    info = make_review_run(tmp_path)
    return info, RunFS(info["run"])


def test_the_log_folds_undo_and_ignores_a_repeated_key(built):
    info, run = built
    log = rlog.DecisionLog(run)
    a, b = info["planted"][:2]
    assert log.record(key="k1", reviewer="ann", image=a, decision="keep")[1]
    assert not log.record(key="k1", reviewer="ann", image=a, decision="remove")[1]  # a retry: written once
    log.record(key="k2", reviewer="ann", image=a, decision="relabel:v")
    log.record(key="k3", reviewer="bob", image=b, decision="remove")
    log.record(key="u1", reviewer="ann", undo="k2")  # back to keep
    log.record(key="u2", reviewer="bob", undo="k3")  # b undecided again
    assert log.current_of(a)["decision"] == "keep" and log.current_of(b) is None
    log.close()
    entries = rlog.read_log(run)
    assert len(entries) == 5
    assert {k: e["decision"] for k, e in rlog.fold(entries).items()} == {a: "keep"}
    with pytest.raises(DecisionError, match="no decision with key"):
        rlog.DecisionLog(run).record(key="u3", reviewer="x", undo="nope")


def test_a_torn_last_line_is_skipped_and_kept_apart(built):
    info, run = built
    log = rlog.DecisionLog(run)
    log.record(key="k1", reviewer="ann", image=info["planted"][0], decision="remove")
    log.close()
    with open(run.path(rlog.LOG), "a") as f:
        f.write('{"key":"k2","id":"')  # a kill in the middle of a write
    log = rlog.DecisionLog(run)
    log.record(key="k3", reviewer="ann", image=info["planted"][1], decision="keep")
    log.close()
    assert [e["key"] for e in rlog.read_log(run)] == ["k1", "k3"]


def test_concurrent_appends_lose_and_double_nothing(built):
    info, run = built
    log = rlog.DecisionLog(run)
    ids = info["ids"]

    def tab(t):  # two tabs, each sending every request twice
        for i in range(40):
            for _ in range(2):
                log.record(key=f"t{t}-{i}", reviewer=f"tab{t}", image=ids[i % len(ids)], decision="keep")

    threads = [threading.Thread(target=tab, args=(t,)) for t in range(2)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    log.close()
    lines = run.read_text(rlog.LOG).splitlines()
    assert len(lines) == 80 and len({json.loads(x)["key"] for x in lines}) == 80


def test_the_index_orders_by_doubt_and_covers_every_source(built):
    info, run = built
    meta = ix.build(run)
    items = run.read_table(ix.ITEMS).to_pylist()
    assert meta["items"] == len(items) == len(info["planted"]) + 2
    scores = [i["score"] for i in items]
    assert scores == sorted(scores, reverse=True)
    kinds = {i["id"]: i["kind"] for i in items}
    assert kinds[info["copy"]] == "group" and kinds[info["broken"]] == "quarantine"
    group = next(i for i in items if i["kind"] == "group")
    assert info["copy"] in json.loads(group["members"]) and len(json.loads(group["members"])) == 2
    planted = [i for i in items if i["id"] in info["planted"]]
    assert all(i["suggested"] == info["truth"][i["id"]] for i in planted)
    assert all(json.loads(i["evidence"])["vote"]["vote_noisy"] for i in planted)
    assert set(meta["examples"]) == set(meta["classes"])
    assert ix.build(run)["built"] == meta["built"]  # up to date: not rebuilt
    lookup = ix.Lookup(run)
    assert lookup.get(info["ids"][3])[0].endswith(".png")
    assert lookup.get("../../etc/passwd") is None and lookup.get("") is None


def test_apply_turns_the_log_into_a_review_stage(built, capsys):
    info, run = built
    a, b, c = info["planted"][:3]
    log = rlog.DecisionLog(run)
    log.record(key="1", reviewer="ann", image=a, decision=f"relabel:{info['truth'][a]}")
    log.record(key="2", reviewer="bob", image=b, decision="remove")
    log.record(key="3", reviewer="bob", image=c, decision="remove")
    log.record(key="4", reviewer="bob", undo="3")
    log.close()
    assert main(["review", "--apply", "--run", str(info["run"])]) == 0
    t = Run(info["run"]).manifest()
    row = {r["id"]: r for r in t.to_pylist()}
    assert row[a]["label"] == info["truth"][a] and row[a]["reason"] == "review: ann relabel"
    assert row[b]["split"] == "removed" and row[b]["reason"] == "review: bob remove"
    assert row[c]["split"] == "train" and row[c]["review"] is None
    before = Run(info["run"]).manifest("flags").to_pylist()
    changed = [
        r["id"] for r, s in zip(before, t.to_pylist()) if (r["label"], r["split"]) != (s["label"], s["split"])
    ]
    assert sorted(changed) == sorted([a, b])
    # an undo after apply takes the decision back at the next apply
    log = rlog.DecisionLog(run)
    log.record(key="5", reviewer="bob", undo="2")
    log.close()
    assert main(["review", "--apply", "--run", str(info["run"])]) == 0
    assert {r["id"]: r for r in Run(info["run"]).manifest().to_pylist()}[b]["split"] == "train"


def test_a_log_naming_an_unknown_class_is_refused_with_exit_2(built, capsys):
    info, run = built
    log = rlog.DecisionLog(run)
    log.record(key="1", reviewer="ann", image=info["planted"][0], decision="relabel:xlii")
    log.close()
    assert main(["review", "--apply", "--run", str(info["run"])]) == 2
    assert "decisions.jsonl" in capsys.readouterr().err


def test_clean_applies_the_log_first_and_queues_no_decided_image(built):
    from dcai.clean.config import CleanConfig
    from dcai.clean.pipeline import run as clean

    info, run = built
    a = info["planted"][0]
    log = rlog.DecisionLog(run)
    log.record(key="1", reviewer="ann", image=a, decision=f"relabel:{info['truth'][a]}")
    log.close()
    report, _ = clean(str(info["run"]), CleanConfig())
    assert report["review_log_decisions"] == 1
    t = Run(info["run"]).manifest("clean")
    assert dict(zip(manifest.column(t, "id"), manifest.column(t, "label")))[a] == info["truth"][a]
    queue = run.read_table("03-clean/queue.parquet")
    assert a not in queue.column("id").to_pylist()


@pytest.mark.slow  # UMAP's first fit compiles its numba code
def test_the_map_lays_out_every_decodable_image(built):
    from dcai.review import mapping

    info, run = built
    out = mapping.build_map(run, seed=0)
    t = run.read_table(mapping.MAP)
    assert out["points"] == t.num_rows == len(info["ids"]) - 1  # the quarantined file has no pixels
    assert np.isfinite(t.column("x").to_numpy()).all()
    assert set(t.column("group").to_pylist()) == {"train", "val", "label_book", "other"}  # other: removed
    flagged = dict(zip(t.column("id").to_pylist(), t.column("flagged").to_pylist()))
    assert all(flagged[i] for i in info["planted"])
    assert "<svg" in mapping.svg(run) and "flagged" in mapping.svg(run)
    from dcai.report.html import write_report

    html = write_report(info["run"]).read_text()
    assert "Embedding map" in html and html.count("<circle") >= out["points"]
