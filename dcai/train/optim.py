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
    """State: ``m``, ``v`` like each parameter ``(K, ...)``; ``t`` the step count per model ``(K,)``."""

    def __init__(
        self,
        params: Sequence[torch.Tensor],
        *,
        lr: float,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-7,
    ):
        self.params = list(params)
        self.lr, (self.b1, self.b2), self.eps = float(lr), betas, float(eps)
        k = self.params[0].shape[0]
        dev = self.params[0].device
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]
        self.t = torch.zeros(k, device=dev)
        # Per-model factors recomputed each step, with one broadcastable view per parameter shape.
        self._w1 = torch.zeros(k, device=dev)
        self._w2 = torch.zeros(k, device=dev)
        self._step = torch.zeros(k, device=dev)
        self._views = [
            (
                self._w1.view(-1, *[1] * (p.dim() - 1)),
                self._w2.view(-1, *[1] * (p.dim() - 1)),
                self._step.view(-1, *[1] * (p.dim() - 1)),
            )
            for p in self.params
        ]

    @torch.no_grad()
    def step(self, grads: Sequence[torch.Tensor], active: torch.Tensor) -> None:
        """One update; ``active``: ``(K,)`` float, 1 for models that took a step, 0 for the others."""
        self.t.add_(active)
        t = self.t.clamp(min=1.0)
        lr_t = self.lr * torch.sqrt(1.0 - self.b2**t) / (1.0 - self.b1**t)
        self._w1.copy_(active * (1.0 - self.b1))
        self._w2.copy_(active * (1.0 - self.b2))
        self._step.copy_(active * lr_t)
        for p, g, m, v, (w1, w2, s) in zip(self.params, grads, self.m, self.v, self._views):
            m.add_((g - m) * w1)  # m ← β1·m + (1-β1)·g where active, unchanged elsewhere
            v.add_((g * g - v) * w2)
            p.sub_(s * m / (v.sqrt() + self.eps))

    def state_dict(self) -> dict:
        copy = lambda x: x.detach().to("cpu", copy=True)  # noqa: E731  (a snapshot, not a view of live state)
        return {"m": [copy(x) for x in self.m], "v": [copy(x) for x in self.v], "t": copy(self.t)}

    def load_state_dict(self, state: dict) -> None:
        with torch.no_grad():
            for dst, src in zip(self.m + self.v, list(state["m"]) + list(state["v"])):
                dst.copy_(src)
            self.t.copy_(state["t"])
