"""balance: never over the budget, never a lost row, originals kept first, surplus first to come back."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dcai import manifest
from dcai.balance import balance as bal
from dcai.balance.config import BalanceConfig
from dcai.config import ConfigError

SPLITS = ("train", "val", "surplus", "test", "removed")
ORIGINS = ("original", "mirror", "autoaugment", "crop")


def table_of(rows: list[tuple[str, str, str]], trusted: set[int] = frozenset()):
    return manifest.from_rows(
        {"id": f"r{k}", "uri": f"/x/{k}.png", "label": lab, "split": sp, "origin": o, "trusted": k in trusted}
        for k, (lab, sp, o) in enumerate(rows)
    )


rows_strategy = st.lists(
    st.tuples(st.sampled_from(["a", "b", "c"]), st.sampled_from(SPLITS), st.sampled_from(ORIGINS)),
    min_size=1,
    max_size=80,
)


@settings(max_examples=60, deadline=None)
@given(
    rows=rows_strategy,
    budget=st.integers(1, 90),
    mode=st.sampled_from(["equal", "cap"]),
    seed=st.integers(0, 3),
)
def test_never_over_budget_never_loses_a_row(rows, budget, mode, seed):
    table = table_of(rows)
    cfg = BalanceConfig(budget=budget, mode=mode, seed=seed)
    out, metrics = bal.balance(table, cfg)
    assert out.column("id").to_pylist() == table.column("id").to_pylist()
    assert out.column("label").to_pylist() == table.column("label").to_pylist()
    before, after = manifest.column(table, "split"), manifest.column(out, "split")
    in_pool = np.isin(after, cfg.pool_splits)
    assert in_pool.sum() <= budget and metrics["kept_total"] == in_pool.sum()
    movable = np.isin(before, ("train", "val", "surplus"))
    assert (before[~movable] == after[~movable]).all()  # test / removed rows are never touched
    assert set(after[movable]) <= {"train", "val", "surplus"}
    kept = Counter(manifest.column(out, "label")[in_pool])
    if mode == "equal" and kept:
        assert len(set(kept.values())) == 1 and set(kept) == set(manifest.column(table, "label")[movable])
    # priority: within a class, no original waits in surplus while a derived row of it stays
    origin, label = manifest.column(out, "origin"), manifest.column(out, "label")
    for c in set(label[movable]):
        stays = in_pool & (label == c)
        waits = movable & ~in_pool & (label == c)
        if stays.any() and waits.any():
            rank = {o: k for k, o in enumerate(cfg.origin_priority)}
            assert max(rank[o] for o in origin[stays]) <= min(rank[o] for o in origin[waits])
    again, _ = bal.balance(out, cfg)  # balancing a balanced manifest changes nothing
    assert manifest.column(again, "split").tolist() == after.tolist()


def test_surplus_comes_back_first_when_a_class_is_short():
    rows = (
        [("a", "train", "original")] * 3
        + [("a", "surplus", "original")] * 5
        + [("b", "train", "original")] * 8
    )
    out, metrics = bal.balance(table_of(rows), BalanceConfig(budget=100))
    assert metrics["quota"] == {"a": 8, "b": 8} and metrics["back_from_surplus"] == 5
    splits, reasons = manifest.column(out, "split"), manifest.column(out, "reason")
    assert (splits == "train").all() and set(reasons[3:8]) == {bal.BACK} and reasons[0] is None


def test_derived_rows_go_to_surplus_before_originals_and_reasons_are_recorded():
    rows = (
        [("a", "train", "autoaugment")] * 4
        + [("a", "train", "original")] * 4
        + [("a", "surplus", "mirror")] * 2
    )
    rows += [("b", "train", "original")] * 5
    out, metrics = bal.balance(table_of(rows), BalanceConfig(budget=1000))
    splits = manifest.column(out, "split")
    assert metrics["quota"] == {"a": 5, "b": 5}
    # a keeps its 4 originals and brings one mirror back; every AutoAugment copy waits in surplus
    assert splits[:4].tolist() == ["surplus"] * 4 and (splits[4:8] == "train").all()
    assert sorted(splits[8:10]) == ["surplus", "train"]
    assert set(manifest.column(out, "reason")[:4]) == {bal.OVER}


def test_trusted_rows_stay_first_and_cap_mode_uses_more_data():
    rows = [("a", "train", "crop")] * 3 + [("a", "train", "original")] * 6 + [("b", "train", "original")] * 2
    out, _ = bal.balance(table_of(rows, trusted={0}), BalanceConfig(budget=8, mode="cap"))
    splits = manifest.column(out, "split")
    assert splits[0] == "train"  # the trusted crop outranks the originals
    assert Counter(manifest.column(out, "label")[splits == "train"]) == {"a": 4, "b": 2}


def test_quotas_and_config_errors():
    assert bal.quotas({"a": 10, "b": 3}, budget=10, mode="equal") == {"a": 3, "b": 3}
    assert bal.quotas({"a": 10, "b": 3}, budget=10, mode="cap") == {"a": 5, "b": 3}
    assert bal.quotas({}, budget=10, mode="cap") == {}
    with pytest.raises(ConfigError, match="equal"):
        BalanceConfig(mode="max")
    with pytest.raises(ConfigError, match="surplus"):
        BalanceConfig(pool_splits=("train", "surplus"))
