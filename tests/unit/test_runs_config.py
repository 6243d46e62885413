from dataclasses import dataclass

import pytest

from dcai import manifest
from dcai.config import ConfigError, StageConfig, load, parse_sets
from dcai.runs import Run, StageOutput


def _ingest(rows):
    def fn(_, ctx):
        return StageOutput(manifest.from_rows(rows), {"n": len(rows)})

    return fn


ROWS = [
    {"id": f"r{i}", "uri": f"/u/{i}", "label": "i", "split": "train", "origin": "original"} for i in range(3)
]


def test_stage_skipped_when_unchanged_and_rerun_when_forced(tmp_path):
    run = Run(tmp_path / "run")
    calls = []

    def touch(table, ctx):
        calls.append(1)
        return StageOutput(manifest.with_column(table, "score", [1.0] * table.num_rows))

    run.execute("ingest", _ingest(ROWS), config={}, needs_input=False)
    d, _, ran = run.execute("score", touch, config={"a": 1})
    assert ran and d.name == "02-score" and len(calls) == 1
    _, _, ran = run.execute("score", touch, config={"a": 1})
    assert not ran and len(calls) == 1
    _, _, ran = run.execute("score", touch, config={"a": 2})  # config changed
    assert ran and len(calls) == 2
    _, _, ran = run.execute("score", touch, config={"a": 2}, force=True)
    assert ran and len(calls) == 3
    run.execute(
        "ingest", _ingest(ROWS[:2] + [{**ROWS[2], "label": "ii"}]), config={}, needs_input=False, extra_key=2
    )
    _, _, ran = run.execute("score", touch, config={"a": 2})  # input changed
    assert ran and [n for _, n, _ in run.stages()] == ["ingest", "score"]


def test_killed_stage_leaves_previous_output_and_no_partial(tmp_path):
    run = Run(tmp_path / "run")
    run.execute("ingest", _ingest(ROWS), config={}, needs_input=False)

    def boom(table, ctx):
        (ctx.images_dir / "half.png").write_bytes(b"x")
        raise KeyboardInterrupt  # what a kill looks like from inside

    with pytest.raises(KeyboardInterrupt):
        run.execute("next", boom)
    assert [n for _, n, _ in run.stages()] == ["ingest"]
    assert run.manifest().num_rows == 3
    assert [p.name for p in (tmp_path / "run").glob(".*")] == [".lock"]  # no temp folder left


def test_stage_may_not_delete_rows(tmp_path):
    run = Run(tmp_path / "run")
    run.execute("ingest", _ingest(ROWS), config={}, needs_input=False)
    with pytest.raises(manifest.ManifestError, match="never delete rows"):
        run.execute("drop", lambda t, ctx: StageOutput(t.slice(0, 1)))


def test_stage_needing_input_on_empty_run(tmp_path):
    with pytest.raises(FileNotFoundError, match="run `dcai ingest` first"):
        Run(tmp_path / "r").execute("dedup", lambda t, c: StageOutput(t))


@dataclass(frozen=True)
class DemoConfig(StageConfig):
    k: int = 5
    rate: float = 0.1
    names: tuple[str, ...] = ("a",)

    PRESETS = {"tiny": {"k": 1}}

    def __post_init__(self):
        self._check(0 <= self.rate <= 1, f"rate must be in [0, 1], got {self.rate}")


def test_config_layers_and_errors(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("demo:\n  k: 7\n  names: [x, y]\n")
    cfg = load(DemoConfig, f, ["rate=0.5"], section="demo")
    assert cfg == DemoConfig(k=7, rate=0.5, names=("x", "y"))
    # the preset comes after the file (tiny is tiny whatever the file says), --set after the preset
    assert load(DemoConfig, f, preset="tiny", section="demo").k == 1
    assert load(DemoConfig, f, ["k=3"], preset="tiny", section="demo").k == 3
    assert load(DemoConfig, preset="tiny", overrides={"k": 4}).k == 4  # a verb's own flag beats the preset
    with pytest.raises(
        ConfigError, match=r"demo: unknown key 'kk' \(did you mean 'k'\?\); valid: k, names, rate"
    ):
        load(DemoConfig, sets=["kk=1"])
    with pytest.raises(ConfigError, match=r"demo: unknown key 'nonsense'; valid: k, names, rate"):
        load(DemoConfig, sets=["nonsense=3"])
    with pytest.raises(ConfigError, match=r"rate must be in \[0, 1\], got 2"):
        load(DemoConfig, sets=["rate=2"])
    with pytest.raises(ConfigError, match="demo: k must be an integer, got 'abc'"):
        load(DemoConfig, sets=["k=abc"])
    with pytest.raises(ConfigError, match="demo: rate must be a number, got 'fast'"):
        load(DemoConfig, sets=["rate=fast"])
    with pytest.raises(ConfigError, match=r"demo: names\[1\] must be a string, got 3"):
        load(DemoConfig, sets=["names=[a, 3]"])
    with pytest.raises(ConfigError, match="demo: k must be an integer, got True"):
        load(DemoConfig, sets=["k=true"])
    assert load(DemoConfig, sets=["rate=1"]).rate == 1.0 and load(DemoConfig, sets=["names=z"]).names == (
        "z",
    )
    with pytest.raises(ConfigError, match="unknown preset 'huge'"):
        load(DemoConfig, preset="huge")
    assert parse_sets(["a.b=3", "c=[1, 2]", "d=x"]) == {"a": {"b": 3}, "c": [1, 2], "d": "x"}
    with pytest.raises(ConfigError, match="key=value"):
        parse_sets(["novalue"])


def test_a_run_that_is_a_file_is_named_as_such(tmp_path):
    from dcai.runs import RunError

    f = tmp_path / "notes.txt"
    f.write_text("x")
    with pytest.raises(RunError, match="--run is a file"):
        Run(f).stages()
    with pytest.raises(RunError, match="--run is a file"):
        Run(f).execute("ingest", _ingest(ROWS), needs_input=False)
    assert f.read_text() == "x"


def test_user_errors_are_told_apart_from_bugs():
    import errno

    from dcai.errors import InputError, user_error

    full = OSError(errno.ENOSPC, "No space left on device", "/data/run/x.parquet")
    assert user_error(full) == "/data/run/x.parquet: no space left on device (the disk is full)"
    assert user_error(OSError("IOError: Read-only file system")) == "read-only file system"
    assert user_error(InputError("a.yaml: bad")) == "a.yaml: bad"

    class TaskError(Exception):  # what a Ray task error looks like: the worker's exception as .cause
        cause = full

    assert user_error(TaskError()) == "/data/run/x.parquet: no space left on device (the disk is full)"
    assert user_error(KeyError("x")) is None and user_error(OSError(errno.EIO, "I/O error")) is None
