"""Ray wiring of the engine: TorchTrainer on 2 CPU workers, resume after a killed worker, Tune fan-out."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from ray import cloudpickle
from torch import nn

from dcai.train.pipeline import FitSpec, fan_out, train

# Ray workers cannot import this test module by name: ship its functions (tiny_net) by value.
cloudpickle.register_pickle_by_value(sys.modules[__name__])


def tiny_net() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, stride=2),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.AvgPool2d(7),
        nn.Flatten(),
        nn.Linear(4, 3),
    )


def spec(seeds, epochs=3, on_epoch_start=None) -> FitSpec:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 24)
    x = np.clip(rng.normal(60 + 70 * y[:, None, None, None], 30, (24, 16, 16, 3)), 0, 255).astype(np.uint8)
    return FitSpec(
        tiny_net,
        x,
        y,
        x[:12],
        y[:12],
        seeds=list(seeds),
        epochs=epochs,
        options={"device": "cpu"},
        on_epoch_start=on_epoch_start,
    )


def test_torch_trainer_two_workers_split_the_models(ray_local, tmp_path):
    results = train(spec([0, 1, 2]), num_workers=2, storage_path=tmp_path, name="split")
    assert [r.seed for r in results] == [0, 1, 2]
    assert all(len(r.history) == 3 and 1 <= r.best_epoch <= 3 for r in results)
    assert "5.weight" in results[0].state_dict  # plain state_dicts, loadable into tiny_net()


def test_killed_worker_resumes_from_last_epoch_checkpoint(ray_local, tmp_path):
    marker, log = tmp_path / "failed-once", tmp_path / "epochs.log"

    def fail_once_at_epoch_2(rank: int, epoch: int) -> None:
        # runs inside the Ray worker: record where each attempt starts, die once before epoch 3
        with open(log, "a") as f:
            f.write(f"{rank}:{epoch}\n")
        if epoch == 2 and not marker.exists():
            marker.touch()
            raise RuntimeError("planted failure: worker dies before epoch 3")

    results = train(
        spec([0, 1], epochs=4, on_epoch_start=fail_once_at_epoch_2),
        num_workers=2,
        max_failures=1,
        storage_path=tmp_path,
        name="resume",
    )
    assert marker.exists()
    started = [line.split(":") for line in Path(log).read_text().split()]
    epochs_rank0 = [int(e) for r, e in started if r == "0"]
    # first attempt: epochs 0, 1, then 2 fails; the retry starts at 2 (resumed), not at 0 (restarted)
    assert epochs_rank0 == [0, 1, 2, 2, 3]
    assert all([h["epoch"] for h in r.history] == [1, 2, 3, 4] for r in results)


def test_tune_fan_out_one_trial_per_spec(ray_local, tmp_path):
    out = fan_out(
        [spec([0], epochs=2), spec([5, 6], epochs=2)], cpus_per_trial=1, storage_path=tmp_path, name="fan"
    )
    assert [[r.seed for r in group] for group in out] == [[0], [5, 6]]
    assert all(len(r.history) == 2 for group in out for r in group)


@pytest.mark.slow
def test_evaluate_backend_train(ray_local, tmp_path):
    from dcai.evaluate.config import EvaluateConfig
    from dcai.evaluate.pipeline import run
    from tests.helpers import make_good

    make_good(tmp_path / "d", split="train", per_class=3)
    make_good(tmp_path / "d", split="val", per_class=1)
    cfg = EvaluateConfig(
        seeds=2,
        epochs=1,
        device="cpu",
        backend="train",
        num_workers=2,
        cache=False,
        storage_path=str(tmp_path / "ray"),
    )
    report, _ = run(None, cfg, data_dir=tmp_path / "d")
    assert report["seeds"] == [0, 1] and report["backend"] == "train"
    # one seed at a time: the seed groups go to fit_many's elastic Trainer, in the seeds' order
    report, _ = run(None, cfg.replace(models_at_once=1, seeds=3), data_dir=tmp_path / "d")
    assert report["seeds"] == [0, 1, 2] and report["backend"] == "train"


def test_fit_many_one_trainer_splits_the_specs(ray_local, tmp_path):
    """Three specs (one of two models) on one TorchTrainer with two workers; the same models as the local
    engine fits with the same seeds."""
    import torch

    from dcai.train import engine
    from dcai.train.pipeline import fit_many

    specs = [spec([0], epochs=2), spec([5, 6], epochs=2), spec([9], epochs=3)]
    out = fit_many(specs, max_workers=2, storage_path=tmp_path, name="many")
    assert [[r.seed for r in g] for g in out] == [[0], [5, 6], [9]]
    assert [len(g[0].history) for g in out] == [2, 2, 3]
    torch.set_num_threads(1)  # as in the 1-CPU Ray worker: the same summation order
    local = engine.fit(tiny_net, *(specs[1].x_train, specs[1].y_train, specs[1].x_val, specs[1].y_val),
                       seeds=[5, 6], epochs=2, **specs[1].options)  # fmt: skip
    for a, b in zip(local, out[1]):
        assert a.seed == b.seed and a.best_epoch == b.best_epoch
        for k in a.state_dict:
            assert torch.allclose(a.state_dict[k].float(), b.state_dict[k].float(), atol=1e-5), k


def test_fit_many_worker_process_killed_mid_training_resumes_at_its_epoch(ray_local, tmp_path):
    """The worker's process dies (os._exit) before epoch 3 of spec 1; Ray Train restarts the group and the
    spec resumes from its epoch-2 checkpoint, ending with the models an unbroken fit gives."""
    from dcai.train.pipeline import fit_many

    marker, log = tmp_path / "died", tmp_path / "epochs.log"

    def die_once(i: int, epoch: int) -> None:
        with open(log, "a") as f:
            f.write(f"{i}:{epoch}\n")
        if i == 1 and epoch == 2 and not marker.exists():
            marker.touch()
            # Ray Train's controller collects the workers' reports every 2 s
            # (RAY_TRAIN_HEALTH_CHECK_INTERVAL_S); a report it has not collected dies with its worker. The
            # node goes a few collections after its last report, so the fit has a checkpoint to resume.
            time.sleep(6.0)
            os._exit(1)  # the whole worker process goes, as on a lost node

    specs = [spec([0], epochs=4, on_epoch_start=die_once), spec([5, 6], epochs=4, on_epoch_start=die_once)]
    out = fit_many(specs, max_workers=2, max_failures=2, storage_path=tmp_path, name="killed")
    started = [tuple(map(int, ln.split(":"))) for ln in log.read_text().split()]
    assert marker.exists()
    spec1 = [e for i, e in started if i == 1]
    # died before epoch 3 (index 2); the retry starts at the last epoch every worker had checkpointed
    # (1 or 2, as the other worker was before or after its own report), never at 0
    resumed = spec1[3]
    assert spec1[:3] == [0, 1, 2] and 1 <= resumed <= 2 and spec1[3:] == list(range(resumed, 4))
    unbroken = fit_many([spec([5, 6], epochs=4)], storage_path=tmp_path, name="unbroken")
    for a, b in zip(unbroken[0], out[1]):
        assert a.best_epoch == b.best_epoch and [h["loss"] for h in a.history] == [
            h["loss"] for h in b.history
        ]


def test_tune_of_trainers_one_trainer_per_spec(ray_local, tmp_path):
    from dcai.train.pipeline import fan_out_trainers

    out = fan_out_trainers([spec([0], epochs=2), spec([5, 6], epochs=2)], storage_path=tmp_path, name="tt")
    assert [[r.seed for r in group] for group in out] == [[0], [5, 6]]
    assert all(len(r.history) == 2 for group in out for r in group)
