"""Registered detectors, one module each."""
from model.detectors import anomaly_transformer, baselines, dcdetector, kambaad, maat, mambaad, mtad  # noqa: F401  (registration)
