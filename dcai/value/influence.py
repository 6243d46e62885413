"""TracIn influence of training images on held-out validation loss, with Captum's ``TracInCPFast``.

TracIn (Pruthi et al. 2020) scores a training image z on a test image z' by the sum, over checkpoints
saved during training, of ``lr · ∇loss(z) · ∇loss(z')``: positive when a gradient step on z lowered the
loss of z' (a proponent), negative when it raised it (an opponent: z *harms* z'). ``TracInCPFast``
takes the gradients of the final fully-connected layer only, where the dot product factors into
``(softmax - onehot)`` and activation terms (no backward pass through the network): the approximation is
that the earlier layers' gradients would rank images alike. The learning rate is constant (Adam), so
each checkpoint weighs 1. Captum computes it; this module feeds it the engine's kept checkpoints.

Shapes: images ``(N, H, W, C)`` float pixels in [0, 255], labels ``(N,)``; results ``(N_train,)``.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

VAL_CHUNK = 1024  # validation images per influence call: Captum returns a (chunk, N_train) matrix


def _tensors(x: np.ndarray, y: np.ndarray):
    import torch

    return torch.as_tensor(np.asarray(x, np.float32)).permute(0, 3, 1, 2).contiguous(), torch.as_tensor(
        np.asarray(y, np.int64)
    )


def tracin(
    model_fn: Callable,
    checkpoints: Sequence[dict],
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    *,
    final_layer: str = "fc",
    batch_size: int = 256,
) -> tuple[np.ndarray, np.ndarray]:
    """``(influence on the mean validation loss (N_train,), self-influence (N_train,))`` over the kept
    ``checkpoints`` (``state_dict`` s of ``model_fn()``, whose last layer is the ``nn.Linear`` named
    ``final_layer``). Influence is the mean over validation images of TracIn's score: negative = harmful."""
    try:
        from captum.influence import TracInCPFast
    except ImportError as e:  # a dependency since the value stage: a broken install, say which
        raise ImportError("the value stage needs captum: pip install 'captum>=0.7'") from e
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    if not checkpoints:
        raise ValueError("tracin needs at least one checkpoint")
    model = model_fn()
    model.eval()
    xt, yt = _tensors(x_train, y_train)
    xv, yv = _tensors(x_val, y_val)
    with tempfile.TemporaryDirectory() as d:
        paths = []
        for i, state in enumerate(checkpoints):
            paths.append(str(Path(d) / f"checkpoint{i}.pt"))
            torch.save(state, paths[-1])

        def load(m: torch.nn.Module, path: str) -> float:
            m.load_state_dict(torch.load(path, weights_only=True))
            return 1.0  # the learning rate of this checkpoint's step: constant

        tracer = TracInCPFast(
            model, getattr(model, final_layer), DataLoader(TensorDataset(xt, yt), batch_size=batch_size),
            paths, checkpoints_load_func=load, loss_fn=torch.nn.CrossEntropyLoss(reduction="sum"),
            batch_size=batch_size,
        )  # fmt: skip
        total = torch.zeros(len(yt), dtype=torch.float64)
        for s in range(0, len(yv), VAL_CHUNK):
            scores = tracer.influence((xv[s : s + VAL_CHUNK], yv[s : s + VAL_CHUNK]))  # (chunk, N_train)
            total += scores.double().sum(0)
        self_inf = tracer.self_influence()
    return (total / max(len(yv), 1)).numpy(), self_inf.double().numpy()
