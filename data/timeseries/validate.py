"""Input checks shared by the time-series loaders.

- ``validate_entity``: the cleaned copy of a raw entity that the pipeline scales and windows
  (float32 ``(time, features)`` arrays, equal widths, one 0/1 label per test step, NaN/inf
  handled by ``data.nan_policy``, timestamps checked for time order: see ``time_order``).
- ``missing_data``, ``require_file``, ``select_entities``, ``read_table``: the errors a loader
  raises for absent files, unknown entity names and unreadable CSV files, each naming the file
  and the fix (for absent data: the exact ``python -m data.download`` command).
- ``check_label_features``: ``data.label_features`` against the number of features read.
"""
from __future__ import annotations

import warnings
from dataclasses import replace
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from data.timeseries.entity import Entity
from util.errors import ConfigError, DataError
from util.logging import get_logger

NAN_POLICIES = ("error", "ffill", "zero")


def missing_data(dataset: str, root: Path | str, layout: str, detail: str = "") -> DataError:
    """The error for data that is not on disk: what is missing, how to get it, the expected layout."""
    from data.download import how_to_get

    prefix = f"{detail} " if detail else ""
    return DataError(f"{prefix}{dataset.upper()} data not found under {root}. Expected layout: {layout}. {how_to_get(dataset, root)}")


def require_file(path: Path, dataset: str, root: Path | str, layout: str) -> Path:
    """``path`` if it is a file, else the missing-data error naming it."""
    if not Path(path).is_file():
        raise missing_data(dataset, root, layout, detail=f"Missing {path}.")
    return Path(path)


def select_entities(available: list[str], entities: str | list[str] | tuple[str, ...], what: str) -> list[str]:
    """Resolve ``"all"``, one name or a list of names against ``available`` (order of the request kept)."""
    if entities == "all":
        return list(available)
    wanted = [entities] if isinstance(entities, str) else list(entities)
    unknown = [e for e in wanted if e not in available]
    if unknown:
        shown = ", ".join(available[:30]) + (" ..." if len(available) > 30 else "")
        raise ConfigError(f"data.entities: {unknown} not found in {what}; available: {shown or 'none'}.")
    return wanted


def check_label_features(label_features: list[int] | None, n_features: int, where: str) -> None:
    """Raise ``ConfigError`` unless ``label_features`` is None or distinct indices into ``n_features``."""
    if label_features is None:
        return
    valid = all(isinstance(i, int) and not isinstance(i, bool) and 0 <= i < n_features for i in label_features)
    if not label_features or not valid or len(set(label_features)) != len(label_features):
        raise ConfigError(
            f"data.label_features={label_features!r} for {where}: give distinct feature indices in [0, {n_features}) "
            "(the features the labels describe), or None."
        )


DELIMITERS = (",", ";", "\t", "|", " ")


def other_delimiter(header: str, sep: str) -> str | None:
    """The separator a header line seems to use instead of ``sep`` (None: no other one in it)."""
    return next((d for d in DELIMITERS if d != sep and d in header), None)


def read_table(path: Path, sep: str = ",", **kwargs) -> pd.DataFrame:
    """``pandas.read_csv`` with one clear ``DataError`` for unreadable, empty or mis-delimited files."""
    try:
        frame = pd.read_csv(path, sep=sep, **kwargs)
    except FileNotFoundError:
        raise DataError(f"Missing {path}.") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as error:
        raise DataError(f"Cannot parse {path} as a '{sep}'-separated table: {error}.") from None
    if not len(frame):
        raise DataError(empty_table_message(path))
    if frame.shape[1] == 1 and len(frame):
        header = str(frame.columns[0])
        other = other_delimiter(header, sep)
        if other is not None:
            raise DataError(
                f"{path} has a single column '{header[:60]}' when read with separator {sep!r}; it looks "
                f"{other!r}-separated. Convert it or set data.delimiter={other!r} where the loader supports it."
            )
    return frame


