"""The ADer image metric suite in one call: image- and pixel-level AUROC/AP/F1-max, AUPRO and mAD."""
from __future__ import annotations

import numpy as np

from metric.declaration import Metric, MetricSet
from metric.image.classification import Counts, auroc_of, average_precision_of, counts, f1_max_of
from metric.image.curves import cumulative_weights
from metric.image.pro import aupro_of_curve, label_regions, region_weights

# Every metric of ``compute_image_metrics``, in the order of its output (and of results.json).
METRICS = MetricSet(
    Metric("i_auroc", "I-AUROC"),
    Metric("i_ap", "I-AP"),
    Metric("i_f1max", "I-F1max"),
    Metric("p_auroc", "P-AUROC"),
    Metric("p_ap", "P-AP"),
    Metric("p_f1max", "P-F1max"),
    Metric("aupro", "AUPRO"),
    Metric("mad", "mAD"),
)
METRIC_KEYS = METRICS.keys


def compute_image_metrics(
    labels: np.ndarray,
    image_scores: np.ndarray,
    masks: np.ndarray,
    maps: np.ndarray,
    max_pixels: int | None = None,
) -> dict[str, float]:
    """Every image metric of one test set, values in [0, 1] (NaN where undefined).

    Args:
        labels: ``(N,)`` 1 for anomalous images.
        image_scores: ``(N,)`` image anomaly scores.
        masks: ``(N, H, W)`` ground-truth defect masks in {0, 1}.
        maps: ``(N, H, W)`` anomaly maps.
        max_pixels: if the test set has more pixels, pixel metrics use every k-th pixel
            (regions are labelled on the full masks first); None uses all of them.
    Returns:
        Exactly the keys of ``METRIC_KEYS``; ``mad`` is the mean of the other seven.
    """
    labels = np.asarray(labels).ravel().astype(bool)
    image_scores = np.asarray(image_scores, dtype=np.float64).ravel()
    masks, maps = np.asarray(masks), np.asarray(maps)
    if masks.shape != maps.shape or masks.shape[0] != len(labels) or len(labels) != len(image_scores):
        raise ValueError(
            f"Shapes disagree: labels {labels.shape}, image_scores {image_scores.shape}, masks {masks.shape}, maps {maps.shape}."
        )
    regions = label_regions(masks).ravel()
    pixel_scores = maps.ravel()
    if max_pixels is not None and regions.size > max_pixels:
        step = -(-regions.size // max_pixels)
        regions, pixel_scores = regions[::step], pixel_scores[::step]
    image = counts(labels, image_scores)
    out = {"i_auroc": auroc_of(image), "i_ap": average_precision_of(image), "i_f1max": f1_max_of(image)}
    if regions.any() and not regions.all():
        defect = regions > 0
        tp, fp, pro = cumulative_weights(pixel_scores, defect.astype(np.float64), (~defect).astype(np.float64), region_weights(regions))
        pixel = Counts(tp, fp)
        out.update(p_auroc=auroc_of(pixel), p_ap=average_precision_of(pixel), p_f1max=f1_max_of(pixel), aupro=aupro_of_curve(fp, pro))
    else:
        out.update(dict.fromkeys(("p_auroc", "p_ap", "p_f1max", "aupro"), float("nan")))
    out["mad"] = float(np.mean(list(out.values())))
    return out


def mean_over_classes(per_class: dict[str, dict[str, float]]) -> dict[str, float]:
    """Mean of each metric over classes, ignoring classes where it is undefined (NaN if undefined everywhere)."""
    table = np.array([[m[k] for k in METRIC_KEYS] for m in per_class.values()], dtype=np.float64)
    defined = np.isfinite(table)
    sums = np.where(defined, table, 0.0).sum(axis=0)
    counts = defined.sum(axis=0)
    return {k: float(s / c) if c else float("nan") for k, s, c in zip(METRIC_KEYS, sums, counts)}
