"""What every time-series dataset shares: the loader's settings (``TimeSeriesSource``) and what
it prepares from the raw entities (``TimeSeriesData``): validated, truncated, scaled, split into
train / validation (the tail of each training series) / test, and windowed."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import DataLoader

from data.timeseries.entity import Entity
from data.timeseries.scaler import DEFAULT_FLOOR, ChannelScaling, check_scaler_options, describe_floored, fit_scalers
from data.timeseries.validate import check_label_features, validate_entity
from data.timeseries.windows import WindowDataset, identity_collate
from util.distributed import ShardedBatchSampler
from util.errors import ConfigError, DataError
from util.logging import get_logger


class TimeSeriesSource:
    """Base of every registered time-series dataset.

    A subclass reads its community's on-disk layout in ``read()`` and returns raw entities;
    everything shared (NaN policy, truncation, scaling on train only, windows, validation
    split, loaders) is ``TimeSeriesData`` below, configured here.

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

    def prepare(self) -> TimeSeriesData:
        """Read, validate, scale and window the data."""
        return TimeSeriesData.from_source(self)

    def describe(self) -> str:
        """One line for logs: name and where the data comes from."""
        return type(self).__name__


@dataclass
class PreparedEntity:
    """One entity after preparation: scaled float32 arrays, train/val split of the training data."""

    name: str
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    test_labels: np.ndarray
    test_timestamps: np.ndarray | None
    shift: np.ndarray | None = None  # scaler statistics of the training part, (features,) float64
    scale: np.ndarray | None = None
    zscore: ChannelScaling | None = None  # the entity's own standard scaling of its raw values (z-score baseline)

    def zscore_statistics(self) -> tuple[np.ndarray, np.ndarray]:
        """(mean, std) that turn this entity's scaled values into its raw per-channel z-scores."""
        return (self.zscore.shift - self.shift) / self.scale, self.zscore.scale / self.scale


@dataclass
class _Split:
    """An entity's raw arrays cut into the part the scaler is fit on, validation and test."""

    entity: Entity
    fit: np.ndarray
    val: np.ndarray
    test: np.ndarray
    labels: np.ndarray
    stamps: np.ndarray | None


