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

Columns are matched by name: a training file's feature columns are those of the test file, and
the run records the names, the delimiter and the timestamp/label columns (``columns()``) so that
``-m predict`` reads new files the same way. A column with an empty header (a pandas index) is
not a feature (see ``feature_columns_of``).

``split_frame`` and ``label_values`` are shared with the PSM and SWaT loaders, ``read_delimited``
with SWaT and ``feature_columns_of`` with ``-m predict``.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from data.timeseries.base import TimeSeriesSource
from data.timeseries.entity import Entity
from data.timeseries.validate import empty_table_message, numeric_values, other_delimiter, read_table
from util.errors import ConfigError, DataError
from util.logging import get_logger
from util.registry import DATASETS

LABEL_WORDS = {"normal": 0, "attack": 1, "anomaly": 1, "false": 0, "true": 1, "0": 0, "1": 1}
DELIMITER_NAMES = {"tab": "\t", "\\t": "\t"}
UNNAMED = re.compile(r"Unnamed: \d+")  # pandas' name for a column whose header cell is empty


def read_delimited(path: Path, delimiter: str, skiprows: int = 0) -> pd.DataFrame:
    """``read_table`` for files whose separator the user sets (``data.delimiter``).

    The header line (after ``skiprows`` lines) must contain ``delimiter``; otherwise, and for
    unparseable files, the ``DataError`` names the delimiter used and how to change it.
    """
    with open(path, encoding="utf-8", errors="replace") as f:
        lines = [f.readline() for _ in range(skiprows + 2)]
    header = lines[-2].rstrip("\r\n")
    if not header and not lines[-1]:
        raise DataError(f"{path} is empty; give a table with a header row and one row per time step.")
    if not lines[-1]:
        raise DataError(empty_table_message(path))
    if delimiter not in header:
        other = other_delimiter(header, delimiter)
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


def is_row_index(column: pd.Series) -> bool:
    """Whether ``column`` counts rows (consecutive integers), as the index ``DataFrame.to_csv`` writes."""
    return len(column) > 0 and pd.api.types.is_integer_dtype(column) and bool((np.diff(column.to_numpy()) == 1).all())


def feature_columns_of(frame: pd.DataFrame, path: Path, label_column: str | None, timestamp_column: str | None, feature_columns: list[str] | None) -> list[str]:
    """The feature columns of a table, in order: ``feature_columns`` by name, else every column
    but the label and timestamp ones.

    A column with an empty header cell (pandas names it ``Unnamed: N``) is never taken as a
    feature unasked: a row index (0, 1, 2, ... as ``DataFrame.to_csv`` writes by default) is
    dropped with a warning, anything else is an error.
    """
    if feature_columns is not None:
        return [_column(frame, c, path, "feature_columns") for c in feature_columns]
    features = [c for c in frame.columns if c not in (label_column, timestamp_column)]
    unnamed = [c for c in features if UNNAMED.fullmatch(str(c))]
    for name in unnamed:
        if not is_row_index(frame[name]):
            raise DataError(
                f"{path}: column {list(frame.columns).index(name) + 1} has no name in the header (pandas calls it {name!r}); "
                "name it, remove it, or list the features with data.feature_columns."
            )
    if unnamed:
        get_logger().warning(
            "%s: column %s has no header name and counts rows (a pandas index, as DataFrame.to_csv writes by default): not a feature, "
            "dropped. Write the file with to_csv(..., index=False) to avoid this.", path, unnamed[0],
        )
    return [c for c in features if c not in unnamed]


class Table(NamedTuple):
    """One table split by column role: values ``(T, F)``, labels ``(T,)`` or None, timestamps
    ``(T,)`` or None, and the names of the ``F`` feature columns."""

    values: np.ndarray
    labels: np.ndarray | None
    stamps: np.ndarray | None
    features: list[str]


def split_frame(
    frame: pd.DataFrame,
    path: Path,
    label_column: str | None,
    timestamp_column: str | None,
    feature_columns: list[str] | None,
    require_labels: bool,
) -> Table:
    """The table of ``frame`` (see ``Table`` and ``feature_columns_of``).

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
    features = feature_columns_of(frame, path, label_column, timestamp_column, feature_columns)
    if not features:
        raise DataError(f"{path} has no feature columns besides the timestamp/label columns.")
    return Table(numeric_values(frame[features], path), labels, stamps, features)


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

    def _load(self, path: Path, require_labels: bool, feature_columns: list[str] | None) -> Table:
        if not path.is_file():
            raise DataError(f"Missing {path}; set data.test_path / data.train_path to existing csv files.")
        return split_frame(read_delimited(path, self.delimiter), path, self.label_column, self.timestamp_column, feature_columns, require_labels)

    def read(self) -> list[Entity]:
        columns = list(self.feature_columns) if self.feature_columns is not None else None
        table = self._load(self.test_path, require_labels=True, feature_columns=columns)
        values, labels, stamps = table.values, table.labels, table.stamps
        self.feature_names = table.features
        meta = {}
        if self.train_path is not None:  # the training file's columns are matched to the test file's by name
            train_table = self._load(self.train_path, require_labels=False, feature_columns=table.features)
            train, train_stamps = train_table.values, train_table.stamps
            test, test_labels, test_stamps = values, labels, stamps
        else:
            cut = int(len(values) * self.train_fraction)
            if cut == 0 or cut == len(values):
                raise DataError(f"{self.test_path}: {len(values)} rows cannot be split by data.train_fraction={self.train_fraction}.")
            train, test, test_labels = values[:cut], values[cut:], labels[cut:]
            train_stamps, test_stamps = (None, None) if stamps is None else (stamps[:cut], stamps[cut:])
            meta["labelled_train_steps"] = int(np.sum(np.asarray(labels[:cut], dtype=float) == 1))
            if meta["labelled_train_steps"]:
                get_logger().warning(
                    "%s: %d labelled anomalous steps lie in the leading %.0f%% used for training (data.train_fraction); "
                    "they are trained on as normal data. Lower data.train_fraction or give data.train_path.",
                    self.test_path, meta["labelled_train_steps"], 100 * self.train_fraction,
                )
        return [Entity(self.test_path.stem, train, test, test_labels, test_stamps, meta, train_stamps)]

    def describe(self) -> str:
        return f"csv ({self.test_path}{', train ' + str(self.train_path) if self.train_path else ''})"
