"""Image anomaly-detection metrics (ADer conventions): see ``metric.image.suite``."""
from metric.image.classification import auroc, average_precision, f1_max
from metric.image.pro import aupro
from metric.image.suite import METRIC_KEYS, METRICS, compute_image_metrics, mean_over_classes

__all__ = ["METRICS", "METRIC_KEYS", "aupro", "auroc", "average_precision", "compute_image_metrics", "f1_max", "mean_over_classes"]
