"""Range-AUC-ROC/PR and VUS-ROC/PR (Paparrizos et al., VLDB 2022), as defined by TSB-AD 1.5.

Exact vectorised re-implementation of TSB-AD's ``get_metrics(..., version='opt', thre=250)``:

- Thresholds: the scores at ranks ``linspace(0, T - 1, n_thresholds).astype(int)`` (default 250) of the descending
  sort; a point is predicted when ``score >= threshold``.
- Buffer ``w`` (0..window): every anomaly segment ``[s, e]`` is extended by ``h = w // 2`` points
  each side with weights ``sqrt(1 - d / w)`` at distance d = 1..h (weights of overlapping
  extensions add, capped at 1); ``ext`` is that soft label. The extended segments, merged when
  they touch, are the *ranges*.
- Per threshold: TP = sum of ``ext`` over predicted points; N_labels = #anomalous + soft labels of
  predicted non-anomalous points; P' = (#anomalous + N_labels) / 2;
  TPR = min(TP / P', 1) * (fraction of ranges containing a predicted point);
  FPR = (#predicted - TP) / (T - P'); precision = TP / #predicted.
- Range-AUC-ROC = trapezoid area of TPR over FPR with (0, 0) and (1, 1) added; Range-AUC-PR =
  sum of TPR increments (from 0) times precision.
- ``range_auc_*`` = the values at buffer ``window``; ``vus_*`` = their mean over buffers
  0..window (TSB-AD's own ``RangeAUC`` fails for buffers >= 2; this slice of its VUS surface is
  the consistent Range-AUC).

Undefined (NaN) when the labels are all normal or all anomalous.
"""
from __future__ import annotations

import numpy as np

from metric.timeseries.segments import segments

N_THRESHOLDS = 250


def _soft_labels(labels: np.ndarray, starts: np.ndarray, last: np.ndarray, buffer: int) -> np.ndarray:
    """``(time,)`` anomaly labels extended by ``buffer // 2`` points each side with sqrt(1 - d/buffer) weights."""
    soft = labels.astype(np.float64)
    half = buffer // 2
    if half:
        distance = np.arange(1, half + 1)
        weight = np.sqrt(1 - distance / buffer)
        after, before = last[:, None] + distance, starts[:, None] - distance
        where = np.concatenate((after.ravel(), before.ravel()))
        weights = np.tile(np.broadcast_to(weight, after.shape).ravel(), 2)
        inside = (where >= 0) & (where < len(labels))
        soft += np.bincount(where[inside], weights=weights[inside], minlength=len(labels))
    return np.minimum(soft, 1.0)


def _ranges(starts: np.ndarray, last: np.ndarray, half: int, length: int) -> tuple[np.ndarray, np.ndarray]:
    """First and last index of the merged segments extended by ``half`` points each side."""
    gap_opens = last[:-1] + half < starts[1:] - half
    first = np.concatenate(([max(starts[0] - half, 0)], starts[1:][gap_opens] - half))
    final = np.concatenate((last[:-1][gap_opens] + half, [min(last[-1] + half, length - 1)]))
    return first, final


def _range_min(values: np.ndarray, first: np.ndarray, final: np.ndarray) -> np.ndarray:
    """Minimum of ``values`` over each inclusive index range (ranges disjoint, increasing)."""
    bounds = np.empty(2 * len(first), dtype=np.int64)
    bounds[0::2], bounds[1::2] = first, final + 1
    if bounds[-1] == len(values):
        bounds = bounds[:-1]
    return np.minimum.reduceat(values, bounds)[0::2]


def range_auc_curves(labels: np.ndarray, scores: np.ndarray, window: int, n_thresholds: int = N_THRESHOLDS) -> tuple[np.ndarray, np.ndarray]:
    """Range-AUC-ROC and Range-AUC-PR for every buffer 0..window, each ``(window + 1,)``.

    Args:
        labels: ``(time,)`` bool, with at least one anomalous and one normal point.
        scores: ``(time,)`` finite anomaly scores.
    """
    length = len(scores)
    order = np.argsort(-scores, kind="stable")
    rank = np.empty(length, dtype=np.int64)
    rank[order] = np.arange(length)
    descending = scores[order]
    ascending = descending[::-1]
    thresholds = descending[np.linspace(0, length - 1, n_thresholds).astype(int)]
    n_pred = length - np.searchsorted(ascending, thresholds, side="left")  # points with score >= threshold
    top = n_pred - 1  # the predicted points are exactly the first n_pred in rank order
    positives = float(labels.sum())
    tp_original = np.cumsum(labels[order])[top]
    starts, stops = segments(labels)
    last = stops - 1
    roc, pr = np.empty(window + 1), np.empty(window + 1)
    for buffer in range(window + 1):
        soft = _soft_labels(labels, starts, last, buffer)
        tp = np.cumsum(soft[order])[top]
        first, final = _ranges(starts, last, buffer // 2, length)
        found = np.searchsorted(np.sort(_range_min(rank, first, final)), n_pred, side="left")
        soft_positives = (positives + positives + tp - tp_original) / 2
        tpr = np.minimum(tp / soft_positives, 1) * found / len(first)
        fpr = (n_pred - tp) / (length - soft_positives)
        tpr_curve, fpr_curve = np.concatenate(([0.0], tpr, [1.0])), np.concatenate(([0.0], fpr, [1.0]))
        roc[buffer] = np.sum(np.diff(fpr_curve) * (tpr_curve[1:] + tpr_curve[:-1]) / 2)
        pr[buffer] = np.sum(np.diff(tpr_curve[:-1]) * tp / n_pred)
    return roc, pr


def range_auc_and_vus(labels: np.ndarray, scores: np.ndarray, window: int, n_thresholds: int = N_THRESHOLDS) -> dict[str, float]:
    """``range_auc_roc``, ``range_auc_pr`` (buffer ``window``) and ``vus_roc``, ``vus_pr`` (mean over 0..window)."""
    if labels.all() or not labels.any():
        return dict.fromkeys(("range_auc_roc", "range_auc_pr", "vus_roc", "vus_pr"), float("nan"))
    roc, pr = range_auc_curves(labels, scores, window, n_thresholds)
    return {"range_auc_roc": float(roc[-1]), "range_auc_pr": float(pr[-1]), "vus_roc": float(roc.mean()), "vus_pr": float(pr.mean())}
