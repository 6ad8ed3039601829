"""Runs of consecutive true points in a binary series (the events of the time-series metrics)."""
from __future__ import annotations

import numpy as np


def segments(binary: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and stop (exclusive) indices of each run of true values in ``binary`` ``(time,)``.

    >>> segments(np.array([1, 1, 0, 1]))
    (array([0, 3]), array([2, 4]))
    """
    padded = np.concatenate(([False], np.asarray(binary, dtype=bool), [False]))
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    return edges[0::2], edges[1::2]


def segment_ids(binary: np.ndarray) -> np.ndarray:
    """``(time,)`` index of the run each true point belongs to, -1 for false points."""
    binary = np.asarray(binary, dtype=bool)
    starts = np.concatenate(([binary[0]], binary[1:] & ~binary[:-1])) if binary.size else binary
    return np.where(binary, np.cumsum(starts) - 1, -1)
