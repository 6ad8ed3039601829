"""Affiliation precision and recall (Huet, Navarro and Rossi, KDD 2022), from the published definition.

Time is continuous on ``[0, T)``; a point ``i`` of a 0/1 array is the half-open interval
``[i, i + 1)``, so a run of ones ``i..k`` is the event ``[i, k + 1)``.

- **Affiliation zones.** Ground-truth events ``gt_j = [a_j, b_j)`` split ``[0, T)`` into zones
  ``I_j``: the points closer to ``gt_j`` than to any other event (boundaries at the midpoints
  ``(b_j + a_{j+1}) / 2``; the first zone starts at 0, the last ends at T). The prediction is cut
  into ``Y_j = Y ∩ I_j``.
- **Precision of zone j** (defined when ``Y_j`` is not empty): the mean over ``y ∈ Y_j`` of
  ``P(dist(X, gt_j) >= dist(y, gt_j))`` with ``X`` uniform on ``I_j``: how much closer to the event
  than a random point each predicted point is (1 inside the event).
- **Recall of zone j**: the mean over ``x ∈ gt_j`` of ``P(|X - x| >= dist(x, Y_j))`` with ``X``
  uniform on ``I_j`` (0 when ``Y_j`` is empty: infinite distance).
- Precision = mean of the defined zone precisions; recall = mean over all zones.

Integrals are evaluated exactly (the distances are piecewise linear, so each integrand is a sum of
``max(linear, 0)`` pieces). Degenerate cases: no prediction at all -> precision NaN (published
definition) and recall 0; no ground-truth event -> precision and recall NaN. ``compute_metrics`` takes
the harmonic mean as F1, NaN without events and 0 when nothing is predicted (a detector that
flags nothing must not vanish from a mean; TSB-AD returns NaN there).
"""
from __future__ import annotations

import numpy as np

from metric.timeseries.segments import segments


def _ramp_integral(offset: np.ndarray, slope: float, x0: np.ndarray, x1: np.ndarray) -> np.ndarray:
    """Integral of ``max(offset + slope * x, 0)`` over ``[x0, x1]`` (``slope`` nonzero), elementwise."""
    upper = np.maximum(offset + slope * x1, 0.0)
    lower = np.maximum(offset + slope * x0, 0.0)
    return (upper**2 - lower**2) / (2 * slope)


def _tail_integral(length: np.ndarray, d1: np.ndarray, d2: np.ndarray) -> np.ndarray:
    """Integral over ``d`` in ``[d1, d2]`` of ``max(length - d, 0)``."""
    return (np.maximum(length - d1, 0.0) ** 2 - np.maximum(length - d2, 0.0) ** 2) / 2


def affiliation_precision_recall(labels: np.ndarray, pred: np.ndarray) -> tuple[float, float]:
    """Affiliation (precision, recall) of ``pred`` against ``labels`` (both ``(time,)`` bool or 0/1)."""
    gt_start, gt_end = segments(labels)
    if not len(gt_start):
        return float("nan"), float("nan")
    if not pred.any():
        return float("nan"), 0.0
    length = len(labels)
    a, b = gt_start.astype(float), gt_end.astype(float)
    bounds = np.concatenate(([0.0], (b[:-1] + a[1:]) / 2, [float(length)]))
    z0, z1 = bounds[:-1], bounds[1:]
    zone_len = z1 - z0

    # elementary cells: prediction coverage, zone and side of the event are constant on each
    pred_start, pred_end = segments(pred)
    cuts = np.unique(np.concatenate((bounds, a, b, pred_start, pred_end)).astype(float))
    u, v = cuts[:-1], cuts[1:]
    covered = np.asarray(pred, dtype=bool)[np.floor(u).astype(int)]
    zone = np.searchsorted(bounds, u, side="right") - 1
    left_of, right_of = v <= a[zone], u >= b[zone]
    inside = ~left_of & ~right_of
    width = v - u

    dist_lo = np.where(left_of, a[zone] - v, u - b[zone])  # distance range of the cell to gt_j
    dist_hi = np.where(left_of, a[zone] - u, v - b[zone])
    outside_mass = _tail_integral((a - z0)[zone], dist_lo, dist_hi) + _tail_integral((z1 - b)[zone], dist_lo, dist_hi)
    precision_mass = np.where(inside, width, outside_mass / zone_len[zone])
    zone_pred_len = np.bincount(zone[covered], weights=width[covered], minlength=len(a))
    zone_precision_mass = np.bincount(zone[covered], weights=precision_mass[covered], minlength=len(a))
    has_pred = zone_pred_len > 0
    precision = float(np.mean(zone_precision_mass[has_pred] / zone_pred_len[has_pred]))

    recall_mass = np.where(inside & covered, width, 0.0)
    gaps = np.flatnonzero(inside & ~covered)
    cover_idx = np.flatnonzero(covered)
    before = np.searchsorted(v[cover_idx], u[gaps], side="right") - 1
    after = np.searchsorted(u[cover_idx], v[gaps], side="left")
    gap_zone = zone[gaps]
    has_before = (before >= 0) & (zone[cover_idx[np.maximum(before, 0)]] == gap_zone)
    has_after = (after < len(cover_idx)) & (zone[cover_idx[np.minimum(after, len(cover_idx) - 1)]] == gap_zone)
    q = np.where(has_before, v[cover_idx[np.maximum(before, 0)]], 0.0)  # end of the nearest prediction before
    p = np.where(has_after, u[cover_idx[np.minimum(after, len(cover_idx) - 1)]], 0.0)  # start of the one after
    lo, hi, gz0, gz1 = u[gaps], v[gaps], z0[gap_zone], z1[gap_zone]
    # the nearest prediction is the one before up to the midpoint between the two neighbours
    split = np.where(has_before & has_after, (q + p) / 2, np.where(has_before, hi, lo))
    left_hi = right_lo = np.clip(split, lo, hi)
    left_part = (q - gz0) * (left_hi - lo) + _ramp_integral(gz1 + q, -2.0, lo, left_hi)
    right_part = (gz1 - p) * (hi - right_lo) + _ramp_integral(-p - gz0, 2.0, right_lo, hi)
    recall_mass[gaps] = np.where(has_before, left_part, 0.0) + np.where(has_after, right_part, 0.0)
    recall_mass[gaps] /= zone_len[gap_zone]
    zone_recall = np.bincount(zone, weights=recall_mass, minlength=len(a)) / (b - a)
    return precision, float(np.mean(zone_recall))

