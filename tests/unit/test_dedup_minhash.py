"""MinHash signatures: bit-identical to datasketch, and the Jaccard estimate tracks the true Jaccard."""

import numpy as np
from datasketch import MinHash
from hypothesis import given, settings
from hypothesis import strategies as st

from dcai.dedup import lsh, minhash


def test_signatures_match_datasketch_bit_for_bit():
    rng = np.random.default_rng(0)
    tokens = rng.random((5, 256)) < 0.2
    sig = minhash.signatures(tokens, num_perm=64, seed=1)
    for i in range(5):
        m = MinHash(num_perm=64, seed=1, hashfunc=lambda x: x)
        m.update_batch(np.flatnonzero(tokens[i]).tolist())
        assert np.array_equal(m.hashvalues, sig[i])
    assert minhash.lean(sig[0]).jaccard(minhash.lean(sig[1])) == minhash.jaccard(sig[0], sig[1])


def test_empty_set_gives_datasketch_empty_value():
    sig = minhash.signatures(np.zeros((1, 64), bool), num_perm=16)
    assert (sig == minhash.EMPTY).all()


token_sets = st.sets(st.integers(0, 255), min_size=1, max_size=120)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(token_sets, token_sets)
def test_jaccard_estimate_within_tolerance(a, b):
    tokens = np.zeros((2, 256), bool)
    tokens[0, list(a)] = True
    tokens[1, list(b)] = True
    sig = minhash.signatures(tokens, num_perm=256)
    true = len(a & b) / len(a | b)
    # standard error sqrt(J(1-J)/P) <= 0.031 at P = 256; 0.2 is more than six of them
    assert abs(minhash.jaccard(sig[0], sig[1]) - true) <= 0.2


def test_band_keys_collide_only_on_equal_bands():
    sig = np.arange(2 * 64, dtype=np.uint32).reshape(2, 64)
    sig[1, :4] = sig[0, :4]  # band 0 equal, the rest differ
    keys = lsh.band_keys(sig, bands=16, rows=4)
    assert keys[0, 0] == keys[1, 0] and (keys[0, 1:] != keys[1, 1:]).all()
    assert len(np.unique(keys[0])) == 16  # the band id is mixed in: equal values in two bands differ


def test_bucket_pairs_all_pairs_and_hot_bucket_window():
    rows = lsh.band_rows(np.arange(5), np.full((5, 1), 7, np.uint64), np.zeros(5, np.uint64), source=0)
    pairs = lsh.bucket_pairs(rows, max_bucket=8, hot_window=2)
    assert len(pairs["a"]) == 10  # 5 choose 2
    hot = lsh.bucket_pairs(rows, max_bucket=4, hot_window=2)
    assert len(hot["a"]) == 4 + 3  # each member meets its next 2 only
    assert (hot["a"] < hot["b"]).all()