def empty_table_message(path: Path | str) -> str:
    """The error for a table with a header row and no data rows."""
    return f"{path} has a header but no data rows; give the series, one row per time step."


def _orderable(stamps: np.ndarray) -> np.ndarray | None:
    """Timestamps as numbers or datetimes that compare in time order; None when they are neither."""
    stamps = np.asarray(stamps)
    if np.issubdtype(stamps.dtype, np.number) or np.issubdtype(stamps.dtype, np.datetime64):
        return stamps
    with warnings.catch_warnings():  # "could not infer format": parsed element by element
        warnings.simplefilter("ignore", UserWarning)
        parsed = pd.to_datetime(pd.Series(stamps), errors="coerce", format="mixed")
    return None if parsed.isna().any() else parsed.to_numpy()


# A series may step back in time this often (clock glitches: NAB's machine_temperature steps
# back once in 22,695 rows) and is then used in file order with a warning; more means the rows
# are not in time order (a shuffled file steps back about every other row): refused.
MAX_BACKWARD_FRACTION = 0.01


class TimeOrder(NamedTuple):
    """How a series' timestamps move (``time_order``); several parts of one file add up."""

    steps: int = 0
    backward: int = 0
    repeated: int = 0
    first_backward: str = ""

    def __add__(self, other: "TimeOrder") -> "TimeOrder":
        return TimeOrder(self.steps + other.steps, self.backward + other.backward, self.repeated + other.repeated, self.first_backward or other.first_backward)

    def check(self, what: str) -> str | None:
        """For the timestamps ``what`` names: a ``DataError`` when more than ``MAX_BACKWARD_FRACTION`` of the steps go back in time
        (the rows are not in time order: sort the file); else the warning line for a few steps
        back or repeated timestamps (None when time only moves forward)."""
        if self.backward > MAX_BACKWARD_FRACTION * self.steps:
            raise DataError(
                f"{what} are not in time order ({self.backward} of {self.steps} steps go back, the first at "
                f"{self.first_backward}). Sort the file by its timestamp column; rows are used in file order."
            )
        found = [f"{self.backward} step(s) back in time (first at {self.first_backward})"] if self.backward else []
        found += [f"{self.repeated} repeated timestamp(s)"] if self.repeated else []
        return f"{what} hold {' and '.join(found)}; the rows are used in file order." if found else None


def time_order(stamps: np.ndarray, first_row: int = 0) -> TimeOrder:
    """How ``stamps`` move in time (rows are never reordered); ``first_row`` (0-based) numbers
    the rows of the messages from 1. Timestamps that are neither numbers nor parseable dates
    are not checked."""
    times = _orderable(stamps)
    if times is None or len(times) < 2:
        return TimeOrder()
    steps = np.diff(times)
    zero = np.zeros((), steps.dtype)
    backwards = np.flatnonzero(steps < zero)
    first = f"row {first_row + int(backwards[0]) + 2}: {stamps[backwards[0] + 1]} after {stamps[backwards[0]]}" if len(backwards) else ""
    return TimeOrder(len(steps), len(backwards), int((steps == zero).sum()), first)


def numeric_values(frame: pd.DataFrame, path: Path) -> np.ndarray:
    """The frame as a float array; non-numeric columns are a ``DataError`` naming them."""
    bad = [str(c) for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c])]
    if bad:
        example = frame[bad[0]].dropna().astype(str).head(1).tolist()
        raise DataError(
            f"{path}: column(s) {bad[:5]} are not numeric (e.g. {example}); drop them (data.feature_columns) "
            "or check the separator and the timestamp/label column names."
        )
    return frame.to_numpy(dtype=np.float64)


def _as_2d(array: np.ndarray, what: str) -> np.ndarray:
    array = np.asarray(array)
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2:
        raise DataError(f"{what} has shape {array.shape}; expected (time, features).")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise DataError(f"{what} is empty (shape {array.shape}); check the file.")
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise DataError(f"{what} is not numeric (dtype {array.dtype}); check the delimiter and the column names.")
    return array.astype(np.float32)


