"""Which sensor: a detector's per-feature contributions over a whole series, one row per step."""
from __future__ import annotations

import numpy as np
import torch

from data.timeseries.base import TimeSeriesData
from data.timeseries.windows import fold_window_scores
from model.detectors.base import Detector
from util.device import move_batch
from util.errors import ConfigError


def require_contributions(detector: Detector, contributions: torch.Tensor | None) -> torch.Tensor:
    """``contributions``, or the error saying ``detector`` has none."""
    if contributions is None:
        raise ConfigError(
            f"{type(detector).__name__} has no per-feature contributions: its score does not split over features "
            "(Detector.feature_contributions returns None). Use a reconstruction detector (kambaad, dense_ae, pca, "
            "anomaly_transformer, maat) or zscore."
        )
    return contributions


@torch.inference_mode()
def series_contributions(detector: Detector, data: TimeSeriesData, series: np.ndarray, device: torch.device) -> np.ndarray:
    """``(time, features)``: ``detector.feature_contributions`` of the windows the evaluator scores
    ``series`` with (``data.series_loader``), each feature folded to steps by ``fold_window_scores``,
    exactly as ``trainer.ts_evaluator.score_series`` folds the scores."""
    detector.eval()
    loader = data.series_loader(series)
    windows = np.concatenate([
        require_contributions(detector, detector.feature_contributions(move_batch(batch, device))).float().cpu().numpy()
        for batch in loader
    ])  # (n_windows, window, features)
    starts = loader.dataset.starts.numpy()
    return np.stack([fold_window_scores(windows[..., f], starts, len(series)) for f in range(windows.shape[-1])], axis=1)


__all__ = ["require_contributions", "series_contributions"]
