"""Adam for K stacked models at once, with Keras' epsilon placement and a per-model "active" mask.

Keras (TF 2 ``Adam``, the legacy ``ResourceApplyAdam`` kernel and the 2.11+ optimizer alike) updates

    lr_t = lr · sqrt(1 - β2^t) / (1 - β1^t);   p -= lr_t · m / (sqrt(v) + ε)

(ε added to sqrt(v), the bias correction folded into the learning rate), while ``torch.optim.Adam``
divides by ``sqrt(v) / sqrt(1 - β2^t) + ε`` (ε added to sqrt(v̂)). Keras' ε is thus ε / sqrt(1 - β2^t)
in torch's terms: 31.6× larger at step 1, the same after a few thousand steps. Only tiny gradients
feel the difference at ε = 1e-7; this module implements Keras' form exactly (``tests/tf`` checks it).
A model whose ``active`` entry is 0 in a step (it has no batch in it: folds of unequal size) keeps
its parameters, moments and step count unchanged. All state lives in tensors, so a step can be
captured in a CUDA graph.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


class StackedAdam:
    """State: ``m``, ``v`` one ``(K, P)`` buffer each, like ``flat``; ``t`` the step count per model ``(K,)``.

    ``params`` are the ``(K, ...)`` parameter tensors and ``flat`` the ``(K, P)`` buffer they are column
    views of (:class:`dcai.train.stack.Stack` lays them out so); one parameter needs no ``flat``. The
    update runs on the whole buffer at once: about a dozen kernels a step whatever the number of
    parameter tensors. Per tensor it was 12 elementwise kernels each, ~550 for the fixed model, which
    made them the step's bottleneck on an H200 (BENCHMARKS "gpu": 844 launches a step).
    """

    def __init__(
        self,
        params: Sequence[torch.Tensor],
        *,
        lr: float,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-7,
        flat: torch.Tensor | None = None,
    ):
        self.params = list(params)
        self.lr, (self.b1, self.b2), self.eps = float(lr), betas, float(eps)
        k = self.params[0].shape[0]
        if flat is None:
            if len(self.params) != 1:
                raise ValueError("several parameters must be column views of one (K, P) buffer: pass flat=")
            flat = self.params[0].detach().view(k, -1)
        if flat.shape[0] != k or flat.shape[1] != sum(p[0].numel() for p in self.params):
            raise ValueError(f"flat {tuple(flat.shape)} does not hold the {len(self.params)} parameters")
        self.flat = flat
        dev = flat.device
        self.m = [torch.zeros_like(flat)]
        self.v = [torch.zeros_like(flat)]
        self.t = torch.zeros(k, device=dev)
        # Per-model factors recomputed each step, as (K, 1) columns that broadcast over the buffer.
        self._w1 = torch.zeros(k, 1, device=dev)
        self._w2 = torch.zeros(k, 1, device=dev)
        self._step = torch.zeros(k, 1, device=dev)

    @torch.no_grad()
    def step(self, grads: Sequence[torch.Tensor], active: torch.Tensor) -> None:
        """One update; ``active``: ``(K,)`` float, 1 for models that took a step, 0 for the others."""
        self.t.add_(active)
        t = self.t.clamp(min=1.0)
        lr_t = self.lr * torch.sqrt(1.0 - self.b2**t) / (1.0 - self.b1**t)
        self._w1.copy_((active * (1.0 - self.b1)).view(-1, 1))
        self._w2.copy_((active * (1.0 - self.b2)).view(-1, 1))
        self._step.copy_((active * lr_t).view(-1, 1))
        k = self.flat.shape[0]
        g = torch.cat([x.reshape(k, -1) for x in grads], 1) if len(grads) > 1 else grads[0].reshape(k, -1)
        m, v = self.m[0], self.v[0]
        m.add_((g - m) * self._w1)  # m ← β1·m + (1-β1)·g where active, unchanged elsewhere
        v.add_((g * g - v) * self._w2)
        self.flat.sub_(self._step * m / (v.sqrt() + self.eps))

    def state_dict(self) -> dict:
        copy = lambda x: x.detach().to("cpu", copy=True)  # noqa: E731  (a snapshot, not a view of live state)
        return {"m": [copy(x) for x in self.m], "v": [copy(x) for x in self.v], "t": copy(self.t)}

    def load_state_dict(self, state: dict) -> None:
        k = self.flat.shape[0]
        with torch.no_grad():
            for dst, src in (("m", state["m"]), ("v", state["v"])):
                # checkpoints from before the flat buffer hold one tensor per parameter: lay them out flat
                flat = src[0] if len(src) == 1 else torch.cat([x.reshape(k, -1) for x in src], 1)
                getattr(self, dst)[0].copy_(flat.reshape(k, -1))
            self.t.copy_(state["t"])