class TimeSeriesData:
    """Prepared time-series data: loaders for training and validation, arrays for testing."""

    family = "timeseries"

    def __init__(self, entities: list[PreparedEntity], source: TimeSeriesSource) -> None:
        self.entities = entities
        self.source = source
        self.window = source.window
        self.batch_size = source.batch_size
        self.n_features = entities[0].train.shape[1]
        self.test_stride = source.test_stride or source.window
        self.label_features = source.label_features  # feature indices the labels concern, or None

    @classmethod
    def from_source(cls, source: TimeSeriesSource) -> "TimeSeriesData":
        """Read ``source`` and prepare every entity (scalers fit on each entity's training part)."""
        for name, value in (("window", source.window), ("train_stride", source.train_stride), ("batch_size", source.batch_size)):
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"data.{name} must be a positive integer, got {value!r}.")
        if not 0.0 <= source.val_fraction < 1.0:
            raise ConfigError(f"data.val_fraction must be in [0, 1), got {source.val_fraction!r}.")
        raw = source.read()
        if not raw:
            raise DataError(f"{source.describe()} returned no entities; check data.root and data.entities.")
        splits = [cls._split(validate_entity(e, source.nan_policy, source.describe()), source) for e in raw]
        widths = {s.fit.shape[1] for s in splits}
        if len(widths) > 1:
            raise DataError(f"Entities of {source.describe()} have different feature counts {sorted(widths)}; train them separately.")
        check_label_features(source.label_features, widths.pop(), source.describe())
        scalings = fit_scalers([s.fit for s in splits], source.scaler, source.scaler_scope, source.scaler_floor)
        joint = source.scaler_scope != "entity"
        warning = describe_floored(
            ["all entities"] if joint else [s.entity.name for s in splits], scalings[:1] if joint else scalings, source.scaler_floor, splits[0].entity.meta.get("feature_names")
        )
        if warning:
            get_logger().warning(warning)
        per_channel = scalings if (source.scaler, source.scaler_scope) == ("standard", "entity") else fit_scalers([s.fit for s in splits], "standard", "entity", source.scaler_floor)
        entities = [
            PreparedEntity(s.entity.name, sc.apply(s.fit), sc.apply(s.val), sc.apply(s.test), s.labels.astype(np.int64), s.stamps, sc.shift, sc.scale, z)
            for s, sc, z in zip(splits, scalings, per_channel)
        ]
        return cls(entities, source)

    @staticmethod
    def _split(entity: Entity, source: TimeSeriesSource) -> _Split:
        train, test, labels = entity.train, entity.test, entity.test_labels
        stamps = entity.test_timestamps
        if source.max_points:
            train, test, labels = train[: source.max_points], test[: source.max_points], labels[: source.max_points]
            stamps = None if stamps is None else stamps[: source.max_points]
        n_val = int(round(len(train) * source.val_fraction))
        if n_val:
            n_val = max(n_val, source.window)
        fit_part, val = train[: max(len(train) - n_val, 0)], train[max(len(train) - n_val, 0) :]
        if len(fit_part) < source.window:
            raise DataError(
                f"Entity '{entity.name}': {len(train)} training steps leave {len(fit_part)} after the validation split, "
                f"fewer than the window {source.window}. Lower data.window or data.val_fraction."
            )
        if len(test) < source.window:
            raise DataError(f"Entity '{entity.name}': the test series ({len(test)} steps) is shorter than the window {source.window}; lower data.window.")
        return _Split(entity, fit_part, val, test, labels, stamps)

    @property
    def model_kwargs(self) -> dict:
        """Keyword arguments every time-series detector is built with."""
        return {"n_features": self.n_features, "window": self.window}

    def _loader(self, series: list[np.ndarray], stride: int, shuffle: bool, seed: int = 0, rank: int = 0, num_replicas: int = 1) -> DataLoader:
        dataset = WindowDataset(series, self.window, stride)
        if shuffle:  # this rank's part of each global batch: the same batches with 1 or N processes
            batching = dict(batch_sampler=ShardedBatchSampler(len(dataset), self.batch_size, seed, rank, num_replicas))
        else:
            batching = dict(batch_size=self.batch_size)
        return DataLoader(
            dataset,
            **batching,
            collate_fn=identity_collate,
            num_workers=self.source.num_workers,
            pin_memory=torch.cuda.is_available(),
        )

    def train_loader(self, seed: int, rank: int = 0, num_replicas: int = 1) -> DataLoader:
        """Shuffled training windows; the order is a function of ``seed`` alone (resumable).

        With ``num_replicas > 1`` (torchrun), rank ``rank``'s share of each global batch.
        """
        return self._loader([e.train for e in self.entities], self.source.train_stride, shuffle=True, seed=seed, rank=rank, num_replicas=num_replicas)

    def val_loader(self) -> DataLoader | None:
        """Validation windows (tail of each training series), or None when val_fraction is 0."""
        series = [e.val for e in self.entities if len(e.val)]
        return self._loader(series, self.window, shuffle=False) if series else None

    def series_loader(self, series: np.ndarray, stride: int | None = None) -> DataLoader:
        """Windows of one series in order, for scoring (``stride`` defaults to the test stride)."""
        return self._loader([series], stride or self.test_stride, shuffle=False)

    def train_series(self) -> list[np.ndarray]:
        """Scaled training parts (validation excluded), for detectors fit without gradients."""
        return [e.train for e in self.entities]

    def example_batch(self, batch_size: int = 2) -> dict[str, torch.Tensor]:
        """A real batch of training windows, for FLOP counting."""
        return {"x": torch.from_numpy(self.entities[0].train[: self.window][None].repeat(batch_size, 0))}

    def describe(self) -> str:
        """One line for logs."""
        n_train = sum(len(e.train) for e in self.entities)
        n_test = sum(len(e.test) for e in self.entities)
        return (
            f"{self.source.describe()}: {len(self.entities)} entit{'y' if len(self.entities) == 1 else 'ies'}, "
            f"{self.n_features} features, {n_train} train / {sum(len(e.val) for e in self.entities)} val / "
            f"{n_test} test steps, window {self.window}"
        )

    def fingerprint(self) -> str:
        """Hash of the prepared arrays, recorded in results so a table can be traced to its data."""
        digest = hashlib.sha256()
        for e in self.entities:
            for array in (e.train, e.val, e.test, e.test_labels):
                digest.update(np.ascontiguousarray(array).tobytes())
        return digest.hexdigest()[:12]
