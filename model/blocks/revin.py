"""Reversible instance normalisation (Kim et al., ICLR 2022)."""
from __future__ import annotations

import torch
from torch import Tensor, nn


class RevIN(nn.Module):
    """Normalise each series of a batch by its own mean and std over time; ``denormalise`` undoes it.

    Shapes: ``(B, L, F)`` -> ``(B, L, F)``. With ``affine=True`` a learned per-feature scale and
    shift follow the normalisation (and are undone first by ``denormalise``). The statistics of
    the last ``forward`` call are kept for ``denormalise``.
    """

    def __init__(self, n_features: int, eps: float = 1e-5, affine: bool = False) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(n_features)) if affine else None
        self.bias = nn.Parameter(torch.zeros(n_features)) if affine else None
        self._mean: Tensor | None = None
        self._std: Tensor | None = None

    def forward(self, x: Tensor) -> Tensor:
        self._mean = x.mean(dim=1, keepdim=True).detach()
        self._std = torch.sqrt(x.var(dim=1, keepdim=True, unbiased=False) + self.eps).detach()
        x = (x - self._mean) / self._std
        if self.weight is not None:
            x = x * self.weight + self.bias
        return x

    def denormalise(self, x: Tensor) -> Tensor:
        """Map a normalised ``(B, L, F)`` tensor back to the scale of the last ``forward`` input."""
        if self._mean is None:
            raise RuntimeError("RevIN.denormalise called before forward")
        if self.weight is not None:
            x = (x - self.bias) / (self.weight + self.eps * self.eps)
        return x * self._std + self._mean


__all__ = ["RevIN"]
