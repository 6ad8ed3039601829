"""Weighted ROC / precision-recall curves from one sort, shared by every image metric.

Every curve is evaluated at each distinct score (threshold ``score >= t``), exactly as
scikit-learn does, so AUROC and AP here equal ``roc_auc_score`` / ``average_precision_score``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def cumulative_weights(scores: np.ndarray, *weights: np.ndarray) -> list[np.ndarray]:
    """For each weight array, the total weight of samples scored ``>= t`` at every distinct score ``t``
    (descending), all from one sort.

    Args:
        scores: ``(n,)`` anomaly scores.
        weights: ``(n,)`` non-negative weights (0/1 labels give counts; AUPRO gives each defect
            pixel ``1 / (regions * region size)``).
    Returns:
        One non-decreasing ``(distinct scores,)`` float64 array per weight array.
    """
    order = np.argsort(scores)[::-1]
    sorted_scores = scores[order]
    # keep the last index of each run of equal scores: tied samples cross the threshold together
    last_of_run = np.r_[np.flatnonzero(sorted_scores[1:] != sorted_scores[:-1]), len(scores) - 1]
    return [np.cumsum(w[order], dtype=np.float64)[last_of_run] for w in weights]


def trapezoid(y: np.ndarray, x: np.ndarray) -> float:
    """Area under the piecewise-linear curve through ``(x, y)`` (``x`` sorted)."""
    return float(np.sum(np.diff(x) * (y[1:] + y[:-1]) / 2.0))


@dataclass
class Counts:
    """True and false positives at every distinct threshold, descending (``tp[-1]``, ``fp[-1]``: totals)."""

    tp: np.ndarray
    fp: np.ndarray

    def roc(self) -> tuple[np.ndarray, np.ndarray]:
        """(false-positive rate, true-positive rate), starting at (0, 0)."""
        return np.r_[0.0, self.fp / self.fp[-1]], np.r_[0.0, self.tp / self.tp[-1]]

    def precision_recall(self) -> tuple[np.ndarray, np.ndarray]:
        """(precision, recall), recall non-decreasing."""
        return self.tp / (self.tp + self.fp), self.tp / self.tp[-1]
