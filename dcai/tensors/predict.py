"""Out-of-fold prediction over batches of the tensor dataset: the ``map_batches`` body, without Ray.

A :class:`FoldPredictor` holds every member's K fold models (``(model_fn, K state_dicts)`` per member) and
the manifest rows' folds ``(N,)``. Called on a batch of ``content_hash`` / ``image`` rows it gives, for
each manifest row the batch serves, ``row`` and ``probs`` ``(M * C,)`` float32: member m's classes at
``[m * C, (m + 1) * C)``, from the model of the row's own fold (which never trained on it), or the mean
of all K for a row outside every fold (``dcai.train.crossfit.UNTRAINED``: no model trained on it). That
is :func:`dcai.train.crossfit.out_of_fold` of :func:`dcai.train.engine.predict`, a batch at a time.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa

from dcai.tensors.store import RowIndex, images
from dcai.train.stack import ModelFn

Members = Sequence[tuple[ModelFn, Sequence[dict]]]  # per member: model_fn and its K fold state_dicts


def out_of_fold_rows(probs: np.ndarray, folds: np.ndarray) -> np.ndarray:
    """``(K, R, C)`` probabilities of R rows, their ``(R,)`` folds → ``(R, C)``: each row's own fold model,
    the mean of all K where the fold is negative."""
    own = folds >= 0
    out = probs.mean(axis=0)
    out[own] = probs[folds[own], np.flatnonzero(own)]
    return out


class FoldPredictor:
    """``map_batches`` callable (``__init__`` builds the fold models once per actor, ``__call__`` runs)."""

    def __init__(
        self,
        members: Members,
        hashes,
        folds: np.ndarray,
        *,
        size: int,
        device: str = "auto",
        chunk: int = 1024,
    ):

        from dcai.train.engine import resolve_device
        from dcai.train.stack import Stack

        self.device = resolve_device(device)
        self.stacks = [Stack.from_states(fn, list(states), self.device) for fn, states in members]
        self.index = RowIndex(hashes)
        self.folds = np.asarray(folds, np.int64)
        self.size = size
        self.chunk = chunk
        self.width = int(self.probabilities(np.zeros((1, size, size, 3), np.uint8)).shape[-1]) * len(
            self.stacks
        )

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        """``(B, H, W, 3)`` uint8 → ``(M, K, B, C)`` float32 probabilities of every member's fold models."""
        import torch

        xt = torch.from_numpy(np.ascontiguousarray(x)).to(self.device)
        out = []
        with torch.no_grad():  # here, per call: an actor runs its batches on threads of its own
            for stack in self.stacks:
                parts = [
                    stack.forward(xt[i : i + self.chunk].permute(0, 3, 1, 2).float(), train=False).softmax(-1)
                    for i in range(0, len(xt), self.chunk)
                ]
                out.append(torch.cat(parts, dim=1).cpu().numpy())
        return np.stack(out)

    def __call__(self, batch: pa.Table) -> pa.Table:
        at, rows = self.index.find(batch.column("content_hash").to_numpy(zero_copy_only=False))
        m = len(self.stacks)
        if not len(rows):
            return pa.table(
                {"row": pa.array([], pa.int64()), "probs": pa.array([], pa.list_(pa.float32(), self.width))}
            )
        served = np.unique(at)  # decode and run only the images some row needs
        x = images(batch.column("image").take(pa.array(served)), self.size)
        probs = self.probabilities(x)  # (M, K, B', C)
        pos = np.searchsorted(served, at)
        folds = self.folds[rows]
        oof = np.stack([out_of_fold_rows(probs[j][:, pos], folds) for j in range(m)], axis=1)  # (R, M, C)
        flat = oof.reshape(len(rows), -1).astype(np.float32)
        return pa.table(
            {
                "row": pa.array(rows, pa.int64()),
                "probs": pa.FixedSizeListArray.from_arrays(pa.array(flat.ravel()), flat.shape[1]),
            }
        )


def gather(table: pa.Table, n: int, members: int, classes: int) -> np.ndarray:
    """``row`` / ``probs`` rows (any order) → ``(M, N, C)`` float64; NaN for rows absent from ``table``."""
    out = np.full((n, members * classes), np.nan)
    rows = table.column("row").to_numpy()
    flat = table.column("probs").combine_chunks().flatten().to_numpy().reshape(len(rows), -1)
    out[rows] = flat
    return out.reshape(n, members, classes).transpose(1, 0, 2)
