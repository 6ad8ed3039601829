"""Checks and cleaning applied to every raw entity before scaling: shapes, labels, NaN/inf."""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from data.timeseries.base import Entity
from util.errors import ConfigError, DataError

NAN_POLICIES = ("error", "ffill", "zero")


def _as_2d(array: np.ndarray, what: str) -> np.ndarray:
    array = np.asarray(array)
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2:
        raise DataError(f"{what} has shape {array.shape}; expected (time, features).")
    if len(array) == 0:
        raise DataError(f"{what} is empty (0 time steps); check the file.")
    if not np.issubdtype(array.dtype, np.number) and array.dtype != bool:
        raise DataError(f"{what} is not numeric (dtype {array.dtype}); check the delimiter and the column names.")
    return array.astype(np.float32)


def _fill_forward_backward(array: np.ndarray) -> np.ndarray:
    out = array.copy()
    for c in range(out.shape[1]):
        column = out[:, c]
        bad = ~np.isfinite(column)
        if bad.all():
            column[:] = 0.0
            continue
        index = np.where(~bad, np.arange(len(column)), 0)
        np.maximum.accumulate(index, out=index)
        filled = column[index]
        first_good = np.argmax(~bad)
        filled[:first_good] = column[first_good]
        out[:, c] = filled
    return out


def _clean(array: np.ndarray, policy: str, what: str) -> np.ndarray:
    bad = ~np.isfinite(array)
    if not bad.any():
        return array
    if policy == "error":
        step = int(np.argwhere(bad)[0][0])
        raise DataError(
            f"{what} has {int(bad.sum())} NaN/inf values (first at step {step}). "
            "Fix the file, or set data.nan_policy=ffill (carry the last finite value) or data.nan_policy=zero."
        )
    return _fill_forward_backward(array) if policy == "ffill" else np.where(bad, 0.0, array).astype(np.float32)


def _labels(labels: np.ndarray, length: int, what: str) -> np.ndarray:
    labels = np.asarray(labels).reshape(-1) if np.asarray(labels).ndim > 1 and 1 in np.asarray(labels).shape else np.asarray(labels)
    if labels.ndim != 1:
        raise DataError(f"{what} labels have shape {labels.shape}; expected one label per test step.")
    if len(labels) != length:
        raise DataError(f"{what} has {len(labels)} labels for {length} test steps; every test step needs exactly one 0/1 label.")
    if labels.dtype != bool and not np.all(np.isin(labels, (0, 1))):
        bad = np.unique(labels[~np.isin(labels, (0, 1))])[:5]
        raise DataError(f"{what} labels must be 0/1; found {bad.tolist()}. Map them to 0 (normal) / 1 (anomaly).")
    return labels.astype(np.int64)


def validate_entity(entity: Entity, nan_policy: str, source: str) -> Entity:
    """A cleaned copy of ``entity``: float32 2-D arrays, matching widths, 0/1 labels, no NaN/inf."""
    if nan_policy not in NAN_POLICIES:
        raise ConfigError(f"data.nan_policy='{nan_policy}' is unknown; use one of {', '.join(NAN_POLICIES)}.")
    where = f"{source}, entity '{entity.name}'"
    train = _clean(_as_2d(entity.train, f"{where}: training series"), nan_policy, f"{where}: training series")
    test = _clean(_as_2d(entity.test, f"{where}: test series"), nan_policy, f"{where}: test series")
    if train.shape[1] != test.shape[1]:
        raise DataError(f"{where}: the training series has {train.shape[1]} features but the test series {test.shape[1]}.")
    labels = _labels(entity.test_labels, len(test), where)
    constant = np.flatnonzero(train.std(axis=0) == 0).tolist()
    return replace(entity, train=train, test=test, test_labels=labels, meta={**entity.meta, "constant_channels": constant})
