"""Raw time-series data as every registered loader returns it, before scaling and windowing."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from data.timeseries.scaler import DEFAULT_FLOOR, check_scaler_options
from util.errors import ConfigError


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


class TimeSeriesSource:
    """Base of every registered time-series dataset.

    A subclass reads its community's on-disk layout in ``read()`` and returns raw entities;
    everything shared (NaN policy, truncation, scaling on train only, windows, validation
    split, loaders) lives in ``data.timeseries.pipeline`` and is configured here.

    Args:
        window: window length in time steps.
        train_stride: step between consecutive training windows.
        test_stride: step between test windows (default: ``window``); every test point is
            scored exactly once whatever the stride.
        batch_size: windows per batch.
        scaler: ``standard``, ``minmax`` or ``none``; fit on the training split only, in float64,
            with a floor for near-constant channels (``data.timeseries.scaler``).
        scaler_scope: ``entity`` (one scaler per entity), ``joint`` (one over all entities'
            training data, the convention of the concatenated SMAP/MSL form) or ``auto`` (joint,
            or entity when each entity gets its own model: ``entity_mode=separate``).
        scaler_floor: smallest scale of a channel, as a fraction of its training range over all
            entities (0 disables the floor).
        nan_policy: ``error``, ``ffill`` (forward then backward fill) or ``zero``.
        max_points: truncate every train and test series to this many steps (smoke tests).
        val_fraction: trailing fraction of each training series held out for validation
            (early stopping, thresholds); never the test set.
        num_workers: DataLoader workers.
        label_features: indices of the features the labels describe (SMAP/MSL: ``[0]``, the
            telemetry; the rest are command inputs), or None when the labels concern all.
            ``evaluation.score_features=labelled`` scores from these alone.
    """

    family = "timeseries"
    feature_names: list[str] | None = None  # set by read() when the files name their columns

    def __init__(
        self,
        window: int = 100,
        train_stride: int = 1,
        test_stride: int | None = None,
        batch_size: int = 32,
        scaler: str = "standard",
        scaler_scope: str = "auto",
        scaler_floor: float = DEFAULT_FLOOR,
        nan_policy: str = "error",
        max_points: int | None = None,
        val_fraction: float = 0.2,
        num_workers: int = 0,
        label_features: list[int] | None = None,
    ) -> None:
        check_scaler_options(scaler, scaler_scope, scaler_floor)
        self.window = window
        self.train_stride = train_stride
        self.test_stride = test_stride
        self.batch_size = batch_size
        self.scaler, self.scaler_scope, self.scaler_floor = scaler, scaler_scope, scaler_floor
        self.nan_policy = nan_policy
        self.max_points = max_points
        self.val_fraction = val_fraction
        self.num_workers = num_workers
        self.label_features = None if label_features is None else list(label_features)

    def read(self) -> list[Entity]:
        """Read the raw entities from disk (or generate them); raise ``DataError`` on bad files."""
        raise NotImplementedError

    def columns(self) -> dict:
        """How the files lay out their columns, recorded in the run for ``-m predict``: ``features``
        (names in order after ``read()``; None: the files do not name them, columns go by position),
        the ``timestamp`` and ``label`` columns and the field ``delimiter`` (a loader's
        ``timestamp_column`` / ``label_column`` / ``delimiter`` options, where it has them)."""
        return {
            "features": self.feature_names,
            "timestamp": getattr(self, "timestamp_column", None),
            "label": getattr(self, "label_column", None),
            "delimiter": getattr(self, "delimiter", ","),
        }

    def prepare(self):
        """Read, validate, scale and window the data: a ``data.timeseries.pipeline.TimeSeriesData``."""
        from data.timeseries.pipeline import TimeSeriesData

        return TimeSeriesData.from_source(self)

    def describe(self) -> str:
        """One line for logs: name and where the data comes from."""
        return type(self).__name__


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
