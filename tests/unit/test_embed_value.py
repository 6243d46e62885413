"""embed and value without Ray: SupCon, kept checkpoints, the out-of-fold kNN, TracIn on planted noise."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
import torch
from torch import nn

from dcai import manifest
from dcai.embed import knn
from dcai.train import contrastive, crossfit, engine


class Tiny(nn.Module):
    """A two-layer net over 4 x 4 RGB images whose last layer is ``fc`` (what TracInCPFast reads)."""

    def __init__(self, out: int = 3):
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(4 * 4 * 3, 16), nn.ReLU())
        self.fc = nn.Linear(16, out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.body(x / 255.0))


def blobs(n: int, c: int = 3, *, seed: int = 0, noise: float = 25.0):
    """``(n, 4, 4, 3)`` images around one random centre per class, and their labels ``(n,)``."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % c
    centres = np.random.default_rng(99).uniform(0, 255, (c, 4, 4, 3))
    x = np.clip(centres[y] + rng.normal(0, noise, (n, 4, 4, 3)), 0, 255).astype(np.float32)
    return x, y


def test_supcon_is_low_for_tight_class_clusters_and_ignores_anchors_without_positives():
    labels = torch.tensor([[0, 0, 1, 1, 2]])
    tight = torch.tensor([[[1.0, 0], [1, 0.01], [0, 1], [0.01, 1], [-1, 0]]])
    mixed = torch.tensor([[[1.0, 0], [0, 1], [1, 0.01], [0.01, 1], [-1, 0]]])
    low, high = contrastive.supcon(tight, labels), contrastive.supcon(mixed, labels)
    assert low[0, :4].mean() < high[0, :4].mean()
    assert low[0, 4] == 0 and high[0, 4] == 0  # class 2 has one row: no positive, no loss


def test_engine_supcon_embeds_classes_apart_and_keeps_checkpoints():
    x, y = blobs(90)
    res = engine.fit(lambda: Tiny(8), x, y, seeds=[0], epochs=6, batch_size=16, lr=3e-3, keep_best=False,
                     loss="supcon", keep_epochs=(3, 6), device="cpu")  # fmt: skip
    assert sorted(res[0].checkpoints) == [3, 6]
    assert not torch.equal(res[0].checkpoints[3]["fc.weight"], res[0].checkpoints[6]["fc.weight"])
    emb = engine.predict(lambda: Tiny(8), [res[0].state_dict], x, device="cpu", logits=True)[0]
    nb = knn.neighbours(emb[None], np.zeros(len(y), int), y, 3, k=5)
    assert (nb["top"] == y).mean() > 0.95
    with pytest.raises(ValueError, match="validation"):
        engine.fit(lambda: Tiny(8), x, y, x, y, epochs=1, loss="supcon", device="cpu")


def test_kept_checkpoints_survive_a_resume():
    x, y = blobs(40)
    opts = dict(seeds=[0], batch_size=8, lr=1e-3, keep_best=False, keep_epochs=(1, 2), device="cpu")
    a = engine.Trainer(Tiny, x, y, **opts)
    a.train_epoch()
    b = engine.Trainer(Tiny, x, y, **opts)
    b.load_state_dict(a.state_dict())
    b.train_epoch()
    assert sorted(b.results()[0].checkpoints) == [1, 2]


def test_knn_never_reads_an_images_own_label():
    rng = np.random.default_rng(0)
    n, k_folds = 60, 3
    emb = rng.normal(size=(k_folds, n, 4)).astype(np.float32)
    folds = np.arange(n) % k_folds
    folds[:3] = -1  # rows outside every fold: looked up in every model's space
    y = rng.integers(0, 3, n)
    base = knn.neighbours(emb, folds, y, 3, k=5)
    assert not (base["index"] == np.arange(n)[:, None]).any()  # never its own neighbour
    for i in (0, 7, 31):
        for other in range(3):
            y2 = y.copy()
            y2[i] = other
            moved = knn.neighbours(emb, folds, y2, 3, k=5)
            for key in ("dist", "top", "top_share", "isolation", "index"):
                assert np.array_equal(base[key][i], moved[key][i]), (i, key)
    # a row of fold f is placed by model f only: other models' vectors of it change nothing
    emb2 = emb.copy()
    emb2[(folds[10] + 1) % k_folds, 10] = 100.0
    assert np.array_equal(knn.neighbours(emb2, folds, y, 3, k=5)["index"][10], base["index"][10])


def test_knn_exact_search_finds_the_nearest_and_skips_self():
    v = np.array([[1.0, 0], [0.9, 0.1], [0, 1], [0.1, 0.9]], np.float32)
    idx, sim = knn.search(v, v, 1, exclude=np.arange(4))
    assert idx[:, 0].tolist() == [1, 0, 3, 2] and (sim[:, 0] > 0.9).all()


def test_tracin_ranks_the_flipped_labels_most_harmful():
    from dcai.value.influence import tracin

    x, y_true = blobs(150)
    rng = np.random.default_rng(1)
    flip = rng.choice(len(y_true), 10, replace=False)
    y = y_true.copy()
    y[flip] = (y[flip] + 1) % 3
    xv, yv = blobs(60, seed=5)
    res = engine.fit(Tiny, x, y, seeds=[0], epochs=20, batch_size=16, lr=3e-3, keep_best=False,
                     keep_epochs=(5, 10, 15, 20), device="cpu")  # fmt: skip
    influence, self_inf = tracin(Tiny, list(res[0].checkpoints.values()), x, y, xv, yv)
    assert set(np.argsort(influence)[:10]) == set(flip)  # the ten most harmful are the ten flipped
    assert (influence[flip] < 0).all()
    assert set(np.argsort(-self_inf)[:10]) == set(flip)


