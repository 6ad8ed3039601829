"""Thresholded metrics on binary predictions: point-wise, point-adjusted (PA, PA%K) and event-wise.

Definitions (``labels``, ``pred``: ``(time,)`` bool; a *segment* is a run of true labels):

- point-wise: precision = TP / #predicted (0 when nothing is predicted, the scikit-learn
  ``zero_division=0`` convention), recall = TP / #anomalous (NaN without anomalies),
  F1 = 2PR / (P + R) (0 when P + R = 0, NaN when either is NaN).
- PA%K (Kim et al., AAAI 2022): a segment in which MORE than K% of the points are predicted
  becomes wholly predicted, then point-wise P/R/F1. K = 0 is the legacy point adjustment (one hit
  adjusts the whole segment, a segment starting at index 0 included); K = 100 is point-wise.
  ``pak_auc`` = trapezoid area of F1 over K/100 for K in ``PA_K``.
- event-wise F1: recall = fraction of segments with at least one predicted point,
  precision = point-wise precision.
"""
from __future__ import annotations

import numpy as np

from metric.timeseries.segments import segment_ids

PA_K = (0, 20, 50, 80, 100)


def f1_of(precision: float, recall: float) -> float:
    """Harmonic mean; 0 when both are 0, NaN when either is NaN."""
    if np.isnan(precision) or np.isnan(recall):
        return float("nan")
    return 0.0 if precision + recall == 0 else float(2 * precision * recall / (precision + recall))


def precision_recall_f1(labels: np.ndarray, pred: np.ndarray) -> tuple[float, float, float]:
    """Point-wise precision, recall and F1 of ``pred`` against ``labels`` (both ``(time,)`` bool)."""
    tp = int(np.count_nonzero(labels & pred))
    n_pred, n_true = int(np.count_nonzero(pred)), int(np.count_nonzero(labels))
    precision = tp / n_pred if n_pred else 0.0
    recall = tp / n_true if n_true else float("nan")
    return precision, recall, f1_of(precision, recall)


def segment_hits(labels: np.ndarray, pred: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per point its segment id (-1 outside), and per segment its length and number of predicted points."""
    ids = segment_ids(labels)
    inside = ids >= 0
    n_segments = int(ids.max()) + 1 if inside.any() else 0
    lengths = np.bincount(ids[inside], minlength=n_segments)
    hits = np.bincount(ids[inside], weights=pred[inside], minlength=n_segments)
    return ids, lengths, hits


def adjust_predictions(labels: np.ndarray, pred: np.ndarray, k: float = 0) -> np.ndarray:
    """``pred`` with every segment in which more than ``k`` percent of points are predicted filled in."""
    ids, lengths, hits = segment_hits(labels, pred)
    adjusted = 100 * hits > k * lengths
    return pred | ((ids >= 0) & adjusted[np.maximum(ids, 0)]) if len(lengths) else pred.copy()


def pa_k_f1(labels: np.ndarray, pred: np.ndarray, ks: tuple[float, ...] = PA_K) -> np.ndarray:
    """``(len(ks),)`` F1 after PA%K adjustment for each K."""
    return np.array([precision_recall_f1(labels, adjust_predictions(labels, pred, k))[2] for k in ks])


def pak_auc(labels: np.ndarray, pred: np.ndarray, ks: tuple[float, ...] = PA_K) -> float:
    """Trapezoid area under F1(K) for K/100 in [0, 1] (NaN without anomalies)."""
    f1, k = pa_k_f1(labels, pred, ks), np.asarray(ks, dtype=np.float64) / 100
    return float(np.sum(np.diff(k) * (f1[1:] + f1[:-1]) / 2))  # trapezoid (np.trapezoid needs numpy 2)


def event_f1(labels: np.ndarray, pred: np.ndarray) -> float:
    """F1 of event recall (fraction of segments hit) and point-wise precision (NaN without anomalies)."""
    _, lengths, hits = segment_hits(labels, pred)
    if not len(lengths):
        return float("nan")
    precision = precision_recall_f1(labels, pred)[0]
    return f1_of(precision, float(np.mean(hits > 0)))
