"""Numenta Anomaly Benchmark (Ahmad et al., 2017) series::

    root/<file>.csv or root/<category>/<file>.csv    timestamp,value
    root/labels.json or root/combined_labels.json    {"<category>/<file>.csv": [anomaly timestamps]}
                                                     or {"<category>/<file>.csv": [[start, end], ...]}
    root/combined_windows.json (optional)            {"<category>/<file>.csv": [[start, end], ...]}

(NAB's ``labels/combined_labels.json`` holds timestamps such as ``"2014-11-01 19:00:00.000000"``,
``labels/combined_windows.json`` inclusive ``[start, end]`` timestamp pairs; a series without
anomalies maps to ``[]``.)

Split: the leading ``train_fraction`` of each series trains (default 0.15, NAB's probationary
period, which NAB detectors also use to learn); the rest is the test series. Labels in the
training part are ignored (``meta["labelled_train_steps"]`` counts them).

Test labels: with windows (a windows file, or a labels file whose lists hold ``[start, end]``
pairs), every test step whose timestamp lies in a window (inclusive) is anomalous; that is NAB's
own scoring window. With timestamps, each one (matched to the nearest series timestamp) gets a
window of ``window_fraction`` x series length / number of anomalies steps centred on it: NAB's
rule with its default 0.1, which is how NAB computed ``combined_windows.json``.

``entities="all"`` reads every labelled file present under root (by stem, e.g. ``nyc_taxi``); a
stem or a list picks files. Each series is one entity with one feature.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from data.timeseries.base import TimeSeriesSource
from data.timeseries.entity import Entity
from data.timeseries.validate import missing_data, numeric_values, read_table, select_entities
from util.errors import ConfigError, DataError
from util.registry import DATASETS

LAYOUT = "root/<file>.csv (timestamp,value) and root/labels.json or combined_labels.json ({'<category>/<file>.csv': [timestamps]})"


def _json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise DataError(f"{path} is not valid JSON: {error}.") from None


def _timestamps(values: pd.Series | list, where: str) -> np.ndarray:
    try:
        return pd.to_datetime(pd.Series(values)).to_numpy()
    except (ValueError, TypeError) as error:
        raise DataError(f"{where}: cannot parse timestamps ({error}).") from None


def _holds_windows(entries: list, where: str) -> bool:
    """True for a list of ``[start, end]`` pairs, False for a list of timestamps (or an empty list)."""
    pairs = [isinstance(e, (list, tuple)) for e in entries]
    if any(pairs) and not all(isinstance(e, (list, tuple)) and len(e) == 2 for e in entries):
        raise DataError(f"{where}: expected either anomaly timestamps or [start, end] pairs, found {entries[:3]}.")
    return any(pairs)


def window_labels(stamps: np.ndarray, windows: list) -> np.ndarray:
    """``(T,)`` 0/1: steps whose timestamp lies in any inclusive ``[start, end]`` window."""
    labels = np.zeros(len(stamps), dtype=np.int64)
    for start, end in windows:
        labels[(stamps >= start) & (stamps <= end)] = 1
    return labels


def point_labels(stamps: np.ndarray, anomalies: np.ndarray, window_fraction: float) -> np.ndarray:
    """``(T,)`` 0/1: ``window_fraction * T / len(anomalies)`` steps centred on the step nearest each anomaly timestamp."""
    labels = np.zeros(len(stamps), dtype=np.int64)
    if len(anomalies) == 0:
        return labels
    half_width = int(window_fraction * len(stamps) / len(anomalies)) // 2
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
        window_fraction: float = 0.1,
        **common,
    ) -> None:
        super().__init__(**common)
        if not 0.0 < train_fraction < 1.0:
            raise ConfigError(f"data.train_fraction must be in (0, 1), got {train_fraction!r}.")
        if not 0.0 <= window_fraction < 1.0:
            raise ConfigError(f"data.window_fraction must be in [0, 1), got {window_fraction!r}.")
        self.root, self.entities, self.train_fraction = Path(root), entities, train_fraction
        self.labels_file, self.windows_file, self.window_fraction = labels_file, windows_file, window_fraction

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
        """One series; ``windows`` (from a windows file) win over ``anomalies`` (timestamps or pairs)."""
        path = self._csv_of(key)
        frame = read_table(path)
        if "timestamp" not in frame.columns or frame.shape[1] < 2:
            raise DataError(f"{path}: expected columns timestamp,value; found {list(frame.columns)}.")
        stamps = _timestamps(frame["timestamp"], str(path))
        values = numeric_values(frame.drop(columns="timestamp"), path)
        labelled = windows if windows is not None else anomalies
        as_windows = _holds_windows(labelled, f"{key} in the NAB labels")
        if as_windows:
            labels = window_labels(stamps, [tuple(_timestamps(w, str(path))) for w in labelled])
        else:
            labels = point_labels(stamps, _timestamps(labelled, str(path)), self.window_fraction)
        cut = int(len(values) * self.train_fraction)
        if cut == 0 or cut == len(values):
            raise DataError(f"{path}: {len(values)} rows cannot be split by data.train_fraction={self.train_fraction}.")
        meta = {"labelled_train_steps": int(labels[:cut].sum()), "label_source": "windows" if as_windows else "timestamps"}
        return Entity(name, values[:cut], values[cut:], labels[cut:], stamps[cut:], meta, stamps[:cut])

    def describe(self) -> str:
        return f"NAB ({self.root}, entities={self.entities})"
