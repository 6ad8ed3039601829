"""The time-series metric suite of one entity in one call, and the mean over entities.

``compute_metrics(labels, scores, pred=None, threshold=None, window=100)`` returns exactly the
keys of ``METRIC_KEYS``, the metrics declared in ``METRICS`` (values in [0, 1], NaN where undefined):

- threshold-free, from the continuous ``scores``: ``auc_roc`` and ``auc_pr`` (scikit-learn
  ``roc_auc_score`` / ``average_precision_score``), ``range_auc_roc``/``range_auc_pr`` (buffer
  ``window``) and ``vus_roc``/``vus_pr`` (buffers 0..window), see ``metric.timeseries.vus``;
- at the threshold (``pred`` if given, else ``scores >= threshold``; the threshold is a float or
  a per-point ``(time,)`` array): point-wise ``precision``/``recall``/``f1``, legacy point-adjusted
  ``pa_precision``/``pa_recall``/``pa_f1``, ``pak_auc`` (PA%K area) and ``event_f1``, see
  ``metric.timeseries.pointwise``; ``affiliation_precision``/``_recall``/``_f1``, see
  ``metric.timeseries.affiliation``.

Undefined values: labels without any anomaly give NaN for every metric except ``precision`` and
``pa_precision`` (0 when something is predicted); labels that are all anomalous give NaN for the
six threshold-free metrics. With nothing predicted, precision is 0 (scikit-learn's convention),
affiliation precision is NaN (the paper's) and every F1 is 0.

Agreement with TSB-AD 1.5 ``get_metrics(score, labels, slidingWindow=window, pred=pred)`` (checked
in ``tests/test_metrics_ts.py``): identical AUC-ROC/PR, VUS-ROC/PR, point-wise F1 and affiliation
F1. Deliberate differences: TSB-AD's point adjustment never adjusts index 0 and its event F1
drops the last point of a segment that ends the series (both are fixed here); its affiliation F1
is NaN when nothing is predicted (0 here); it has no Range-AUC that works for window >= 2 (here:
the VUS surface at ``window``).
"""
from __future__ import annotations

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

from metric.declaration import Metric, MetricSet
from metric.timeseries.affiliation import affiliation_precision_recall
from metric.timeseries.pointwise import adjust_predictions, event_f1, f1_of, pak_auc, precision_recall_f1
from metric.timeseries.vus import N_THRESHOLDS, range_auc_and_vus
from util.errors import DataError

# Every metric of ``compute_metrics``, in the order of its output (and of results.json).
METRICS = MetricSet(
    Metric("auc_roc", "AUC-ROC"),
    Metric("auc_pr", "AUC-PR"),
    Metric("range_auc_roc", "R-AUC-ROC"),
    Metric("range_auc_pr", "R-AUC-PR"),
    Metric("vus_roc", "VUS-ROC"),
    Metric("vus_pr", "VUS-PR"),
    Metric("precision", "P", needs_threshold=True),
    Metric("recall", "R", needs_threshold=True),
    Metric("f1", "F1", needs_threshold=True),
    Metric("pa_precision", "PA-P", needs_threshold=True, point_adjusted=True),
    Metric("pa_recall", "PA-R", needs_threshold=True, point_adjusted=True),
    Metric("pa_f1", "PA-F1", needs_threshold=True, point_adjusted=True),
    Metric("pak_auc", "PA%K-AUC", needs_threshold=True, point_adjusted=True),
    Metric("event_f1", "Event-F1", needs_threshold=True),
    Metric("affiliation_precision", "Aff-P", needs_threshold=True),
    Metric("affiliation_recall", "Aff-R", needs_threshold=True),
    Metric("affiliation_f1", "Aff-F1", needs_threshold=True),
)
METRIC_KEYS = METRICS.keys
THRESHOLD_FREE_KEYS = tuple(m.key for m in METRICS.where(needs_threshold=False))
# The headline of per-entity and comparison tables, in reading order.
SUMMARY_KEYS = ("vus_pr", "auc_pr", "affiliation_f1", "f1", "pa_f1")


def _binary(values: np.ndarray, name: str, length: int) -> np.ndarray:
    """``values`` as a bool copy, after checking shape and that they are 0/1."""
    array = np.asarray(values)
    if array.ndim != 1 or len(array) != length:
        raise DataError(f"{name} must be a 1-D array as long as the scores ({length}), got shape {array.shape}.")
    if array.dtype != bool and not np.isin(array, (0, 1)).all():
        raise DataError(f"{name} must contain only 0 and 1 (or booleans); found {np.unique(array[~np.isin(array, (0, 1))])[:5]}.")
    return array.astype(bool)


def _scores(values: np.ndarray) -> np.ndarray:
    scores = np.asarray(values, dtype=np.float64)
    if scores.ndim != 1 or not len(scores):
        raise DataError(f"scores must be a non-empty 1-D array, got shape {scores.shape}.")
    if not np.isfinite(scores).all():
        bad = np.flatnonzero(~np.isfinite(scores))
        raise DataError(f"scores contain {len(bad)} NaN/inf values (first at index {bad[0]}); fix the detector or the data before evaluating.")
    return scores


