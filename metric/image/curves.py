"""Weighted ROC / precision-recall curves from one sort, shared by every image metric.

Every curve is evaluated at each distinct score (threshold ``score >= t``), exactly as
scikit-learn does, so AUROC and AP here equal ``roc_auc_score`` / ``average_precision_score``.
"""
from __future__ import annotations

import numpy as np


def cumulative_counts(scores: np.ndarray, positive: np.ndarray, negative: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weights of positives and negatives scored ``>= t`` for every distinct score ``t``, descending.

    Args:
        scores: ``(n,)`` anomaly scores.
        positive, negative: ``(n,)`` non-negative weight of each sample as a positive / negative
            (a 0/1 label gives counts; AUPRO gives each defect pixel ``1 / (regions * region size)``).
    Returns:
        ``(tp, fp)``, each ``(distinct scores,)``, non-decreasing.
    """
    order = np.argsort(scores, kind="stable")[::-1]
    sorted_scores = scores[order]
    tp = np.cumsum(positive[order], dtype=np.float64)
    fp = np.cumsum(negative[order], dtype=np.float64)
    # keep the last index of each run of equal scores: all tied samples cross the threshold together
    last_of_run = np.r_[np.flatnonzero(np.diff(sorted_scores)), len(scores) - 1]
    return tp[last_of_run], fp[last_of_run]


def trapezoid(y: np.ndarray, x: np.ndarray) -> float:
    """Area under the piecewise-linear curve through ``(x, y)`` (``x`` sorted)."""
    return float(np.sum(np.diff(x) * (y[1:] + y[:-1]) / 2.0))


def roc_curve(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(false-positive rate, true-positive rate), starting at (0, 0); NaN rates when a class is absent."""
    labels = labels.astype(bool)
    tp, fp = cumulative_counts(scores, labels.astype(np.float64), (~labels).astype(np.float64))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.r_[0.0, fp / fp[-1]], np.r_[0.0, tp / tp[-1]]


def precision_recall(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(precision, recall) at every distinct threshold, recall increasing."""
    labels = labels.astype(bool)
    tp, fp = cumulative_counts(scores, labels.astype(np.float64), (~labels).astype(np.float64))
    with np.errstate(invalid="ignore", divide="ignore"):
        return tp / (tp + fp), tp / tp[-1]
