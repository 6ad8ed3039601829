"""Threshold-free detection metrics: AUROC, AP and F1-max, from one sort of the scores.

Each is NaN when the labels hold only one class (the metric is undefined there).
"""
from __future__ import annotations

import numpy as np

from metric.image.curves import Counts, cumulative_weights, trapezoid

NAN = float("nan")


def counts(labels: np.ndarray, scores: np.ndarray) -> Counts | None:
    """True/false-positive counts at every distinct threshold; None unless both classes occur."""
    labels, scores = np.asarray(labels).ravel().astype(bool), np.asarray(scores).ravel()
    if not labels.any() or labels.all():
        return None
    return Counts(*cumulative_weights(scores, labels.astype(np.float64), (~labels).astype(np.float64)))


def auroc_of(c: Counts | None) -> float:
    """Area under the ROC curve (ties count half, as in scikit-learn)."""
    if c is None:
        return NAN
    fpr, tpr = c.roc()
    return trapezoid(tpr, fpr)


def average_precision_of(c: Counts | None) -> float:
    """Sum over thresholds of precision times the recall gained (scikit-learn's definition)."""
    if c is None:
        return NAN
    precision, recall = c.precision_recall()
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def f1_max_of(c: Counts | None) -> float:
    """Best F1 over all thresholds (an oracle threshold: ADer's F1-max)."""
    if c is None:
        return NAN
    precision, recall = c.precision_recall()
    return float(np.max(2 * precision * recall / np.maximum(precision + recall, np.finfo(float).tiny)))


def auroc(labels: np.ndarray, scores: np.ndarray) -> float:
    """AUROC of flat ``labels`` (1 = anomalous) and ``scores``."""
    return auroc_of(counts(labels, scores))


def average_precision(labels: np.ndarray, scores: np.ndarray) -> float:
    """Average precision of flat ``labels`` and ``scores``."""
    return average_precision_of(counts(labels, scores))


def f1_max(labels: np.ndarray, scores: np.ndarray) -> float:
    """F1-max of flat ``labels`` and ``scores``."""
    return f1_max_of(counts(labels, scores))
