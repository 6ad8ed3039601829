"""Time-series anomaly-detection metrics and threshold rules.

``compute_metrics`` (one entity, every metric; definitions in ``metric.timeseries.suite``),
``threshold_free_metrics`` (its AUC, Range-AUC and VUS part alone),
``aggregate`` (NaN-aware mean over entities), ``METRIC_KEYS`` (the ordered keys), and the
threshold rules registered in ``util.registry.THRESHOLDS`` (``metric.timeseries.thresholds``).
"""
from metric.timeseries import thresholds  # noqa: F401  (registers the threshold rules)
from metric.timeseries.suite import METRIC_KEYS, aggregate, compute_metrics, threshold_free_metrics

__all__ = ["METRIC_KEYS", "aggregate", "compute_metrics", "threshold_free_metrics"]
