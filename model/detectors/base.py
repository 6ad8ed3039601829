"""The interface every detector implements, so one trainer and one evaluator serve them all."""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from model.ops.selective_scan import backend_report, conv_report
from util.errors import ConfigError
from util.registry import LOSSES


class Detector(nn.Module):
    """Base class of all detectors.

    A batch is a dict of tensors. Time series: ``batch["x"]`` is ``(batch, window, features)``.
    Images: ``batch["img"]`` is ``(batch, 3, H, W)`` (plus ``mask``/``label`` at test time).

    The contract:

    - ``forward(batch)`` returns a dict of named outputs, what ``loss`` reads: reconstruction
      detectors ``{"recon": (B, W, F)}`` (Anomaly Transformer and MAAT add ``series``/``prior``/
      ``sigma``), DCdetector ``{"patch_wise", "in_patch"}`` attention maps, image detectors
      ``{"enc", "dec"}`` feature maps, non-gradient baselines ``{"score": (B, W)}``.
    - ``score(batch, features=None)`` is the one public scoring entry, always a Tensor: time
      series ``(B, W)``, images ``(B, H, W)``. ``features`` restricts the score to those feature
      indices and this class applies the restriction, so a detector cannot forget it. A detector
      implements exactly one of two hooks:

      * ``feature_contributions(batch)`` ``(B, W, F)`` when its score splits over features;
        ``score`` is ``combine`` (mean by default) of the contributions of ``features``;
      * ``joint_score(batch, features)`` when it does not (the features enter its forward, or it
        scores images); it receives ``features`` and must honour them.

      A detector that cannot score a subset sets ``scores_feature_subsets = False``; asking it for
      one raises a ``ConfigError``. An image detector may add its own image-level score
      (``image_scores``).
    - ``loss(batch)`` applies the registered loss named in the config (``loss=dict(type=...)``).
      Detectors not trained by gradient descent set ``trainable = False`` and implement
      ``fit_offline`` instead.
    - ``compat_modes`` lists the accepted ``model.compat`` values (paper / release behaviour) of
      a detector that has them; ``check_compat`` validates one.
    """

    family: str = "timeseries"
    trainable: bool = True
    # Model config keys that change only how ``score`` reads the trained weights (not the weights):
    # a checkpoint may be tested with these changed, e.g. to rescore one training with another score.
    score_only_keys: tuple[str, ...] = ()
    # False: ``score`` refuses a subset of the features (``evaluation.score_features=all`` is needed).
    scores_feature_subsets: bool = True
    compat_modes: tuple[str, ...] = ()

    def __init__(self, loss: dict | None = None) -> None:
        super().__init__()
        self.criterion = LOSSES.build(loss) if loss is not None else None

    @classmethod
    def check_compat(cls, compat: str) -> str:
        """``compat`` when it is one of ``compat_modes``; a ConfigError naming the detector otherwise."""
        if compat not in cls.compat_modes:
            raise ConfigError(f"{cls.__name__.lower()}: model.compat must be one of {', '.join(cls.compat_modes)}, got '{compat}'.")
        return compat

    def loss(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Training objective: a dict whose ``"loss"`` entry is the scalar to minimise."""
        if self.criterion is None:
            raise NotImplementedError(f"{type(self).__name__} has no loss configured")
        return self.criterion(self(batch), batch)

    def check_features(self, features: list[int] | None) -> None:
        """ConfigError when ``features`` is a subset this detector cannot score from."""
        if features is not None and not self.scores_feature_subsets:
            raise ConfigError(
                f"{type(self).__name__} cannot score a subset of the features, but features {list(features)} were asked for "
                "(evaluation.score_features=labelled asks for the dataset's label_features); set evaluation.score_features=all."
            )

    def score(self, batch: dict[str, torch.Tensor], features: list[int] | None = None) -> torch.Tensor:
        """Anomaly score from ``features`` (indices; None: all), higher is more anomalous.

        Time series: ``(batch, window)``, one score per time step of each window.
        Images: ``(batch, H, W)`` anomaly map at input resolution.
        """
        self.check_features(features)
        contributions = self.feature_contributions(batch)
        if contributions is None:
            return self.joint_score(batch, features)
        return self.combine(contributions if features is None else contributions[..., features])

    def feature_contributions(self, batch: dict[str, torch.Tensor]) -> torch.Tensor | None:
        """Each feature's part in ``score``, per step: ``(batch, window, features)`` over every feature,
        higher = more anomalous; None when the score does not split over features (the default)."""
        return None

    def combine(self, contributions: torch.Tensor) -> torch.Tensor:
        """The score from the contributions of the scored features ``(..., scored)``: their mean."""
        return contributions.mean(-1)

    def joint_score(self, batch: dict[str, torch.Tensor], features: list[int] | None) -> torch.Tensor:
        """The score of a detector without ``feature_contributions``, from ``features`` (None: all)."""
        raise NotImplementedError(f"{type(self).__name__} implements neither feature_contributions nor joint_score")

    def image_scores(self, batch: dict[str, torch.Tensor], maps: torch.Tensor) -> torch.Tensor | None:
        """Images: one score per image ``(B,)`` from the batch and its ``score`` maps ``(B, H, W)``; None
        (the default): the image evaluator takes the maximum of each smoothed map."""
        return None

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