def predictions(scores: np.ndarray, pred: np.ndarray | None, threshold: float | np.ndarray | None) -> np.ndarray:
    """``(time,)`` bool predictions: ``pred`` if given, else ``scores >= threshold``."""
    if pred is not None:
        return _binary(pred, "pred", len(scores))
    if threshold is None:
        raise DataError("Give either pred (binary predictions) or threshold to compute the thresholded metrics.")
    threshold = np.asarray(threshold, dtype=np.float64)
    if threshold.ndim > 1 or (threshold.ndim == 1 and len(threshold) != len(scores)):
        raise DataError(f"threshold must be a number or a 1-D array as long as the scores ({len(scores)}), got shape {threshold.shape}.")
    if np.isnan(threshold).any():
        raise DataError("threshold is NaN; check the threshold rule's input scores.")
    return scores >= threshold



def threshold_free_metrics(labels: np.ndarray, scores: np.ndarray, window: int = 100, n_thresholds: int = N_THRESHOLDS) -> dict[str, float]:
    """The six threshold-free metrics of ``compute_metrics`` (``THRESHOLD_FREE_KEYS``), from continuous scores only.

    Args:
        labels: ``(time,)`` ground truth, 1 (or True) = anomalous.
        scores: ``(time,)`` finite anomaly scores, higher = more anomalous.
        window: buffer of Range-AUC and largest buffer of VUS.
        n_thresholds: score thresholds of each Range-AUC curve.
    """
    scores = _scores(scores)
    labels = _binary(labels, "labels", len(scores))
    if int(window) != window or window < 0:
        raise DataError(f"window must be a non-negative integer, got {window!r}.")
    if int(n_thresholds) != n_thresholds or n_thresholds < 1:
        raise DataError(f"n_thresholds must be a positive integer, got {n_thresholds!r}.")
    constant = labels.all() or not labels.any()
    out = {
        "auc_roc": float("nan") if constant else float(roc_auc_score(labels, scores)),
        "auc_pr": float("nan") if constant else float(average_precision_score(labels, scores)),
        **range_auc_and_vus(labels, scores, int(window), int(n_thresholds)),
    }
    return {key: out[key] for key in THRESHOLD_FREE_KEYS}


def compute_metrics(
    labels: np.ndarray,
    scores: np.ndarray,
    pred: np.ndarray | None = None,
    threshold: float | np.ndarray | None = None,
    window: int = 100,
    n_thresholds: int = N_THRESHOLDS,
) -> dict[str, float]:
    """Every time-series metric of one entity (see module docstring); inputs are never modified.

    Args:
        labels: ``(time,)`` ground truth, 1 (or True) = anomalous.
        scores: ``(time,)`` finite anomaly scores, higher = more anomalous.
        pred: ``(time,)`` binary predictions; overrides ``threshold``.
        threshold: number or ``(time,)`` per-point thresholds.
        window: buffer of Range-AUC and largest buffer of VUS (TSB-AD's ``slidingWindow``, 100).
        n_thresholds: score thresholds of each Range-AUC curve (TSB-AD's ``thre``, 250).
    Raises:
        DataError: NaN/inf scores, lengths that disagree, non-binary labels or predictions.
    """
    scores = _scores(scores)
    labels = _binary(labels, "labels", len(scores))
    predicted = predictions(scores, pred, threshold)
    out = threshold_free_metrics(labels, scores, window, n_thresholds)
    out["precision"], out["recall"], out["f1"] = precision_recall_f1(labels, predicted)
    out["pa_precision"], out["pa_recall"], out["pa_f1"] = precision_recall_f1(labels, adjust_predictions(labels, predicted))
    out["pak_auc"] = pak_auc(labels, predicted)
    out["event_f1"] = event_f1(labels, predicted)
    aff_precision, aff_recall = affiliation_precision_recall(labels, predicted)
    out["affiliation_precision"], out["affiliation_recall"] = aff_precision, aff_recall
    out["affiliation_f1"] = 0.0 if aff_recall == 0 else f1_of(aff_precision, aff_recall)
    return {key: float(out[key]) for key in METRIC_KEYS}


def aggregate(per_entity: dict[str, dict[str, float]]) -> dict[str, float]:
    """Mean of each metric over entities, ignoring entities where it is NaN (NaN if NaN everywhere)."""
    if not per_entity:
        return dict.fromkeys(METRIC_KEYS, float("nan"))
    keys = list(dict.fromkeys(k for metrics in per_entity.values() for k in metrics))
    table = np.array([[metrics.get(k, np.nan) for k in keys] for metrics in per_entity.values()], dtype=np.float64)
    defined = np.isfinite(table)
    counts = defined.sum(axis=0)
    sums = np.where(defined, table, 0.0).sum(axis=0)
    return {k: float(s / c) if c else float("nan") for k, s, c in zip(keys, sums, counts)}
