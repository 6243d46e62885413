"""The paper's GAN networks and losses (dcai/gan/nets.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dcai.gan import nets, train


def test_gan_shapes_and_paper_layer_counts():
    g, d = nets.Generator(10), nets.Discriminator(10)
    convs = (torch.nn.Conv2d, torch.nn.ConvTranspose2d)
    assert sum(isinstance(m, convs) for m in g.net.modules()) == 8  # "eight convolutional layers"
    assert sum(isinstance(m, torch.nn.Conv2d) for m in d.net.modules()) == 5  # "five convolutional layers"
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in g.net.modules()) == 7  # all but the last
    z = nets.truncated_noise(4, generator=torch.Generator().manual_seed(0))
    assert z.shape == (4, nets.NOISE) and float(z.abs().max()) <= nets.TRUNCATION
    x = g(z, torch.arange(4))
    assert x.shape == (4, 1, 32, 32) and float(x.min()) >= 0.0 and float(x.max()) <= 255.0
    assert d(x, torch.arange(4)).shape == (4,)


def test_generator_loss_signs():
    disc = torch.zeros(6)
    labels = torch.zeros(6, dtype=torch.long)
    right = torch.tensor([[5.0] + [0.0] * 9] * 6)  # the classifier is sure and right
    wrong = torch.tensor([[0.0, 5.0] + [0.0] * 8] * 6)  # sure and wrong
    # γ > 0 rewards images the classifier gets wrong: a lower generator loss for them
    assert nets.generator_loss(disc, wrong, labels, gamma=0.5, delta=1.0) < nets.generator_loss(
        disc, right, labels, gamma=0.5, delta=1.0
    )
    # with γ = 0 only the discriminator term is left
    assert float(nets.generator_loss(disc, wrong, labels, gamma=0.0, delta=1.0)) == pytest.approx(
        float(torch.nn.functional.binary_cross_entropy_with_logits(disc, torch.ones(6)))
    )
    assert nets.gamma_at(0, gamma=0.5, ramp_steps=100) == 0.0
    assert nets.gamma_at(50, gamma=0.5, ramp_steps=100) == 0.25
    assert nets.gamma_at(500, gamma=0.5, ramp_steps=100) == 0.5


# ---- training: γ's push, checkpoints and resume --------------------------------------------------

CLASSES = ["i", "ii", "iv", "vi"]


def _real(n_per_class: int = 4, size: int = 32):
    from tests.helpers import draw_numeral

    x = np.stack([draw_numeral(c, size=size, seed=k) for c in CLASSES for k in range(n_per_class)]).astype(
        np.float32
    )
    y = np.repeat(np.arange(len(CLASSES)), n_per_class)
    return x, y


def _classifier_state(seed: int = 0) -> dict:
    from dcai.models.fixed import fixed_net

    torch.manual_seed(seed)
    return fixed_net(len(CLASSES)).state_dict()


def _trainer(**changes) -> train.GanTrainer:
    x, y = _real()
    settings = train.Settings(**{"iterations": 4, "batch_size": 8, "width": 8, "ramp": 0.0, **changes})
    return train.GanTrainer(
        x, y, _classifier_state(), num_classes=len(CLASSES), settings=settings, device="cpu"
    )


def _fake_ce(t: train.GanTrainer, z: torch.Tensor, labels: torch.Tensor) -> float:
    with torch.no_grad():
        return float(torch.nn.functional.cross_entropy(t.classifier(train.as_rgb(t.gen(z, labels))), labels))


def test_gamma_pushes_the_classifiers_loss_on_the_fakes_up():
    z = torch.randn(32, nets.NOISE, generator=torch.Generator().manual_seed(3))
    labels = torch.arange(32) % len(CLASSES)
    pushed = _trainer(gamma=1.0, gamma_cap=1.0, delta=0.0, lr=1e-3)
    before = _fake_ce(pushed, z, labels)
    pushed.train(5)
    assert _fake_ce(pushed, z, labels) > before  # the generator climbs the classifier's loss
    still = _trainer(gamma=0.0, delta=0.0, lr=1e-3)
    before = _fake_ce(still, z, labels)
    still.train(5)
    assert _fake_ce(still, z, labels) == pytest.approx(before)  # no term, no push
    # the cap is the guard: γ above it is trained at the cap
    assert _trainer(gamma=2.0, gamma_cap=0.5).s.gamma_max == 0.5


def _same_weights(a: dict, b: dict) -> bool:
    return all(torch.equal(a[k], b[k]) for k in a)


def test_resume_from_a_checkpoint_continues_exactly(tmp_path):
    straight = _trainer()
    straight.train(4)
    first = _trainer()
    first.train(2)
    train.save(first.state_dict(), tmp_path / train.CHECKPOINT)
    resumed = train.train_local(
        *_real(), _classifier_state(), num_classes=len(CLASSES), settings=first.s, checkpoint_dir=tmp_path,
        every=1, device="cpu",
    )  # fmt: skip
    assert resumed.step == 4 and resumed.resumed == [2]
    assert _same_weights(resumed.gen.state_dict(), straight.gen.state_dict())
    assert _same_weights(resumed.disc.state_dict(), straight.disc.state_dict())
    assert resumed.history == straight.history
    assert train.load(tmp_path / train.CHECKPOINT)["step"] == 4  # saved at every checkpoint and at the end
    with pytest.raises(ValueError, match="checkpoint is for settings"):
        _trainer(gamma=0.1).load_state_dict(first.state_dict())


def test_unconditional_discriminator_sees_one_class():
    t = _trainer(conditional_disc=False)
    assert torch.equal(t._disc_labels(torch.tensor([1, 2, 3])), torch.zeros(3, dtype=torch.long))


# ---- the stage (local backend): rows, lineage, the search -----------------------------------------


def reads_first_class(table, *, classes):
    """A validity classifier factory for the tests: reads every image as the first class (so only images
    generated as it are kept, and the others are counted as rejected)."""
    return lambda batch: np.tile(np.eye(len(classes))[0], (len(batch), 1))


def make_run(tmp_path):
    from dcai import manifest
    from dcai.runs import Run, StageOutput
    from tests.helpers import draw_numeral, save_png

    rows = []
    for c in CLASSES:
        for k in range(5):
            split = "train" if k < 3 else "val"
            uri = save_png(draw_numeral(c, size=40, seed=k), tmp_path / "src" / split / c / f"{k}.png")
            rows.append({"id": manifest.row_id(str(uri)), "uri": str(uri), "label": c, "split": split,
                         "origin": manifest.ORIGINAL})  # fmt: skip
    run_dir = tmp_path / "run"
    Run(run_dir).execute("ingest", lambda _t, _c: StageOutput(manifest.from_rows(rows)), needs_input=False)
    return run_dir


def _tiny(**over):
    from dcai.config import load
    from dcai.gan.config import GanConfig

    return load(
        GanConfig,
        preset="tiny",
        overrides={"backend": "local", "validity": f"{__name__}:reads_first_class", **over},
    )


@pytest.mark.slow
def test_a_generated_row_names_its_generator_and_regenerates_from_it(tmp_path):
    import hashlib

    from dcai import imaging
    from dcai.gan import sample
    from dcai.gan.pipeline import run
    from dcai.gan.report_section import render_section
    from dcai.runs import Run

    run_dir = make_run(tmp_path)
    report, ran = run(str(run_dir), _tiny())
    assert ran and report["added_total"] == 2  # per_class 2, and only the first class passes validity
    assert report["per_class"]["ii"]["kept"] == 0 and report["per_class"]["ii"]["reads as another class"] == 8
    # an untrained generator draws look-alikes: the dedup check drops the copies among them
    assert report["per_class"]["i"]["kept"] == 2 and report["drawn"] == 24 + sum(
        report["per_class"]["i"].values()
    )
    assert report["validity_rejection_rate"] == pytest.approx(24 / report["drawn"], abs=1e-4)
    table = Run(run_dir).manifest("gan")
    before = Run(run_dir).manifest("ingest")
    assert table.slice(0, before.num_rows).select(before.column_names).equals(before)  # nothing written over
    rows = [r for r in table.to_pylist() if r["origin"] == "gan"]
    assert len(rows) == 2 and {r["label"] for r in rows} == {"i"} and {r["split"] for r in rows} == {"train"}
    for r in rows:
        assert r["parent"] is None and r["reason"].startswith("gan: generated as i")
        assert (r["gan_gamma"], r["gan_delta"], r["gan_step"]) == (0.5, 1.0, 6)
        ckpt = r["gan_checkpoint"]
        assert (
            ckpt.startswith(str(run_dir))
            and hashlib.sha1(open(ckpt, "rb").read()).hexdigest() == r["gan_checkpoint_sha1"]
        )
        gen = train.generator_from(train.load(ckpt))
        (again,) = sample.draw(gen, np.zeros(1, dtype=int), [r["gan_seed"]])
        # the checkpoint and the seed give the image back (a batch of one rounds a few pixels the other way)
        assert np.abs(again.astype(int) - imaging.load(r["uri"])).max() <= 1
    html = render_section(run_dir, Run(run_dir).stage_dir("gan"), report)
    assert "fixed:" in html and "validity: i" in html and "γ = 0.5" in html
    assert run(str(run_dir), _tiny())[1] is False  # unchanged: skipped


def test_the_dedup_check_drops_a_copy_of_a_run_image(tmp_path):
    from dcai import imaging
    from dcai.gan.sample import Index
    from tests.helpers import draw_numeral

    run_images = [draw_numeral(c, size=32, seed=0) for c in CLASSES]
    index = Index.of([imaging.encode_png(im) for im in run_images])
    assert index.copy_of(imaging.encode_png(run_images[1]), threshold=0.95) == "same pixels as a run image"
    shifted = np.roll(run_images[2], 1, axis=1)
    assert "ink mask overlap" in (index.copy_of(imaging.encode_png(shifted), threshold=0.95) or "")
    new = draw_numeral("x", size=32, seed=5)
    assert index.copy_of(imaging.encode_png(new), threshold=0.95) is None
    assert (
        index.copy_of(imaging.encode_png(new), threshold=0.95) == "same pixels as a run image"
    )  # kept ones count


@pytest.mark.slow
def test_local_search_returns_a_winner_and_its_images_are_written(tmp_path):
    from dcai.gan.pipeline import run
    from dcai.gan.report_section import render_section
    from dcai.runs import Run

    run_dir = make_run(tmp_path)
    report, _ = run(str(run_dir), _tiny(tuned=True, min_gain=-1.0))
    found = report["search"]
    assert [t["trial"] for t in found["trials"]] == [0, 1]
    assert all(len(t["gain"]) == t["epochs_run"] >= 1 for t in found["trials"])
    assert found["best_params"] in [t["params"] for t in found["trials"]]
    assert report["settings"]["gamma"] == found["best_params"]["gamma"]
    assert report["settings"]["per_class"] == found["best_params"]["images"]
    assert report["added_total"] == found["best_params"]["images"]  # the first class passes validity
    stage_dir = Run(run_dir).stage_dir("gan")
    assert (stage_dir / "trials.parquet").exists()
    html = render_section(run_dir, stage_dir, report)
    assert "<svg" in html and "Winner: trial" in html and "trial 1" in html  # the trials plot and table
    # a winner that must beat ordinary augmentation by more than 1.0 adds nothing
    report, _ = run(str(run_dir), _tiny(tuned=True, min_gain=1.0), force=True)
    assert report["added_total"] == 0 and "does not beat" in report["skipped"]


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"backend": "slurm"}, "backend must be one of ['ray', 'local']"),
        ({"ramp": 2.0}, "ramp must be in [0, 1]"),
        (
            {"space": {"lr": [0, 1]}},
            "unknown parameter(s) ['lr']; allowed: ['gamma', 'delta', 'ramp', 'images']",
        ),
        ({"space": {"ramp": [0, 3]}}, "space['ramp']: a fraction of the iterations"),
        ({"validity": "lenet"}, "validity must be 'module:factory'"),
        ({"batch_size": 1}, "batch_size must be >= 2"),
    ],
)
def test_config_errors_name_the_allowed_values(changes, message):
    from dcai.config import ConfigError
    from dcai.gan.config import GanConfig

    with pytest.raises(ConfigError, match="GanConfig") as e:
        GanConfig(**changes)
    assert message in str(e.value)
