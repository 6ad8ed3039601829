"""Generic CSV time series in the TimeEval style::

    test_path:   timestamp, <channel columns...>, is_anomaly
    train_path:  timestamp, <channel columns...>[, is_anomaly]     (optional)

Without ``train_path`` the leading ``train_fraction`` of the test file trains and the rest is
tested; labels inside that leading part are not used for anything (a detector trained on it may
see anomalies: the log warns and ``meta["labelled_train_steps"]`` counts them). With a training file its label
column, if any, is dropped. ``timestamp_column=None`` means the file has none;
``feature_columns=None`` takes every other column. ``delimiter`` is the field separator
(``data.delimiter=';'``; ``tab`` or ``\\t`` for tabs); a header without it is an error that
names the delimiter the file seems to use. From the command line:
``python run.py -c CONFIG data.type=csv data.test_path=my.csv``.

``split_frame`` and ``label_values`` are shared with the PSM and SWaT loaders, ``read_delimited`` with SWaT.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from data.timeseries.base import Entity, TimeSeriesSource
from data.timeseries.validate import numeric_values, read_table
from util.errors import ConfigError, DataError
from util.logging import get_logger
from util.registry import DATASETS

LABEL_WORDS = {"normal": 0, "attack": 1, "anomaly": 1, "false": 0, "true": 1, "0": 0, "1": 1}
DELIMITER_NAMES = {"tab": "\t", "\\t": "\t"}
OTHER_DELIMITERS = (",", ";", "\t", "|")


def read_delimited(path: Path, delimiter: str, skiprows: int = 0) -> pd.DataFrame:
    """``read_table`` for files whose separator the user sets (``data.delimiter``).

    The header line (after ``skiprows`` lines) must contain ``delimiter``; otherwise, and for
    unparseable files, the ``DataError`` names the delimiter used and how to change it.
    """
    with open(path, encoding="utf-8", errors="replace") as f:
        lines = [f.readline() for _ in range(skiprows + 1)]
    header = lines[-1].rstrip("\r\n")
    if delimiter not in header:
        other = next((d for d in OTHER_DELIMITERS if d != delimiter and d in header), None)
        guess = f"; it looks {other!r}-separated: set data.delimiter={other!r}" if other else "; set data.delimiter to the file's separator"
        raise DataError(f"{path}: the header line {header[:80]!r} has no {delimiter!r} (data.delimiter={delimiter!r}){guess}.")
    try:
        return read_table(path, sep=delimiter, skiprows=skiprows)
    except DataError as error:
        raise DataError(f"{error} It was read with data.delimiter={delimiter!r}; set data.delimiter if the file uses another separator.") from None


def label_values(column: pd.Series, path: Path) -> np.ndarray:
    """0/1 labels from a numeric, boolean or word column (``Normal``/``Attack``, spaces and case ignored)."""
    if pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
        return column.to_numpy()
    words = column.astype(str).str.replace(" ", "").str.lower()
    unknown = ~words.isin(list(LABEL_WORDS))
    if unknown.any():
        found = sorted(set(column[unknown].astype(str)))[:5]
        raise DataError(f"{path}: label column '{column.name}' has values {found}; expected 0/1 or (any case) {sorted(LABEL_WORDS)}.")
    return words.map(LABEL_WORDS).to_numpy(dtype=np.int64)


def _column(frame: pd.DataFrame, name: str, path: Path, key: str) -> str:
    if name not in frame.columns:
        raise DataError(f"{path} has no column '{name}' (data.{key}); its columns are {[str(c) for c in frame.columns][:12]}.")
    return name


def split_frame(
    frame: pd.DataFrame,
    path: Path,
    label_column: str | None,
    timestamp_column: str | None,
    feature_columns: list[str] | None,
    require_labels: bool,
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """(values ``(T, F)``, labels ``(T,)`` or None, timestamps ``(T,)`` or None) of one table.

    Column names are compared after stripping surrounding spaces. A missing label column is
    an error only when ``require_labels``.
    """
    frame = frame.rename(columns=lambda c: str(c).strip())
    stamps = frame[_column(frame, timestamp_column, path, "timestamp_column")].to_numpy() if timestamp_column else None
    labels = None
    if label_column and label_column in frame.columns:
        labels = label_values(frame[label_column], path)
    elif require_labels:
        _column(frame, label_column or "", path, "label_column")
    if feature_columns is None:
        features = [c for c in frame.columns if c not in (label_column, timestamp_column)]
    else:
        features = [_column(frame, c, path, "feature_columns") for c in feature_columns]
    if not features:
        raise DataError(f"{path} has no feature columns besides the timestamp/label columns.")
    return numeric_values(frame[features], path), labels, stamps


@DATASETS.register("csv")
class CsvSource(TimeSeriesSource):
    """One entity from CSV files (see module docstring)."""

    def __init__(
        self,
        test_path: str | None = None,
        train_path: str | None = None,
        label_column: str = "is_anomaly",
        timestamp_column: str | None = "timestamp",
        feature_columns: list[str] | None = None,
        train_fraction: float = 0.3,
        delimiter: str = ",",
        **common,
    ) -> None:
        super().__init__(**common)
        if not test_path:
            raise ConfigError("data.test_path is required for data.type=csv (a csv with the series and a label column).")
        if not 0.0 < train_fraction < 1.0:
            raise ConfigError(f"data.train_fraction must be in (0, 1), got {train_fraction!r}.")
        self.test_path, self.train_path = Path(test_path), Path(train_path) if train_path else None
        self.label_column, self.timestamp_column, self.feature_columns = label_column, timestamp_column, feature_columns
        self.train_fraction, self.delimiter = train_fraction, DELIMITER_NAMES.get(delimiter, delimiter)

    def _load(self, path: Path, require_labels: bool):
        if not path.is_file():
            raise DataError(f"Missing {path}; set data.test_path / data.train_path to existing csv files.")
        columns = list(self.feature_columns) if self.feature_columns is not None else None
        return split_frame(read_delimited(path, self.delimiter), path, self.label_column, self.timestamp_column, columns, require_labels)

    def read(self) -> list[Entity]:
        values, labels, stamps = self._load(self.test_path, require_labels=True)
        meta = {}
        if self.train_path is not None:
            train = self._load(self.train_path, require_labels=False)[0]
            test, test_labels, test_stamps = values, labels, stamps
        else:
            cut = int(len(values) * self.train_fraction)
            if cut == 0 or cut == len(values):
                raise DataError(f"{self.test_path}: {len(values)} rows cannot be split by data.train_fraction={self.train_fraction}.")
            train, test, test_labels = values[:cut], values[cut:], labels[cut:]
            test_stamps = None if stamps is None else stamps[cut:]
            meta["labelled_train_steps"] = int(np.sum(np.asarray(labels[:cut], dtype=float) == 1))
            if meta["labelled_train_steps"]:
                get_logger().warning(
                    "%s: %d labelled anomalous steps lie in the leading %.0f%% used for training (data.train_fraction); "
                    "they are trained on as normal data. Lower data.train_fraction or give data.train_path.",
                    self.test_path, meta["labelled_train_steps"], 100 * self.train_fraction,
                )
        return [Entity(self.test_path.stem, train, test, test_labels, test_stamps, meta)]

    def describe(self) -> str:
        return f"csv ({self.test_path}{', train ' + str(self.train_path) if self.train_path else ''})"
