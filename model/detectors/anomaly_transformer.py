"""Anomaly Transformer (Xu et al., ICLR 2022): reconstruction with anomaly attention, trained by
the minimax association loss; score = softmax over the window of the negative association
discrepancy, times the per-step reconstruction error.

The softmax's temperature is where paper and release part: the paper's score (its Eq. 6) is
``Softmax(-AssDis) * error`` (temperature 1); the released solver multiplies the discrepancy by 50,
which makes the softmax pick about one step per window and zeroes the error of all others, so
the score stops ranking steps across windows (on the synthetic benchmark: VUS-PR at the random
baseline). ``compat="paper"`` (default) uses 1, ``compat="release"`` 50; an explicit
``temperature`` wins over either.

Architecture as released: data embedding (circular conv + sinusoidal positions) -> ``e_layers``
encoder layers (anomaly attention + residual + LayerNorm, position-wise FFN with GELU + residual
+ LayerNorm) -> LayerNorm -> ``Linear(d_model -> F)``.
"""
from __future__ import annotations

from model.detectors.association import AssociationTransformer
from util.registry import DETECTORS


@DETECTORS.register("anomaly_transformer")
class AnomalyTransformer(AssociationTransformer):
    """Anomaly Transformer (see the module docstring; arguments: ``AssociationTransformer``)."""


__all__ = ["AnomalyTransformer"]
