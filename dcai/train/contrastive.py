"""Supervised contrastive loss (Khosla et al. 2020, "SupCon", the L_out form) for K stacked models.

``features`` ``(K, B, D)`` are the model outputs of B images (two augmented views of B/2 images,
concatenated view after view), ``labels`` ``(K, B)``. Each anchor's loss is the mean, over the other
rows of its class (its own second view included), of ``-log softmax(sim / t)`` among all rows but
itself, with ``sim`` the cosine similarity; an anchor with no positive in the batch adds nothing.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def supcon(features: torch.Tensor, labels: torch.Tensor, *, temperature: float = 0.1) -> torch.Tensor:
    """``(K, B, D)`` features, ``(K, B)`` labels → ``(K, B)`` per-anchor loss (0 where no positive)."""
    z = F.normalize(features, dim=-1)
    sim = z @ z.transpose(1, 2) / temperature  # (K, B, B)
    b = sim.shape[1]
    eye = torch.eye(b, dtype=torch.bool, device=sim.device)
    # a large negative, not -inf: -inf * 0 in the positive sum below would give NaN
    logits = sim.masked_fill(eye, -1e9)
    log_prob = logits - torch.logsumexp(logits, dim=-1, keepdim=True)
    positive = (labels[:, :, None] == labels[:, None, :]) & ~eye
    count = positive.sum(-1)
    return -(log_prob * positive).sum(-1) / count.clamp(min=1)


def nearest_agrees(features: torch.Tensor, labels: torch.Tensor, views: int = 2) -> torch.Tensor:
    """``(K, B)`` bool: each anchor's most similar row, other than itself and its own other view, has its
    label (the training "accuracy" of an embedding: a 1-NN vote inside the batch)."""
    z = F.normalize(features, dim=-1)
    sim = z @ z.transpose(1, 2)
    b = sim.shape[1]
    i = torch.arange(b, device=sim.device)
    same_image = (i[:, None] % (b // views)) == (i[None, :] % (b // views))
    nearest = sim.masked_fill(same_image, -2.0).argmax(-1)  # (K, B)
    return torch.gather(labels, 1, nearest) == labels
