"""Feature-reconstruction losses of MambaAD/MTAD: decoder maps ``outputs["dec"]`` against the frozen
encoder's maps ``outputs["enc"]``, both lists of ``(batch, channels, h, w)`` tensors, one per scale.

Each loss sums its per-scale term over the scales, multiplies by ``weight`` and also returns the
per-scale terms (``scale0``, ``scale1``, ... detached) for the log.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from util.registry import LOSSES


def _scale_pairs(outputs: dict[str, list[Tensor]]) -> list[tuple[Tensor, Tensor]]:
    """(encoder, decoder) map pairs; a shape mismatch is a model bug."""
    enc, dec = outputs["enc"], outputs["dec"]
    if len(enc) != len(dec) or any(e.shape != d.shape for e, d in zip(enc, dec)):
        raise ValueError(f"encoder maps {[tuple(e.shape) for e in enc]} do not match decoder maps {[tuple(d.shape) for d in dec]}")
    return list(zip(enc, dec))


def _weighted_sum(terms: list[Tensor], weight: float) -> dict[str, Tensor]:
    return {"loss": weight * torch.stack(terms).sum(), **{f"scale{i}": t.detach() for i, t in enumerate(terms)}}


@LOSSES.register("feature_mse")
class FeatureMSELoss(nn.Module):
    """``weight * sum_scales mean((enc - dec)^2)``: MambaAD's and MTAD's loss (the paper's L2, the
    release's ``L2Loss(lam=5)``). Args: weight (the papers use 5)."""

    def __init__(self, weight: float = 5.0) -> None:
        super().__init__()
        self.weight = weight

    def forward(self, outputs: dict, batch: dict) -> dict[str, Tensor]:
        return _weighted_sum([F.mse_loss(d, e) for e, d in _scale_pairs(outputs)], self.weight)


@LOSSES.register("feature_cos")
class FeatureCosineLoss(nn.Module):
    """``weight * sum_scales mean(1 - cos(enc, dec))``, cosine over channels at every position
    (the quantity the anomaly map measures; ADer's ``CosLoss`` instead takes one cosine per
    flattened map). Not the papers' loss: an alternative objective. Args: weight."""

    def __init__(self, weight: float = 1.0) -> None:
        super().__init__()
        self.weight = weight

    def forward(self, outputs: dict, batch: dict) -> dict[str, Tensor]:
        return _weighted_sum([(1 - F.cosine_similarity(e, d, dim=1)).mean() for e, d in _scale_pairs(outputs)], self.weight)
