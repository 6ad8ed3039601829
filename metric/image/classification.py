"""Threshold-free detection metrics of flat score/label arrays: AUROC, AP and F1-max.

Each returns NaN when ``labels`` holds only one class (the metric is undefined there).
"""
from __future__ import annotations

import numpy as np

from metric.image.curves import precision_recall, roc_curve, trapezoid


def _has_both_classes(labels: np.ndarray) -> bool:
    return bool(labels.any()) and not bool(labels.all())


def auroc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve (ties count half, as in scikit-learn)."""
    labels, scores = np.asarray(labels).ravel().astype(bool), np.asarray(scores, dtype=np.float64).ravel()
    if not _has_both_classes(labels):
        return float("nan")
    fpr, tpr = roc_curve(scores, labels)
    return trapezoid(tpr, fpr)


def average_precision(labels: np.ndarray, scores: np.ndarray) -> float:
    """Average precision: sum over thresholds of precision times the recall gained (scikit-learn's definition)."""
    labels, scores = np.asarray(labels).ravel().astype(bool), np.asarray(scores, dtype=np.float64).ravel()
    if not _has_both_classes(labels):
        return float("nan")
    precision, recall = precision_recall(scores, labels)
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def f1_max(labels: np.ndarray, scores: np.ndarray) -> float:
    """Best F1 over all thresholds of the precision-recall curve (an oracle threshold, ADer's F1-max)."""
    labels, scores = np.asarray(labels).ravel().astype(bool), np.asarray(scores, dtype=np.float64).ravel()
    if not _has_both_classes(labels):
        return float("nan")
    precision, recall = precision_recall(scores, labels)
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    return float(f1.max())
