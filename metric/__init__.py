"""Evaluation metrics: ``metric.timeseries`` (per-step anomaly scores against point labels) and
``metric.image`` (image- and pixel-level scores against image labels and defect masks).

Every metric function is pure: it never modifies its inputs.
"""
