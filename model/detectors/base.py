"""The interface every detector implements, so one trainer and one evaluator serve them all."""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from model.ops.selective_scan import backend_report, conv_report
from util.registry import LOSSES


class Detector(nn.Module):
    """Base class of all detectors.

    A batch is a dict of tensors. Time series: ``batch["x"]`` is ``(batch, window, features)``.
    Images: ``batch["img"]`` is ``(batch, 3, H, W)`` (plus ``mask``/``label`` at test time).

    Subclasses implement ``forward`` (returning a dict of named outputs) and ``score``;
    ``loss`` applies the registered loss named in the config (``loss=dict(type=...)``).
    Detectors that are not trained by gradient descent set ``trainable = False`` and
    implement ``fit_offline`` instead.
    """

    family: str = "timeseries"
    trainable: bool = True
    # Model config keys that change only how ``score`` reads the trained weights (not the weights):
    # a checkpoint may be tested with these changed, e.g. to rescore one training with another score.
    score_only_keys: tuple[str, ...] = ()
    # Time series: the feature indices a score is computed from (None: all). The evaluator sets it
    # from ``evaluation.score_features``; training always uses every feature. Detectors whose score
    # cannot be restricted to some features set ``scores_feature_subsets = False``.
    score_features: list[int] | None = None
    scores_feature_subsets: bool = True

    def __init__(self, loss: dict | None = None) -> None:
        super().__init__()
        self.criterion = LOSSES.build(loss) if loss is not None else None

    def loss(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Training objective: a dict whose ``"loss"`` entry is the scalar to minimise."""
        if self.criterion is None:
            raise NotImplementedError(f"{type(self).__name__} has no loss configured")
        return self.criterion(self(batch), batch)

    def score(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Anomaly score, higher is more anomalous.

        Time series: ``(batch, window)``, one score per time step of each window.
        Images: ``(batch, H, W)`` anomaly map at input resolution.
        """
        raise NotImplementedError

    def feature_contributions(self, batch: dict[str, torch.Tensor]) -> torch.Tensor | None:
        """Each feature's part in ``score``, per step: ``(batch, window, features)`` over every feature
        (``score_features`` restricts only ``score``), higher = more anomalous; None when the score does
        not split over features (the default). Overrides say how ``score`` follows from it."""
        return None

    def scored(self, per_feature: torch.Tensor) -> torch.Tensor:
        """``per_feature`` ``(..., features)`` restricted to ``score_features`` (all when None)."""
        return per_feature if self.score_features is None else per_feature[..., self.score_features]

    def fit_offline(self, train_series: list[np.ndarray]) -> None:
        """Fit a non-gradient detector on the (scaled) training series, each ``(time, features)``."""
        raise NotImplementedError(f"{type(self).__name__} is trained by gradient descent")

    def extra_repr_info(self) -> dict[str, Any]:
        """Facts for the run log. Here: for a detector with Mamba blocks, the scan backend and causal
        conv that run on its device and why (``backend_report``, ``conv_report``); subclasses add
        their own (compat mode, switches)."""
        backends = {m.scan_backend for m in self.modules() if hasattr(m, "scan_backend")}
        params = next(self.parameters(), None)
        if not backends or params is None:
            return {}
        device = params.device
        return {"scan_backend": sorted(backend_report(device, b) for b in backends), "causal_conv": conv_report(device)}
