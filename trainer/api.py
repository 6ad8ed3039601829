"""Python API for notebooks and other harnesses (PyOD / TSB-AD style)::

    from trainer.api import AnomalyDetector

    detector = AnomalyDetector("kambaad", {"trainer.epochs": 2})  # configs/kambaad/kambaad_csv.py
    detector.fit(train)                          # (time, features) or (time,) array
    scores = detector.decision_function(series)  # (time,): one anomaly score per step
    parts = detector.feature_contributions(series)  # (time, features): each feature's part in it

A detector is named by a config file or by a name: ``"kambaad"`` means its config for unknown
data (``configs/**/kambaad_csv.py``), any other config stem (``"kambaad_smap"``) that file.
Overrides are ``key=value`` strings or a mapping ``{"trainer.epochs": 2}``, as on the
command line. Everything runs through the code of ``run.py``: the data section's shared
settings (window, strides, batch size, scaler, NaN policy, validation fraction) prepare the
arrays in ``data.timeseries.base``, the detector is built and seeded as ``run.py`` builds
it, trained by the registered trainer (early stopping on the tail of the training array,
best checkpoint restored), and a series is scored window by window from the features
``evaluation.score_features`` names, folded back to steps exactly as the evaluator scores a test
set. Same config, seed and arrays: the same scores. ``feature_contributions`` folds each
feature's contribution (``Detector.feature_contributions``) to steps the same way.
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from data.timeseries.base import TimeSeriesData, TimeSeriesSource
from data.timeseries.entity import Entity
from trainer.contributions import series_contributions
from trainer.engine import RunContext, build_detector, restore, train
from trainer.run_folder import RunFolder
from trainer.ts_evaluator import score_series
from util.config import load
from util.device import select_device
from util.errors import ConfigError, DataError
from util.registry import EVALUATORS, accepted_params
from util.seed import seed_everything, set_deterministic
from util.threads import configure_threads

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
DEFAULT_SUFFIX = "_csv"


def config_path(config: str | Path) -> Path:
    """The config file behind a path, a detector name (``kambaad`` -> ``kambaad_csv.py``) or a config stem."""
    if Path(config).is_file():
        return Path(config)
    for stem in (f"{config}{DEFAULT_SUFFIX}", str(config)):
        found = sorted(CONFIGS.glob(f"**/{stem}.py"))
        if found:
            return found[0]
    names = sorted(p.stem[: -len(DEFAULT_SUFFIX)] for p in CONFIGS.glob(f"**/*{DEFAULT_SUFFIX}.py"))
    raise ConfigError(f"No config '{config}': give a config file, a config name under {CONFIGS}, or one of the detectors {', '.join(names)}.")


def as_overrides(overrides: Sequence[str] | Mapping[str, Any]) -> list[str]:
    """``key=value`` strings from strings or a ``{dotted key: value}`` mapping."""
    if isinstance(overrides, Mapping):
        return [f"{key}={value!r}" for key, value in overrides.items()]
    if isinstance(overrides, str):
        return [overrides]
    return list(overrides)


def as_series(values: np.ndarray, what: str) -> np.ndarray:
    """``values`` as a ``(time, features)`` array (a 1-D array is one feature)."""
    array = np.asarray(values)
    array = array[:, None] if array.ndim == 1 else array
    if array.ndim != 2:
        raise DataError(f"{what} has shape {array.shape}; give a (time, features) or (time,) array.")
    return array


class ArraySource(TimeSeriesSource):
    """In-memory arrays as one entity for the pipeline (not registered: configs hold no arrays).

    ``test`` is what will be scored; ``fit`` passes the training array itself, which the
    trainer never reads (it trains on ``train`` minus its validation tail).
    """

    def __init__(self, train: np.ndarray, test: np.ndarray, **common) -> None:
        super().__init__(**common)
        self.train, self.test = train, test

    def read(self) -> list[Entity]:
        return [Entity("series", self.train, self.test, np.zeros(len(self.test), np.int64))]

    def describe(self) -> str:
        return f"arrays (train {self.train.shape}, scored {self.test.shape})"


class AnomalyDetector:
    """A registered time-series detector with ``fit`` / ``decision_function`` (see module docstring).

    Args:
        config: config file, detector name or config stem.
        overrides: ``key=value`` strings or a ``{dotted key: value}`` mapping.
        work_dir: folder for the training run's checkpoints and logs (None: a temporary folder,
            removed after ``fit``).
    """

    def __init__(self, config: str | Path, overrides: Sequence[str] | Mapping[str, Any] = (), work_dir: str | Path | None = None) -> None:
        self.config = config_path(config)
        self.cfg = load(self.config, as_overrides(overrides))
        set_deterministic(self.cfg.get("deterministic", False))  # before any CUDA work, as run.py does
        self.work_dir = Path(work_dir) if work_dir is not None else None
        self.device = select_device(self.cfg["device"])
        self.evaluator = EVALUATORS.build(self.cfg["evaluation"])  # decides which features a score reads, as in run.py
        self.detector_: torch.nn.Module | None = None
        self.features_: list[int] | None = None  # the feature indices scored (evaluation.score_features)
        self._train: np.ndarray | None = None

    def _data(self, train: np.ndarray, scored: np.ndarray) -> TimeSeriesData:
        shared, _ = accepted_params(TimeSeriesSource)
        common = {k: v for k, v in self.cfg["data"].items() if k in shared}
        return ArraySource(train, scored, **common).prepare()

    def fit(self, X: np.ndarray, y: None = None) -> "AnomalyDetector":
        """Train on ``X`` ``(time, features)``, assumed normal; ``y`` is ignored (API convention)."""
        configure_threads(self.cfg["num_threads"], int(self.cfg["data"].get("num_workers", 0)))  # run.py's thread policy
        series = as_series(X, "fit(X)")
        seed_everything(self.cfg["seed"])
        data = self._data(series, series)
        detector, _, _ = build_detector(self.cfg, data, self.device)
        features = self.evaluator.check_detector(detector, data)  # before training, as run.py checks it
        folder = RunFolder(self.work_dir or tempfile.mkdtemp(prefix="ssmad-fit-"))
        folder.path.mkdir(parents=True, exist_ok=True)
        try:
            best = train(RunContext(self.cfg, self.config.stem, data, folder, self.device, self.evaluator), detector)
            restore(detector, best, self.cfg["model"], self.device)
        finally:
            if self.work_dir is None:
                shutil.rmtree(folder.path, ignore_errors=True)
        self.detector_, self.features_, self._train = detector, features, series
        return self

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        """``(time,)`` anomaly scores of ``X`` ``(time, features)``, scaled with the training statistics."""
        data = self._scored_data(X, "decision_function")
        return score_series(self.detector_, data, data.entities[0].test, self.device, features=self.features_)

    def feature_contributions(self, X: np.ndarray) -> np.ndarray:
        """``(time, features)``: each feature's contribution to the score of each step of ``X`` (which
        sensor); for reconstruction detectors the score is their mean over the scored features. A
        detector whose score does not split over features raises a ``ConfigError`` saying so."""
        data = self._scored_data(X, "feature_contributions")
        return series_contributions(self.detector_, data, data.entities[0].test, self.device)

    def _scored_data(self, X: np.ndarray, method: str) -> TimeSeriesData:
        """The pipeline's data for scoring ``X`` with the fitted detector (training scaler)."""
        if self.detector_ is None:
            raise ConfigError(f"Call fit(train) before {method}(X).")
        series = as_series(X, f"{method}(X)")
        if series.shape[1] != self._train.shape[1]:
            raise DataError(f"{method}(X): X has {series.shape[1]} features, the detector was fit on {self._train.shape[1]}.")
        return self._data(self._train, series)
