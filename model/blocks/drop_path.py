"""Stochastic depth (Huang et al., 2016): drop a residual branch per sample while training."""
from __future__ import annotations

import torch
from torch import nn


class DropPath(nn.Module):
    """Zero the whole branch of a random ``p`` share of the samples, rescaling the rest by ``1/(1-p)``.

    Works on any shape whose first axis is the batch; identity in eval mode.
    """

    def __init__(self, p: float = 0.0) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(1.0 - self.p)
        return x * keep / (1.0 - self.p)
