"""The raw record every time-series loader returns: one entity's arrays, before scaling and windowing."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Entity:
    """One monitored entity (an SMD machine, a SMAP/MSL channel, a CSV file).

    ``train`` is ``(time, features)``; ``test`` is ``(time', features)`` with one 0/1 label per
    test step in ``test_labels``. ``test_timestamps`` and ``train_timestamps`` are optional
    (loaders of files with a timestamp column fill them; ``validate_entity`` checks their order).
    """

    name: str
    train: np.ndarray
    test: np.ndarray
    test_labels: np.ndarray
    test_timestamps: np.ndarray | None = None
    meta: dict = field(default_factory=dict)
    train_timestamps: np.ndarray | None = None
