"""split: families (derived chains, duplicate groups) never straddle splits; folds stratified; test random."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dcai import manifest
from dcai.config import ConfigError
from dcai.split import split as sp
from dcai.split.config import SplitConfig


def naive_families(parents: list[int | None], groups: list[int | None]) -> list[int]:
    """Union-find written the slow obvious way, to check :func:`split.families` against."""
    root = list(range(len(parents)))

    def find(x):
        while root[x] != x:
            x = root[x]
        return x

    for k, p in enumerate(parents):
        if p is not None:
            root[find(k)] = find(p)
    first: dict[int, int] = {}
    for k, g in enumerate(groups):
        if g is not None:
            root[find(k)] = find(first.setdefault(g, k))
    return [find(k) for k in range(len(parents))]


@st.composite
def manifests(draw):
    n = draw(st.integers(1, 60))
    parents = [None if k == 0 else draw(st.one_of(st.none(), st.integers(0, k - 1))) for k in range(n)]
    groups = draw(st.lists(st.one_of(st.none(), st.integers(0, 5)), min_size=n, max_size=n))
    labels = draw(st.lists(st.sampled_from(["a", "b", "c"]), min_size=n, max_size=n))
    splits = draw(
        st.lists(
            st.sampled_from(["train", "train", "val", "test", "surplus", "removed"]), min_size=n, max_size=n
        )
    )
    rows = [
        {
            "id": f"r{k}",
            "uri": f"/x/{k}.png",
            "label": labels[k],
            "split": splits[k],
            "origin": "original" if parents[k] is None else "mirror",
            "parent": None if parents[k] is None else f"r{parents[k]}",
            "dup_group": groups[k],
        }
        for k in range(n)
    ]
    return manifest.from_rows(rows), parents, groups


@settings(max_examples=60, deadline=None)
@given(
    data=manifests(),
    n_folds=st.integers(2, 8),
    test_fraction=st.sampled_from([0.0, 0.2]),
    seed=st.integers(0, 3),
)
def test_a_family_never_straddles_splits_or_folds(data, n_folds, test_fraction, seed):
    table, parents, groups = data
    cfg = SplitConfig(n_folds=n_folds, val_fold=seed % n_folds, test_fraction=test_fraction, seed=seed)
    out, metrics = sp.split(table, cfg)
    fam = np.asarray(naive_families(parents, groups))
    ours = sp.families(
        manifest.column(table, "id"), manifest.column(table, "parent"), table.column("dup_group").to_pylist()
    )
    assert ((ours[:, None] == ours[None, :]) == (fam[:, None] == fam[None, :])).all()
    before, after, fold = (
        manifest.column(table, "split"),
        manifest.column(out, "split"),
        manifest.column(out, "fold"),
    )
    assert out.column("id").to_pylist() == table.column("id").to_pylist()
    moved = np.isin(before, ("train", "val"))
    assert (before[~moved] == after[~moved]).all()  # test, surplus, removed rows keep their split
    for f in set(fam[moved]):
        members = moved & (fam == f)
        assert len(set(after[members])) == 1, "a family straddles splits"
        assert len(set(fold[members])) == 1, "a family straddles folds"
        if (fam[before == "test"] == f).any():
            assert set(after[members]) == {"test"}  # pulled to test with its duplicate / ancestor
    assert ((after[moved] == "val") == (fold[moved] == cfg.val_fold)).all()
    play = moved & ~np.isin(fam, fam[before == "test"])
    assert metrics["families"] == len(set(fam[play]))  # as fine as the true families, not coarser


@settings(max_examples=80, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 6), min_size=1, max_size=60),
    n_folds=st.integers(2, 8),
    seed=st.integers(0, 9),
)
def test_folds_are_balanced_to_within_one_family(sizes, n_folds, seed):
    sizes = np.asarray(sizes)
    folds = sp.assign_class(sizes, n_folds=n_folds, test_fraction=0.0, rng=np.random.default_rng(seed))
    per_fold = np.bincount(folds, weights=sizes, minlength=n_folds)
    assert per_fold.sum() == sizes.sum() and (folds >= 0).all()
    assert np.abs(per_fold - sizes.sum() / n_folds).max() <= sizes.max()


def test_derived_images_follow_their_root_and_duplicates_their_group():
    rows = [
        {
            "id": f"o{k}",
            "uri": "u",
            "label": "a" if k % 2 else "b",
            "split": "train",
            "origin": "original",
            "dup_group": (k // 2 if k < 4 else None),
        }
        for k in range(40)
    ]
    rows += [
        {"id": "m0", "uri": "u", "label": "b", "split": "train", "origin": "mirror", "parent": "o0"},
        {"id": "c0", "uri": "u", "label": "b", "split": "train", "origin": "crop", "parent": "m0"},
    ]
    out, metrics = sp.split(manifest.from_rows(rows), SplitConfig(n_folds=4))
    fold = dict(zip(out.column("id").to_pylist(), manifest.column(out, "fold")))
    assert fold["o0"] == fold["o1"] == fold["m0"] == fold["c0"]  # dup group {o0, o1} + o0's derived chain
    assert fold["o2"] == fold["o3"]
    assert (
        metrics["families"] == 40 - 2
        and metrics["largest_family"] == 4
        and metrics["grouped_by"] == "dup_group"
    )
    val = manifest.column(out, "split") == "val"
    assert (manifest.column(out, "fold")[val] == 0).all() and 6 <= val.sum() <= 14
    assert set(manifest.column(out, "reason")[val]) == {"split: fold 0 of 4 is val"}


def test_random_test_selection_is_stratified_and_reproducible():
    rows = [
        {"id": f"r{k}", "uri": "u", "label": "abcd"[k % 4], "split": "train", "origin": "original"}
        for k in range(400)
    ]
    table = manifest.from_rows(rows)
    out, metrics = sp.split(table, SplitConfig(test_fraction=0.1, seed=3))
    test = manifest.column(out, "split") == "test"
    assert Counter(manifest.column(out, "label")[test]) == {c: 10 for c in "abcd"}
    assert (manifest.column(out, "fold")[test] == sp.TEST_FOLD).all() and metrics["moved"]["test"] == 40
    again, _ = sp.split(table, SplitConfig(test_fraction=0.1, seed=3))
    assert manifest.column(again, "split").tolist() == manifest.column(out, "split").tolist()
    other, _ = sp.split(table, SplitConfig(test_fraction=0.1, seed=4))
    assert manifest.column(other, "split").tolist() != manifest.column(out, "split").tolist()


def test_config_errors_name_the_allowed_range():
    with pytest.raises(ConfigError, match=r"0\.\.7"):
        SplitConfig(val_fold=8)
    with pytest.raises(ConfigError, match="n_folds"):
        SplitConfig(n_folds=1)
    with pytest.raises(ConfigError, match="surplus"):
        SplitConfig(pool_splits=("train", "surplus"))
