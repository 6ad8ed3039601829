"""Time-series anomaly-detection metrics and threshold rules.

``compute_metrics`` (one entity, every metric; definitions in ``metric.timeseries.suite``),
``threshold_free_metrics`` (its AUC, Range-AUC and VUS part alone),
``aggregate`` (NaN-aware mean over entities), ``METRICS`` (each metric declared once: key,
title, needs a threshold, point-adjusted) with the key lists derived from it, and the threshold
rules registered in ``util.registry.THRESHOLDS`` (``metric.timeseries.thresholds``).
"""
from metric.timeseries.suite import METRIC_KEYS, METRICS, SUMMARY_KEYS, THRESHOLD_FREE_KEYS, aggregate, compute_metrics, threshold_free_metrics

__all__ = ["METRICS", "METRIC_KEYS", "SUMMARY_KEYS", "THRESHOLD_FREE_KEYS", "aggregate", "compute_metrics", "threshold_free_metrics"]
