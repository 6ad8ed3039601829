"""Registered detectors, one module each."""
from model.detectors import anomaly_transformer, baselines, dcdetector, kambaad, maat  # noqa: F401  (registration)
from util.imports import optional_import

optional_import("model.detectors.mambaad", requires="timm")
optional_import("model.detectors.mtad", requires="timm")
