"""K copies of one network as stacked tensors, run at once with ``torch.func.vmap``.

Every parameter and buffer gets a leading model axis ``K``; the forward maps ``(K, B, C, H, W)``
(or ``(B, C, H, W)`` shared by all K) to ``(K, B, classes)``. Why ``vmap`` over hand-written grouped
convolutions: vmap's batching rule for a convolution with stacked weights *is* a grouped convolution
(one kernel for K models), so it costs the same, and it works for any ``nn.Module`` the other stages
bring (ResNet34, AlexNet, a GAN's classifier) without rewriting each one in K-model form. BatchNorm
needs no special layer: its running statistics are stacked buffers too, so the in-place update in
training mode writes each model's own slice, and batch statistics are per model by construction.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence

import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

ModelFn = Callable[[], nn.Module]


def build(model_fn: ModelFn, seeds: Sequence[int]) -> list[nn.Module]:
    """One model per seed, each initialised under ``torch.manual_seed(seed)`` (global RNG left as it was).

    Model ``k`` is therefore the same whether it is built alone or among K others.
    """
    models = []
    for seed in seeds:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed))
            models.append(model_fn())
    return models


class Stack:
    """Stacked parameters ``params[name]: (K, ...)`` (leaf tensors that require grad) and buffers."""

    def __init__(self, models: Sequence[nn.Module], device: torch.device | str):
        if not models:
            raise ValueError("Stack needs at least one model")
        params, buffers = stack_module_state(list(models))
        self.k = len(models)
        self.device = torch.device(device)
        if not all(p.is_floating_point() for p in params.values()):
            raise ValueError("every parameter must be floating point (the optimizer trains them all)")
        # Every parameter is a column view of one (K, P) buffer, so the optimizer updates them all at once
        # (dcai.train.optim.StackedAdam); autograd still sees one leaf tensor per parameter.
        self.flat = torch.cat([p.detach().reshape(self.k, -1) for p in params.values()], 1).to(self.device)
        self.params = {}
        start = 0
        for n, p in params.items():
            size = p[0].numel()
            self.params[n] = self.flat[:, start : start + size].view(p.shape).requires_grad_(True)
            start += size
        self.buffers = {n: b.detach().to(self.device).clone() for n, b in buffers.items()}
        # The skeleton only carries the module structure; the tensors always come from the stack.
        self.skeleton = copy.deepcopy(models[0]).to("meta")
        self._persistent = set(models[0].state_dict().keys())

        def one(p: dict, b: dict, x: torch.Tensor) -> torch.Tensor:
            return functional_call(self.skeleton, (p, b), (x,))

        self._per_model = vmap(one, in_dims=(0, 0, 0))  # x: (K, B, C, H, W), a batch per model
        self._shared = vmap(one, in_dims=(0, 0, None))  # x: (B, C, H, W), the same batch for every model

    @classmethod
    def from_states(cls, model_fn: ModelFn, states: Sequence[dict], device: torch.device | str) -> Stack:
        """A stack holding the given ``state_dict`` s (e.g. :attr:`FitResult.state_dict`)."""
        models = []
        for state in states:
            m = model_fn()
            m.load_state_dict(state)
            models.append(m)
        return cls(models, device)

    def forward(self, x: torch.Tensor, *, train: bool) -> torch.Tensor:
        """``(K, B, C, H, W)`` or shared ``(B, C, H, W)`` → ``(K, B, classes)``.

        In training mode BatchNorm normalises each model's batch by its own statistics and updates
        that model's running statistics in place.
        """
        self.skeleton.train(train)
        if not train:
            # Inference runs the K models one after another: under vmap, eval-mode BatchNorm on CUDA asks
            # the batched input for its channels-last contiguity, which functorch does not implement
            # (torch 2.11, ResNet34: "NYI: querying is_contiguous inside of vmap"). Training keeps vmap.
            return torch.stack([
                functional_call(self.skeleton, ({n: p[k] for n, p in self.params.items()},
                                                {n: b[k] for n, b in self.buffers.items()}),
                                (x[k] if x.dim() == 5 else x,))
                for k in range(self.k)
            ])  # fmt: skip
        fn = self._per_model if x.dim() == 5 else self._shared
        return fn(self.params, self.buffers, x)

    def tensors(self) -> list[torch.Tensor]:
        """Every stacked tensor (parameters then buffers), in a fixed order."""
        return list(self.params.values()) + list(self.buffers.values())

    def state_dict(self, k: int) -> dict[str, torch.Tensor]:
        """Model ``k`` as a plain ``state_dict`` on the CPU, loadable into ``model_fn()``."""
        out = {}
        for name, t in {**self.params, **self.buffers}.items():
            if name in self._persistent:
                out[name] = t[k].detach().to("cpu", copy=True)
        return out

    def snapshot(self) -> list[torch.Tensor]:
        return [t.detach().clone() for t in self.tensors()]

    def restore(self, snapshot: Sequence[torch.Tensor], where: torch.Tensor | None = None) -> None:
        """Copy a snapshot back, for all models or (``where``: ``(K,)`` bool) only some."""
        with torch.no_grad():
            for t, s in zip(self.tensors(), snapshot):
                if where is None:
                    t.copy_(s)
                else:
                    t.copy_(torch.where(where.view(-1, *[1] * (t.dim() - 1)), s, t))
