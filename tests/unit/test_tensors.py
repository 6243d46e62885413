"""The tensor dataset's Ray-free parts: the uint8 image column, the hash → row index, out-of-fold picks."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from dcai.tensors import predict, store
from dcai.train import crossfit


def test_images_round_trip_through_the_fixed_size_binary_column():
    x = np.random.default_rng(0).integers(0, 256, (5, 4, 4, 3), dtype=np.uint8)
    col = pa.array([im.tobytes() for im in x], pa.binary(48))
    assert (store.images(col, 4) == x).all()
    assert (store.images(col.slice(2, 2), 4) == x[2:4]).all()  # a sliced batch starts at its offset
    assert (store.images(pa.chunked_array([col.slice(0, 2), col.slice(2)]), 4) == x).all()


def test_to_uint8_rounds_and_clips():
    assert store.to_uint8(np.array([-3.0, 0.49, 0.5001, 254.6, 300.0])).tolist() == [0, 0, 1, 255, 255]


def test_row_index_serves_every_row_of_a_hash_and_none_for_unknown():
    idx = store.RowIndex(["b", "a", "c", "a"])
    at, rows = idx.find(["a", "zz", "c"])
    assert sorted(zip(at.tolist(), rows.tolist())) == [(0, 1), (0, 3), (2, 2)]


def test_out_of_fold_rows_is_crossfit_out_of_fold_a_batch_at_a_time():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 20)
    trainable = np.ones(20, bool)
    trainable[[2, 7]] = False
    cf = crossfit.plan(20, 4, seed=0, labels=y, trainable=trainable)
    probs = rng.random((4, 20, 3))
    want = crossfit.out_of_fold(probs, cf)
    rows = np.array([7, 0, 5, 2, 19])
    assert np.allclose(predict.out_of_fold_rows(probs[:, rows], cf.folds[rows]), want[rows])


def test_gather_puts_rows_in_place_and_leaves_missing_ones_nan():
    flat = np.arange(12, dtype=np.float32).reshape(3, 4)  # 3 rows, 2 members x 2 classes
    t = pa.table({"row": [2, 0, 3], "probs": pa.FixedSizeListArray.from_arrays(pa.array(flat.ravel()), 4)})
    out = predict.gather(t, 5, 2, 2)
    assert out.shape == (2, 5, 2) and np.isnan(out[:, [1, 4]]).all()
    assert out[1, 2].tolist() == [2.0, 3.0] and out[0, 3].tolist() == [8.0, 9.0]
