"""AUPRO: area under the per-region-overlap curve up to a false-positive rate of 0.3, normalised.

PRO(t) is the mean over ground-truth regions (8-connected components of each image's mask) of
the fraction of the region scored ``>= t``. Giving every defect pixel the weight
``1 / (regions * its region's size)`` makes PRO(t) the weighted share of defect pixels above
``t``, so the whole curve comes from one sort, exact at every distinct score (no threshold grid).
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

from metric.image.curves import cumulative_weights, trapezoid

# 8-connectivity inside each image, none across the stack axis
_IN_PLANE_8 = np.zeros((3, 3, 3), dtype=bool)
_IN_PLANE_8[1] = True


def label_regions(masks: np.ndarray) -> np.ndarray:
    """Connected defect regions of ``(N, H, W)`` masks: int ids, 0 for normal pixels, unique across images."""
    regions, _ = ndimage.label(np.asarray(masks).astype(bool), structure=_IN_PLANE_8)
    return regions


def region_weights(regions: np.ndarray) -> np.ndarray:
    """``(n,)`` weight of each pixel: ``1 / (number of regions * size of its region)``, 0 for normal pixels."""
    sizes = np.bincount(regions)
    n_regions = max(np.count_nonzero(sizes[1:]), 1)
    per_region = np.zeros(len(sizes))
    per_region[1:] = np.where(sizes[1:] > 0, 1.0 / (n_regions * np.maximum(sizes[1:], 1)), 0.0)
    return per_region[regions]


def aupro_of_curve(fp: np.ndarray, pro: np.ndarray, max_fpr: float = 0.3) -> float:
    """Normalised area under PRO(FPR) for FPR in [0, max_fpr].

    Args:
        fp, pro: cumulative normal-pixel count and PRO weight at each distinct threshold, descending
            (``cumulative_weights(scores, normal, region_weights(regions))``).
    """
    fpr, pro = np.r_[0.0, fp / fp[-1]], np.r_[0.0, pro / pro[-1]]
    cut = int(np.searchsorted(fpr, max_fpr, side="right"))
    x, y = fpr[:cut], pro[:cut]
    if cut < len(fpr):  # close the curve exactly at max_fpr by linear interpolation
        share = (max_fpr - fpr[cut - 1]) / (fpr[cut] - fpr[cut - 1])
        x, y = np.r_[x, max_fpr], np.r_[y, pro[cut - 1] + share * (pro[cut] - pro[cut - 1])]
    return trapezoid(y, x) / max_fpr


def aupro(masks: np.ndarray, maps: np.ndarray, max_fpr: float = 0.3) -> float:
    """AUPRO of ``(N, H, W)`` masks in {0, 1} and anomaly maps; NaN without both defect and normal pixels."""
    regions = label_regions(masks).ravel()
    if not regions.any() or regions.all():
        return float("nan")
    fp, pro = cumulative_weights(np.asarray(maps).ravel(), (regions == 0).astype(np.float64), region_weights(regions))
    return aupro_of_curve(fp, pro, max_fpr)
