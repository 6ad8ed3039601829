"""Input checks and run-length helpers shared by every time-series metric.

Every metric takes 1-D arrays of equal length: ``labels`` (time,) in {0, 1}, ``scores`` (time,)
finite floats (higher = more anomalous) and ``pred`` (time,) in {0, 1}. The checks return new
arrays (int64 for labels and predictions, float64 for scores) and never modify their inputs.
"""
from __future__ import annotations

import numpy as np

from util.errors import DataError


def as_binary(values: np.ndarray, name: str) -> np.ndarray:
    """A copy of ``values`` as a 1-D int64 array of 0/1; anything else raises DataError."""
    array = np.asarray(values)
    if array.ndim != 1:
        raise DataError(f"{name} must be a 1-D array (time,), got shape {array.shape}.")
    if array.dtype == bool:
        return array.astype(np.int64)
    if not np.issubdtype(array.dtype, np.number):
        raise DataError(f"{name} must be numeric 0/1 values, got dtype {array.dtype}.")
    if array.size and not np.isin(array, (0, 1)).all():
        bad = array[~np.isin(array, (0, 1))][:3]
        raise DataError(f"{name} must contain only 0 and 1, found e.g. {bad.tolist()}.")
    return array.astype(np.int64)


def as_scores(values: np.ndarray, name: str = "scores") -> np.ndarray:
    """A copy of ``values`` as a 1-D float64 array; NaN or inf raises DataError."""
    array = np.asarray(values)
    if array.ndim != 1:
        raise DataError(f"{name} must be a 1-D array (time,), got shape {array.shape}.")
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise DataError(f"{name} must be numeric, got dtype {array.dtype}.")
    array = array.astype(np.float64)
    bad = ~np.isfinite(array)
    if bad.any():
        raise DataError(
            f"{name} contain {int(bad.sum())} NaN/inf values (first at index {int(np.argmax(bad))}); "
            "fix the detector or drop those points before computing metrics."
        )
    return array


def check_same_length(**arrays: np.ndarray) -> int:
    """The common length of the named arrays; a mismatch raises DataError naming them."""
    lengths = {name: len(a) for name, a in arrays.items()}
    if len(set(lengths.values())) > 1:
        raise DataError("Length mismatch: " + ", ".join(f"{k} has {v}" for k, v in lengths.items()) + " points; they must be equal.")
    return next(iter(lengths.values()))


def runs(binary: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Starts and (exclusive) ends of the runs of ones in a 0/1 array: run i is ``[starts[i], ends[i])``."""
    padded = np.concatenate(([0], np.asarray(binary, dtype=np.int8), [0]))
    edges = np.flatnonzero(np.diff(padded))
    return edges[0::2], edges[1::2]
