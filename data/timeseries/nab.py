"""Numenta Anomaly Benchmark (Ahmad et al., 2017) series::

    root/<file>.csv or root/<category>/<file>.csv    timestamp,value
    root/labels.json or root/combined_labels.json    {"<category>/<file>.csv": [anomaly timestamps]}
    root/combined_windows.json (optional)            {"<category>/<file>.csv": [[start, end], ...]}

Split: the leading ``train_fraction`` of each series trains (default 0.15, NAB's probationary
period, which NAB detectors also use to learn); the rest is the test series. Labels in the
training part are ignored (``meta["labelled_train_steps"]`` counts them).

Test labels: with a windows file, every test step whose timestamp lies in a window (inclusive)
is anomalous; that is NAB's own scoring window. Without one, each labelled timestamp (matched to
the nearest series timestamp) gets a window: ``label_window`` steps on each side, or when
``label_window=None`` NAB's rule (10 % of the series length shared equally by its anomalies,
centred on each).

``entities="all"`` reads every labelled file present under root (by stem, e.g. ``nyc_taxi``); a
stem or a list picks files. Each series is one entity with one feature.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from data.timeseries.base import Entity, TimeSeriesSource
from data.timeseries.validate import missing_data, numeric_values, read_table, select_entities
from util.errors import ConfigError, DataError
from util.registry import DATASETS

LAYOUT = "root/<file>.csv (timestamp,value) and root/labels.json or combined_labels.json ({'<category>/<file>.csv': [timestamps]})"


def _json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise DataError(f"{path} is not valid JSON: {error}.") from None


def _timestamps(values, where: str) -> np.ndarray:
    try:
        return pd.to_datetime(pd.Series(values)).to_numpy()
    except (ValueError, TypeError) as error:
        raise DataError(f"{where}: cannot parse timestamps ({error}).") from None


def window_labels(stamps: np.ndarray, windows: list) -> np.ndarray:
    """``(T,)`` 0/1: steps whose timestamp lies in any inclusive ``[start, end]`` window."""
    labels = np.zeros(len(stamps), dtype=np.int64)
    for start, end in windows:
        labels[(stamps >= start) & (stamps <= end)] = 1
    return labels


def point_labels(stamps: np.ndarray, anomalies: np.ndarray, half_width: int | None) -> np.ndarray:
    """``(T,)`` 0/1: a window around the step nearest each anomaly timestamp (NAB's rule when ``half_width`` is None)."""
    labels = np.zeros(len(stamps), dtype=np.int64)
    if len(anomalies) == 0:
        return labels
    if half_width is None:
        half_width = int(0.1 * len(stamps) / len(anomalies)) // 2
    index = np.clip(np.searchsorted(stamps, anomalies), 0, len(stamps) - 1)
    before = np.clip(index - 1, 0, len(stamps) - 1)
    nearest = np.where(np.abs(stamps[before] - anomalies) < np.abs(stamps[index] - anomalies), before, index)
    for i in nearest:
        labels[max(0, i - half_width) : i + half_width + 1] = 1
    return labels


@DATASETS.register("nab")
class Nab(TimeSeriesSource):
    """NAB series (see module docstring)."""

    def __init__(
        self,
        root: str = "datasets/NAB",
        entities: str | list[str] = "all",
        train_fraction: float = 0.15,
        labels_file: str | None = None,
        windows_file: str | None = None,
        label_window: int | None = None,
        **common,
    ) -> None:
        super().__init__(**common)
        if not 0.0 < train_fraction < 1.0:
            raise ConfigError(f"data.train_fraction must be in (0, 1), got {train_fraction!r}.")
        self.root, self.entities, self.train_fraction = Path(root), entities, train_fraction
        self.labels_file, self.windows_file, self.label_window = labels_file, windows_file, label_window

    def _first(self, given: str | None, defaults: tuple[str, ...]) -> Path | None:
        candidates = [self.root / given] if given else [self.root / d for d in defaults]
        found = next((p for p in candidates if p.is_file()), None)
        if given and found is None:
            raise missing_data("nab", self.root, LAYOUT, detail=f"Missing {candidates[0]}.")
        return found

    def _csv_of(self, key: str) -> Path | None:
        return next((p for p in (self.root / key, self.root / Path(key).name) if p.is_file()), None)

    def read(self) -> list[Entity]:
        labels_path = self._first(self.labels_file, ("labels.json", "combined_labels.json"))
        if labels_path is None:
            raise missing_data("nab", self.root, LAYOUT)
        anomalies = _json(labels_path)
        windows_path = self._first(self.windows_file, ("combined_windows.json", "windows.json"))
        windows = _json(windows_path) if windows_path else None
        present = {Path(key).stem: key for key in anomalies if self._csv_of(key)}
        if not present:
            raise missing_data("nab", self.root, LAYOUT, detail=f"None of the files listed in {labels_path} is present.")
        names = select_entities(list(present), self.entities, f"NAB files under {self.root} listed in {labels_path.name}")
        return [self._entity(name, present[name], anomalies[present[name]], None if windows is None else windows.get(present[name])) for name in names]

    def _entity(self, name: str, key: str, anomalies: list, windows: list | None) -> Entity:
        path = self._csv_of(key)
        frame = read_table(path)
        if "timestamp" not in frame.columns or frame.shape[1] < 2:
            raise DataError(f"{path}: expected columns timestamp,value; found {list(frame.columns)}.")
        stamps = _timestamps(frame["timestamp"], str(path))
        values = numeric_values(frame.drop(columns="timestamp"), path)
        if windows is not None:
            labels = window_labels(stamps, [tuple(_timestamps(w, str(path))) for w in windows])
        else:
            labels = point_labels(stamps, _timestamps(anomalies, str(path)), self.label_window)
        cut = int(len(values) * self.train_fraction)
        if cut == 0 or cut == len(values):
            raise DataError(f"{path}: {len(values)} rows cannot be split by data.train_fraction={self.train_fraction}.")
        meta = {"labelled_train_steps": int(labels[:cut].sum()), "label_source": "windows" if windows is not None else "timestamps"}
        return Entity(name, values[:cut], values[cut:], labels[cut:], stamps[cut:], meta)

    def describe(self) -> str:
        return f"NAB ({self.root}, entities={self.entities})"
