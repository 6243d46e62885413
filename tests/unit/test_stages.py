"""The stage registry: every verb and flag the CLI had, every stage's parts resolvable, one table read by
the CLI, ``dcai pipeline``, the report and ``ray_jobs/``."""

from __future__ import annotations

import dataclasses
import importlib
from pathlib import Path

import pytest

from dcai import cli, pipeline, stages
from dcai.stage import Stage

ROOT = Path(__file__).resolve().parents[2]

# every verb with every flag it takes (besides the common ones): what the CLI offered before the registry
VERBS = {
    "synth": ["OUT", "--n", "10", "--seed", "1"],
    "ingest": ["SRC", "--run", "R", "--classes", "i,ii"],
    "dedup": ["--run", "R", "--against", "OLD", "--threshold", "0.9"],
    "investigate": ["--run", "R", "--simulate-reviewer", "t.csv"],
    "vote": ["--run", "R", "--members", "lenet5,alexnet"],
    "embed": ["--run", "R"],
    "value": ["--run", "R"],
    "review": ["--run", "R", "--out", "q.csv", "--import", "d.csv", "--simulate-reviewer", "t.csv"],
    "clean": ["--run", "R", "--auto"],
    "tune": ["--run", "R", "--backend", "local"],
    "augment": ["--run", "R", "--classifier", "m:f"],
    "gan": ["--run", "R", "--backend", "local"],
    "balance": ["--run", "R", "--budget", "40", "--mode", "cap"],
    "split": ["--run", "R", "--folds", "4", "--val-fold", "1", "--test-fraction", "0.1"],
    "export": ["--run", "R", "--out", "O", "--max-images", "5", "--trim"],
    "evaluate": ["--data", "D", "--test", "T", "--seeds", "2", "--epochs", "1", "--device", "cpu", "--backend", "local"],
    "report": ["--run", "R"],
    "pipeline": ["c.yaml", "--input", "I", "--output", "O", "--run", "R", "--test", "T", "--set", "a.b=1"],
}  # fmt: skip


def _targets(stage: Stage) -> list[str]:
    return [f.target for f in (stage.run, stage.summary, stage.section) if hasattr(f, "target")]


def test_every_verb_and_flag_parses():
    parser, handlers = cli.build_parser()
    assert set(handlers) == set(VERBS)
    for verb, argv in VERBS.items():
        common = [] if verb in ("report", "pipeline") else ["--set", "x=1", "--preset", "tiny", "--force"]
        args = parser.parse_args([verb, *argv, *common, "--json"])
        assert args.verb == verb and args.json


def test_flags_become_config_overrides_and_run_inputs():
    parser, _ = cli.build_parser()
    call = stages.get("split").from_args(parser.parse_args(["split", *VERBS["split"]]))
    assert call.overrides == {"n_folds": 4, "val_fold": 1, "test_fraction": 0.1} and call.inputs == {}
    call = stages.get("dedup").from_args(parser.parse_args(["dedup", *VERBS["dedup"]]))
    assert call.overrides == {"threshold": 0.9} and call.inputs == {"against": "OLD"}
    call = stages.get("ingest").from_args(parser.parse_args(["ingest", *VERBS["ingest"]]))
    assert call.overrides == {"classes": ("i", "ii")} and call.inputs == {"source": "SRC"}


@pytest.mark.parametrize("stage", stages.STAGES, ids=lambda s: s.name)
def test_every_stage_resolves_and_loads_its_config(stage: Stage):
    for target in _targets(stage):
        module, name = target.split(":")
        assert callable(getattr(importlib.import_module(module), name)), target
    assert dataclasses.is_dataclass(stage.config) and stage.config() is not None
    for preset in stage.config.PRESETS:
        stage.config().replace(**stage.config.PRESETS[preset])


def test_names_are_unique_and_pipeline_steps_are_known():
    assert len(stages.BY_NAME) == len(stages.STAGES)
    assert {s.name for s in stages.STAGES if s.pipeline is not None} >= {
        "ingest", "dedup", "investigate", "vote", "clean", "tune", "augment", "balance", "split", "export",
        "evaluate", "evaluate_raw",
    }  # fmt: skip
    with pytest.raises(Exception, match="not a pipeline step"):
        pipeline.check_sections(Path("p.yaml"), {"stages": ["review"]}, None)
    with pytest.raises(Exception, match="unknown stage 'nope'"):
        pipeline.check_sections(Path("p.yaml"), {"stages": ["nope"]}, None)


def test_every_ray_job_names_a_verb():
    _, handlers = cli.build_parser()
    for path in sorted((ROOT / "ray_jobs").glob("*.py")):
        if path.stem != "stage":
            assert f'job("{path.stem}", sys.argv[1:])' in path.read_text(), path.name
            assert path.stem in handlers, path.name
    assert cli.job("no-such-verb", []) == 2
