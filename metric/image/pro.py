"""AUPRO: area under the per-region-overlap curve up to a false-positive rate of 0.3, normalised.

PRO(t) is the mean over ground-truth regions (8-connected components of each image's mask) of
the fraction of the region scored ``>= t``. Giving every defect pixel the weight
``1 / (regions * its region's size)`` makes PRO(t) the weighted share of defect pixels above
``t``, so the whole curve comes from one sort, exact at every distinct score (no threshold grid).
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

from metric.image.curves import cumulative_counts, trapezoid

# 8-connectivity inside each image, none across the stack axis
_IN_PLANE_8 = np.zeros((3, 3, 3), dtype=bool)
_IN_PLANE_8[1] = True


def label_regions(masks: np.ndarray) -> np.ndarray:
    """Connected defect regions: ``(N, H, W)`` int, 0 for normal pixels, ids unique across images."""
    regions, _ = ndimage.label(np.asarray(masks).astype(bool), structure=_IN_PLANE_8)
    return regions


def pro_curve(regions: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(false-positive rate, PRO) over every distinct threshold, from (0, 0) up.

    Args:
        regions: ``(n,)`` region id of each pixel (0 = normal), e.g. ``label_regions(masks).ravel()``.
        scores: ``(n,)`` anomaly score of each pixel.
    """
    regions = np.asarray(regions).ravel()
    sizes = np.bincount(regions)
    n_regions = np.count_nonzero(sizes[1:])
    with np.errstate(divide="ignore"):
        region_weight = np.where(sizes > 0, 1.0 / (max(n_regions, 1) * sizes), 0.0)
    region_weight[0] = 0.0
    normal = regions == 0
    tp, fp = cumulative_counts(np.asarray(scores, dtype=np.float64).ravel(), region_weight[regions], normal.astype(np.float64))
    return np.r_[0.0, fp / fp[-1]], np.r_[0.0, tp / tp[-1]]


def aupro(masks: np.ndarray, maps: np.ndarray, max_fpr: float = 0.3) -> float:
    """Normalised area under PRO(FPR) for FPR in [0, max_fpr]; NaN without both defect and normal pixels.

    Args:
        masks: ``(N, H, W)`` ground truth in {0, 1}.
        maps: ``(N, H, W)`` anomaly maps.
    """
    return aupro_from_regions(label_regions(masks).ravel(), np.asarray(maps).ravel(), max_fpr)


def aupro_from_regions(regions: np.ndarray, scores: np.ndarray, max_fpr: float = 0.3) -> float:
    """``aupro`` on flat pixels whose regions were already labelled (lets callers subsample pixels)."""
    regions = np.asarray(regions).ravel()
    if not regions.any() or regions.all():
        return float("nan")
    fpr, pro = pro_curve(regions, scores)
    cut = int(np.searchsorted(fpr, max_fpr, side="right"))
    x, y = fpr[:cut], pro[:cut]
    if cut < len(fpr):  # close the curve exactly at max_fpr by linear interpolation
        share = (max_fpr - fpr[cut - 1]) / (fpr[cut] - fpr[cut - 1])
        x, y = np.r_[x, max_fpr], np.r_[y, pro[cut - 1] + share * (pro[cut] - pro[cut - 1])]
    return trapezoid(y, x) / max_fpr
