"""Pooled Server Metrics (Abdulaal et al., KDD 2021; eBay RANSynCoders) in its published layout::

    root/train.csv        timestamp_(min), feature_0 ... feature_24
    root/test.csv         timestamp_(min), feature_0 ... feature_24
    root/test_label.csv   timestamp_(min), label

The first column of each file is the timestamp. PSM has missing values in the training file:
set ``data.nan_policy=ffill`` (or ``zero``, what most public loaders do).
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from data.timeseries.base import TimeSeriesSource
from data.timeseries.csv import label_values
from data.timeseries.entity import Entity
from data.timeseries.validate import numeric_values, read_table, require_file
from util.errors import DataError
from util.registry import DATASETS

LAYOUT = "root/train.csv, root/test.csv, root/test_label.csv (timestamp first column)"


@DATASETS.register("psm")
class Psm(TimeSeriesSource):
    """PSM as one entity (see module docstring)."""

    def __init__(self, root: str = "datasets/PSM", **common) -> None:
        super().__init__(**common)
        self.root = Path(root)

    def _table(self, name: str) -> pd.DataFrame:
        path = require_file(self.root / name, "psm", self.root, LAYOUT)
        frame = read_table(path)
        if frame.shape[1] < 2:
            raise DataError(f"{path} needs a timestamp column and at least one value column.")
        return path, frame

    def read(self) -> list[Entity]:
        (train_path, train), (test_path, test), (label_path, label) = (self._table(n) for n in ("train.csv", "test.csv", "test_label.csv"))
        stamps = test.iloc[:, 0].to_numpy()
        return [
            Entity(
                "PSM",
                numeric_values(train.iloc[:, 1:], train_path),
                numeric_values(test.iloc[:, 1:], test_path),
                label_values(label.iloc[:, 1], label_path),
                stamps,
            )
        ]

    def describe(self) -> str:
        return f"PSM ({self.root})"
