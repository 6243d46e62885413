"""MinHash signatures: bit-identical to datasketch, and the Jaccard estimate tracks the true Jaccard."""

import numpy as np
import pytest
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


def _ref_bucket_pairs(rows, max_bucket, hot_window, phash_distance):
    """The numpy bucket_pairs the compiled one replaced: the reference its pairs must equal."""
    orders = ["ph"] + (["geo"] if "geo" in rows else [])
    out = set()
    for pass_no, by in enumerate(orders):
        order = np.lexsort((rows["idx"], rows[by], rows["key"]))
        key, idx, ph, src = (rows[k][order] for k in ("key", "idx", "ph", "src"))
        starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
        for s, e in zip(starts, np.r_[starts[1:], len(key)]):
            hot = e - s > max_bucket
            if not hot and pass_no:
                continue
            for i in range(s, e):
                for j in range(i + 1, min(e, i + hot_window + 1) if hot else e):
                    near = src[i] == 0 or bin(int(ph[i]) ^ int(ph[j])).count("1") <= phash_distance
                    if near and idx[i] != idx[j]:
                        out.add((min(idx[i], idx[j]), max(idx[i], idx[j])))
    return sorted(out)


@pytest.mark.parametrize("seed", range(4))
def test_bucket_pairs_match_the_reference(seed):
    """Small and hot buckets, MinHash and pHash rows (the Hamming filter), ties in pHash and geo order."""
    rng = np.random.default_rng(seed)
    n_img = 300
    idx = rng.integers(0, n_img, 3000)
    rows = {
        "key": rng.integers(0, 40, 3000).astype(np.uint64),  # few keys: buckets of ~75, some hot
        "idx": idx.astype(np.int64),
        "ph": (rng.integers(0, 1 << 62, n_img, dtype=np.uint64) & np.uint64(0xFFFF00000000FFF0))[idx],
        "src": rng.integers(0, 2, 3000).astype(np.uint8),
        "geo": rng.integers(0, 5, n_img).astype(np.uint64)[idx],
    }
    rows["src"] = (rows["key"] % np.uint64(2)).astype(np.uint8)  # a bucket's rows share their source
    for max_bucket, window, dist in ((64, 8, 8), (200, 8, 20), (16, 3, 30)):
        got = lsh.bucket_pairs(rows, max_bucket=max_bucket, hot_window=window, phash_distance=dist)
        want = _ref_bucket_pairs(rows, max_bucket, window, dist)
        assert list(zip(got["a"].tolist(), got["b"].tolist())) == want
        no_geo = {k: v for k, v in rows.items() if k != "geo"}
        got = lsh.bucket_pairs(no_geo, max_bucket=max_bucket, hot_window=window, phash_distance=dist)
        assert list(zip(got["a"].tolist(), got["b"].tolist())) == _ref_bucket_pairs(
            no_geo, max_bucket, window, dist
        )


@pytest.mark.parametrize("bits", [1, 11, 12, 33, 40, 63])
def test_radix_sort_and_unique_are_numpys(bits):
    x = np.random.default_rng(bits).integers(0, 2**bits, 5000, dtype=np.uint64)
    assert np.array_equal(lsh._radix_sort(x, bits), np.sort(x))
    assert np.array_equal(lsh._unique_sorted(np.sort(x)), np.unique(x))