def _table(y_names, split="train"):
    return manifest.from_rows(
        {"id": f"r{k}", "uri": f"/x/{k}.png", "label": lab, "split": split, "origin": "original"}
        for k, lab in enumerate(y_names)
    )


def test_value_body_flags_planted_flips_out_of_fold(tmp_path, monkeypatch):
    from dcai.value.config import ValueConfig
    from dcai.value.value import REASON, value

    x, y_true = blobs(180)
    names = np.array(["a", "b", "c"])
    given = y_true.copy()
    flip = np.arange(0, 180, 20)  # 9 flips
    given[flip] = (given[flip] + 1) % 3
    table = _table(names[given].tolist())
    table = manifest.set_split(table, np.arange(180) % 4 == 0, "val", reason="test")
    cfg = ValueConfig().replace(folds=3, epochs=20, batch_size=16, lr=3e-3, checkpoints=4, augment="none",
                                harmful_share=0.1, engine="local", device="cpu")  # fmt: skip
    import dcai.value.value as body

    # the stage's network swapped for one over 4 x 4 images
    monkeypatch.setattr(
        body, "make_model_fn", lambda model, num_classes, width=1.0: partial(Tiny, num_classes)
    )
    out = value(table, cfg, tmp_path, load=lambda sub: x, fit=engine.fit)
    harmful = manifest.column(out.table, "value_harmful").astype(bool)
    assert harmful[flip].mean() >= 0.7 and harmful.sum() <= 18
    assert out.metrics["validation_rows"] == 45 and (tmp_path / "influence.npz").exists()
    assert (tmp_path / "queue.csv").read_text().count(REASON) == harmful.sum()


def test_configs_name_what_is_allowed():
    from dcai.config import ConfigError
    from dcai.embed.config import EmbedConfig
    from dcai.value.config import ValueConfig

    with pytest.raises(ConfigError, match="engine must be one of auto, train, local"):
        EmbedConfig(engine="spark")
    with pytest.raises(ConfigError, match="folds must be >= 2"):
        ValueConfig(folds=1)
    assert ValueConfig(epochs=12, checkpoints=4).checkpoint_epochs() == (3, 6, 9, 12)
    assert ValueConfig(epochs=2, checkpoints=4).checkpoint_epochs() == (1, 2)
    cf = crossfit.plan(10, 2, seed=0)
    assert cf.k == 2


def test_embed_body_flags_planted_flips_by_their_neighbours(tmp_path, monkeypatch):
    import dcai.embed.embed as body
    from dcai.embed.config import EmbedConfig

    x, y_true = blobs(150, noise=15.0)
    names = np.array(["a", "b", "c"])
    given = y_true.copy()
    flip = np.arange(0, 150, 15)  # 10 flips
    given[flip] = (given[flip] + 1) % 3
    table = _table(names[given].tolist())
    monkeypatch.setattr(body, "make_model_fn", lambda model, dim, width=1.0: partial(Tiny, dim))
    cfg = EmbedConfig().replace(folds=3, epochs=8, batch_size=16, lr=3e-3, augment="none", dim=8, k=7,
                                engine="local", device="cpu")  # fmt: skip
    out = body.embed(table, cfg, tmp_path, load=lambda sub: x, fit=engine.fit)
    noisy = manifest.column(out.table, "embed_noisy").astype(bool)
    assert noisy[flip].mean() >= 0.8 and noisy.sum() <= 14
    assert (manifest.column(out.table, "embed_top_label")[flip] == names[y_true[flip]]).mean() >= 0.8
    with np.load(tmp_path / "vectors.npz") as z:
        assert z["vectors"].shape == (150, 8) and z["neighbours"].shape == (150, 7)


def test_knn_calibration_shrinks_a_knn_that_disagrees_with_the_labels_towards_the_prior():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 5, 400)
    every = np.ones(400, bool)
    right = np.zeros((400, 5))
    right[np.arange(400), y] = 0.9
    right[np.arange(400), (y + 1) % 5] += 0.1
    sharp, p_sharp = knn.calibrate(right, y, 10, every)
    noise = np.zeros((400, 5))
    np.add.at(noise, (np.repeat(np.arange(400), 10), rng.integers(0, 5, 4000)), 0.1)
    flat, p_flat = knn.calibrate(noise, y, 10, every)
    assert sharp <= 1.0 and flat >= 30.0
    assert np.allclose(p_sharp.sum(1), 1.0) and np.abs(p_flat - 0.2).max() < 0.1


def test_light_augmentation_is_accepted_and_named_among_the_choices():
    from dcai.config import ConfigError
    from dcai.embed.config import EmbedConfig
    from dcai.train.augment import Light
    from dcai.train.oof import make_augment

    assert isinstance(make_augment(EmbedConfig(augment="light").augment), Light)
    with pytest.raises(ConfigError, match="augment must be one of heavy, light, none"):
        EmbedConfig(augment="bogus")
    x = torch.full((2, 3, 8, 8), 200.0)
    assert Light()(x, torch.Generator().manual_seed(0)).shape == x.shape