def fill_forward_backward(array: np.ndarray) -> np.ndarray:
    """Replace non-finite values by the last finite value of their channel (the first one before it); all-bad channels become 0."""
    out = array.copy()
    for c in range(out.shape[1]):
        column = out[:, c]
        good = np.isfinite(column)
        if good.all():
            continue
        if not good.any():
            column[:] = 0.0
            continue
        last_good = np.maximum.accumulate(np.where(good, np.arange(len(column)), -1))
        last_good[last_good < 0] = int(np.argmax(good))
        out[:, c] = column[last_good]
    return out


def _clean(array: np.ndarray, policy: str, what: str) -> np.ndarray:
    bad = ~np.isfinite(array)
    if not bad.any():
        return array
    if policy == "error":
        step, channel = (int(i) for i in np.argwhere(bad)[0])
        raise DataError(
            f"{what} has {int(bad.sum())} NaN/inf values (first at step {step}, channel {channel}). "
            "Fix the file, or set data.nan_policy=ffill (carry the last finite value forward, then backward) "
            "or data.nan_policy=zero."
        )
    return fill_forward_backward(array) if policy == "ffill" else np.where(bad, np.float32(0), array)


def _labels(labels: np.ndarray, length: int, what: str) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim == 2 and 1 in labels.shape:
        labels = labels.reshape(-1)
    if labels.ndim != 1:
        raise DataError(f"{what}: test labels have shape {labels.shape}; expected one 0/1 label per test step.")
    if len(labels) != length:
        raise DataError(f"{what}: {len(labels)} test labels for {length} test steps; every test step needs exactly one 0/1 label.")
    if labels.dtype != bool:
        if not np.issubdtype(labels.dtype, np.number):
            raise DataError(f"{what}: test labels are not numeric (dtype {labels.dtype}); map them to 0 (normal) / 1 (anomaly).")
        outside = ~np.isin(labels, (0, 1))
        if outside.any():
            found = np.unique(labels[outside])[:5].tolist()
            raise DataError(f"{what}: test labels must be 0/1; found {found} (first at step {int(np.argmax(outside))}). Map them to 0 (normal) / 1 (anomaly).")
    return labels.astype(np.int64)


def validate_entity(entity: Entity, nan_policy: str, source: str) -> Entity:
    """A cleaned copy of ``entity``: float32 ``(T, F)`` / ``(T', F)`` arrays, ``(T',)`` int64 0/1 labels, no NaN/inf.

    ``meta["constant_channels"]`` lists channels constant over the training series (allowed;
    scalers leave them at scale 1).
    """
    if nan_policy not in NAN_POLICIES:
        raise ConfigError(f"data.nan_policy='{nan_policy}' is unknown; use one of {', '.join(NAN_POLICIES)}.")
    where = f"{source}, entity '{entity.name}'"
    train = _clean(_as_2d(entity.train, f"{where}: training series"), nan_policy, f"{where}: training series")
    test = _clean(_as_2d(entity.test, f"{where}: test series"), nan_policy, f"{where}: test series")
    if train.shape[1] != test.shape[1]:
        raise DataError(f"{where}: the training series has {train.shape[1]} features but the test series {test.shape[1]}.")
    labels = _labels(entity.test_labels, len(test), where)
    for part, stamps, series in (("training", entity.train_timestamps, train), ("test", entity.test_timestamps, test)):
        if stamps is None:
            continue
        if len(stamps) != len(series):
            raise DataError(f"{where}: {len(stamps)} {part} timestamps for {len(series)} {part} steps.")
        warning = time_order(stamps).check(f"{where}: the {part} timestamps")
        if warning:
            get_logger().warning(warning)
    constant = np.flatnonzero(np.ptp(train, axis=0) == 0).tolist()
    return replace(entity, train=train, test=test, test_labels=labels, meta={**entity.meta, "constant_channels": constant})
