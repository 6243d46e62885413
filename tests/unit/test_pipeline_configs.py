"""The shipped pipeline configs load, a bad section fails before any work, and the before/after headline."""

from __future__ import annotations

from pathlib import Path

import pytest

from dcai import pipeline, stages
from dcai.config import ConfigError, load_yaml

CONFIGS = sorted((Path(pipeline.__file__).parent / "configs").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
@pytest.mark.parametrize("preset", [None, "tiny"])
def test_shipped_configs_load(path: Path, preset):
    data = pipeline.load_pipeline_config(path)
    for name in data["stages"]:
        assert name == pipeline.REPORT or stages.get(name).pipeline is not None, name
    pipeline.check_sections(path, data, preset)


def test_competition_config_runs_the_issue_order():
    stages = load_yaml(pipeline.resolve_config("competition.yaml"))["stages"]
    order = ["ingest", "dedup", "clean", "augment", "balance", "split", "export", "evaluate"]
    assert [s for s in stages if s in order] == order


def test_bad_section_names_file_and_stage(tmp_path: Path):
    cfg = tmp_path / "p.yaml"
    cfg.write_text("stages: [ingest, balance]\nbalance: {budget: -5}\n")
    with pytest.raises(ConfigError, match=r"p\.yaml: section 'balance': .*budget"):
        pipeline.run_pipeline(cfg, input_dir=str(tmp_path), output_dir=str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()  # nothing ran


def test_unknown_option_fails_early(tmp_path: Path):
    cfg = tmp_path / "p.yaml"
    cfg.write_text("stages: [ingest, augment]\naugment: {no_such_option: 1}\n")
    with pytest.raises(ConfigError, match="augment"):
        pipeline.run_pipeline(cfg, input_dir=str(tmp_path), output_dir=str(tmp_path / "out"))


def _eval(mean: float, n_train: int) -> dict:
    return {"epochs": 5, "seeds": [0, 1], "n_train": n_train,
            "test": {"test": {"mean": mean, "std": 0.01, "n": 500}}}  # fmt: skip


def test_headline_compares_test_sets_only():
    lines = pipeline.headline({"evaluate_raw": _eval(0.70, 2000), "evaluate": _eval(0.85, 8000)})
    text = "\n".join(lines)
    assert "2000 -> 8000" in text
    assert "0.700 ± 0.010 -> 0.850 ± 0.010" in text and "+15.0 points" in text
    assert pipeline.headline({"evaluate": _eval(0.85, 8000)}) == []


def test_report_shows_before_and_after(tmp_path: Path):
    import json

    from dcai.evaluate.report_section import render_section

    raw = {**_eval(0.70, 2000), "val_acc_mean": 0.7, "val_acc_std": 0.0}
    after = {**_eval(0.85, 8000), "val_acc_mean": 0.9, "val_acc_std": 0.0}
    from dcai import manifest

    (tmp_path / "02-evaluate_raw").mkdir()
    (tmp_path / "02-evaluate_raw" / "report.json").write_text(json.dumps(raw))
    manifest.write(manifest.empty(), tmp_path / "02-evaluate_raw" / "manifest.parquet")  # a complete stage
    html = render_section(tmp_path, tmp_path / "09-evaluate", after)
    assert "Before → after" in html and "+15.0" in html
    assert "Before" not in render_section(tmp_path, tmp_path / "02-evaluate_raw", raw)


def test_gpu_recipe_asks_every_training_stage_for_gpus():
    """An autoscaler starts GPU nodes only for tasks that request GPUs: the GPU recipe names them all,
    none left to "auto" (-1), and otherwise is the competition recipe."""
    from dcai.pipeline import load_pipeline_config

    gpu = load_pipeline_config("competition-gpu.yaml")
    base = load_pipeline_config("competition.yaml")
    assert gpu["stages"] == base["stages"] and gpu["vote"]["epochs"] == base["vote"]["epochs"]
    asks = {"vote": "gpus_per_trial", "tune": "gpus_per_trial", "evaluate": "gpus_per_worker"}
    asks["evaluate_raw"] = "gpus_per_worker"
    assert {s for s in gpu["stages"] if s in asks} == set(asks)
    for stage, key in asks.items():
        assert 0 < gpu[stage][key] <= 1, stage
    assert gpu["evaluate"]["backend"] == "train"
    pipeline.check_sections(pipeline.resolve_config("competition-gpu.yaml"), gpu, None)


def test_extends_merges_over_the_base_and_refuses_a_circle(tmp_path: Path):
    from dcai.pipeline import load_pipeline_config

    (tmp_path / "a.yaml").write_text("stages: [ingest, balance]\nbalance: {budget: 50, per_class: 0}\n")
    (tmp_path / "b.yaml").write_text("extends: a.yaml\nbalance: {budget: 70}\n")
    assert load_pipeline_config(tmp_path / "b.yaml")["balance"] == {"budget": 70, "per_class": 0}
    (tmp_path / "c.yaml").write_text("extends: d.yaml\n")
    (tmp_path / "d.yaml").write_text("extends: c.yaml\n")
    with pytest.raises(ConfigError, match="circle"):
        load_pipeline_config(tmp_path / "c.yaml")


def _effective(config: str, preset: str | None, sets: list[str], name: str):
    path = pipeline.resolve_config(config)
    data, sets_data = pipeline.check_config(path, sets, preset)
    stage = stages.get(name)
    assert stage.pipeline is not None
    blank = pipeline.PipelineContext(input_dir="", output_dir="", run_dir="", preset=preset, force=False)
    return pipeline._config(stage, stage.pipeline(blank, data.get(name) or {}), preset, sets_data.get(name))


def test_tiny_is_tiny_whatever_the_file_says_and_set_has_the_last_word():
    vote = _effective("competition.yaml", "tiny", [], "vote")
    assert (vote.folds, vote.epochs) == (2, 2)  # the file says 5 folds x 30 epochs
    assert _effective("competition.yaml", "tiny", [], "evaluate").seeds == 2  # the file says 3
    assert _effective("competition.yaml", "tiny", ["vote.epochs=3"], "vote").epochs == 3
    assert _effective("competition.yaml", None, [], "vote").epochs == 30


@pytest.mark.parametrize(
    "text, sets, message",
    [
        (
            "stages: [ingest, export]\ningset: {}\n",
            [],
            r"unknown section 'ingset' \(did you mean 'ingest'\?\)",
        ),
        ("stages: [ingest, exprot]\n", [], r"unknown stage 'exprot' \(did you mean 'export'\?\)"),
        ("stages: [ingest]\ntune: {}\n", [], r"section 'tune' is for a stage that is not in stages"),
        ("stages: [ingest, vote]\n", ["nonsense=3"], r"--set nonsense=VALUE: .*unknown stage 'nonsense'"),
        ("stages: [ingest, vote]\n", ["vote.epoch=3"], r"unknown key 'epoch' \(did you mean 'epochs'\?\)"),
        ("stages: [ingest, vote]\n", ["vote.epochs=abc"], r"vote: epochs must be an integer, got 'abc'"),
        ("stages: [ingest, vote]\nvote: {folds: many}\n", [], r"vote: folds must be an integer, got 'many'"),
    ],
)
def test_the_whole_config_is_checked_first(tmp_path: Path, text: str, sets: list[str], message: str):
    cfg = tmp_path / "p.yaml"
    cfg.write_text(text)
    with pytest.raises(ConfigError, match=message):
        pipeline.run_pipeline(cfg, input_dir=str(tmp_path), output_dir=str(tmp_path / "out"), sets=sets)
    assert not (tmp_path / "out").exists()  # nothing ran
