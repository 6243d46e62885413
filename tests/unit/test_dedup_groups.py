"""Union-find: matches a reference, and is idempotent (hypothesis)."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from dcai.dedup import groups

edges = st.lists(st.tuples(st.integers(0, 29), st.integers(0, 29)), max_size=60)


def reference(n, pairs):
    parent = list(range(n))

    def find(x):
        while parent[x] != x:
            x = parent[x]
        return x

    for a, b in pairs:
        ra, rb = find(a), find(b)
        parent[max(ra, rb)] = min(ra, rb)
    roots = [find(i) for i in range(n)]
    return [min(j for j in range(n) if roots[j] == roots[i]) for i in range(n)]


def split(pairs):
    a = np.array([p[0] for p in pairs], dtype=np.int64)
    b = np.array([p[1] for p in pairs], dtype=np.int64)
    return a, b


@settings(max_examples=80, deadline=None, derandomize=True)
@given(edges)
def test_components_match_reference_and_are_idempotent(pairs):
    a, b = split(pairs)
    labels = groups.components(30, a, b)
    assert labels.tolist() == reference(30, pairs)
    # the same edges twice, or the edges plus each node's link to its label, change nothing
    assert np.array_equal(groups.components(30, np.r_[a, a], np.r_[b, b]), labels)
    nodes = np.arange(30)
    assert np.array_equal(groups.components(30, np.r_[a, nodes], np.r_[b, labels]), labels)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(edges, edges)
def test_union_find_incremental_equals_one_shot(first, second):
    uf = groups.UnionFind(30)
    uf.union(*split(first))
    uf.union(*split(second))
    once = uf.labels()
    uf.union(*split(first + second))  # unioning again is a no-op
    assert np.array_equal(uf.labels(), once)
    assert np.array_equal(once, groups.components(30, *split(first + second)))


def test_long_chain_is_one_group():
    n = 10_000
    a = np.arange(n - 1)[::-1]
    labels = groups.components(n, a, a + 1)
    assert (labels == 0).all()
    assert (groups.group_sizes(labels) == n).all()
