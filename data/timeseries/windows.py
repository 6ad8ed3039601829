"""Sliding windows as views of the series, and folding per-window scores back to points.

Memory stays O(points x channels) whatever the window count or stride: a dataset keeps one
tensor per split and the start index of each window; a batch gathers its windows on demand.
"""
from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from util.errors import DataError


def window_starts(length: int, window: int, stride: int) -> np.ndarray:
    """Start indices of windows covering ``[0, length)``; the last window always ends at ``length``."""
    if length < window:
        raise DataError(
            f"A series of {length} steps is shorter than the window ({window}); "
            "lower data.window or data.val_fraction, or raise data.max_points."
        )
    starts = np.arange(0, length - window + 1, stride, dtype=np.int64)
    if starts[-1] != length - window:
        starts = np.append(starts, length - window)
    return starts


class WindowDataset(Dataset):
    """Windows ``(window, features)`` of one or more series, never crossing a series boundary.

    ``__getitems__`` gathers a whole batch at once from a strided view (no per-window copies
    are stored); use it with ``collate_fn=identity_collate``.
    """

    def __init__(self, series: list[np.ndarray], window: int, stride: int) -> None:
        self.window = window
        self.data = torch.from_numpy(np.ascontiguousarray(np.concatenate(series, axis=0), dtype=np.float32))
        offsets = np.cumsum([0] + [len(s) for s in series[:-1]])
        self.starts = torch.from_numpy(
            np.concatenate([off + window_starts(len(s), window, stride) for off, s in zip(offsets, series)])
        )
        self._views = self.data.unfold(0, window, 1)  # (T - W + 1, F, W), a view

    def __len__(self) -> int:
        return len(self.starts)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        start = int(self.starts[index])
        return {"x": self.data[start : start + self.window]}

    def __getitems__(self, indices: list[int]) -> dict[str, torch.Tensor]:
        starts = self.starts[torch.as_tensor(indices, dtype=torch.long)]
        return {"x": self._views[starts].transpose(1, 2).contiguous()}


def identity_collate(batch: dict) -> dict:
    """Collate for datasets whose ``__getitems__`` already returns a batch."""
    return batch


def fold_window_scores(window_scores: np.ndarray, starts: np.ndarray, length: int) -> np.ndarray:
    """Per-point scores from per-window, per-step scores ``(n_windows, window)``.

    Each point gets the mean over the windows that cover it (with the default test stride
    equal to the window, only the final, end-aligned window overlaps its neighbour).
    """
    n_windows, window = window_scores.shape
    positions = (starts[:, None] + np.arange(window)[None, :]).ravel()
    sums = np.bincount(positions, weights=window_scores.ravel().astype(np.float64), minlength=length)
    counts = np.bincount(positions, minlength=length)
    if np.any(counts[:length] == 0):
        raise RuntimeError("windows do not cover the series; this is a bug in window_starts")
    return sums[:length] / counts[:length]
