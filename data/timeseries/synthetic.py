"""Built-in synthetic multivariate benchmark in the style of NeurIPS-TS (Lai et al., 2021).

Latent sources (sines, ECG-like pulse trains, mean-reverting random walks) are mixed by a sparse
random matrix into correlated channels plus Gaussian noise. The training series is anomaly-free;
the test series continues the same process and receives anomalies of five kinds, each on a
random subset of channels, in turn until ``anomaly_ratio`` of the test steps are labelled:

- ``point_global``: 1-3 steps pushed 4-6 training standard deviations away (a z-score sees them);
- ``point_contextual``: 1-3 steps set to a value of the channel's usual range (its 5 % or 95 %
  quantile, whichever is farther from the current value): ordinary globally, wrong in context;
- ``shapelet``: a segment whose shape becomes a sawtooth with the segment's level and spread;
- ``seasonal``: a segment played at double speed (same values, twice the frequency);
- ``trend``: a segment with an added linear drift reaching 1.5-3 standard deviations.

Only ``point_global`` and the end of ``trend`` leave the training range, so a per-channel
z-score catches them and misses the other kinds. Everything is a deterministic function of
``seed``; ``meta["anomalies"]`` lists every injected anomaly (kind, start, end, channels).
"""
from __future__ import annotations

import numpy as np
from scipy.signal import lfilter

from data.timeseries.base import TimeSeriesSource
from data.timeseries.entity import Entity
from util.errors import ConfigError
from util.registry import DATASETS

ANOMALY_TYPES = ("point_global", "point_contextual", "shapelet", "seasonal", "trend")
MARGIN = 20  # normal steps kept between two anomalies and before the first one


def _sources(length: int, n_sources: int, rng: np.random.Generator) -> np.ndarray:
    """Latent signals ``(length, n_sources)`` cycling through sine, ECG-like and random-walk kinds."""
    t = np.arange(length, dtype=np.float64)
    out = np.empty((length, n_sources))
    for k in range(n_sources):
        period = rng.uniform(25, 120)
        if k % 3 == 0:
            out[:, k] = np.sin(2 * np.pi * t / period + rng.uniform(0, 2 * np.pi))
        elif k % 3 == 1:
            phase = (t + rng.uniform(0, period)) % period / period
            out[:, k] = np.exp(-(((phase - 0.3) / 0.03) ** 2)) - 0.25 * np.exp(-(((phase - 0.37) / 0.02) ** 2))
        else:
            out[:, k] = lfilter([1.0], [1.0, -0.98], rng.normal(0, 0.1, length))  # AR(1) random walk
    return out


def _apply(kind: str, test: np.ndarray, sl: slice, channels: np.ndarray, stats: dict, rng: np.random.Generator) -> None:
    """Inject one anomaly of ``kind`` into ``test[sl, channels]`` in place."""
    seg = sl.stop - sl.start
    std = stats["std"][channels]
    sign = rng.choice([-1.0, 1.0], size=len(channels))
    if kind == "point_global":
        test[sl, channels] += sign * rng.uniform(4, 6) * std
    elif kind == "point_contextual":
        low, high = stats["q05"][channels], stats["q95"][channels]
        current = test[sl, channels]
        test[sl, channels] = np.where(np.abs(current - low) > np.abs(current - high), low, high)
    elif kind == "shapelet":
        level, spread = test[sl, channels].mean(axis=0), test[sl, channels].std(axis=0) + 0.5 * std
        saw = 2 * ((np.arange(seg) / max(seg / 3, 1)) % 1.0) - 1
        test[sl, channels] = level + saw[:, None] * spread
    elif kind == "seasonal":
        source = np.clip(sl.start + 2 * np.arange(seg), 0, len(test) - 1)
        test[sl, channels] = test[source][:, channels]
    elif kind == "trend":
        test[sl, channels] += np.linspace(0, 1, seg)[:, None] * sign * rng.uniform(1.5, 3) * std
    else:
        raise ConfigError(f"Unknown synthetic anomaly type '{kind}'; use any of {', '.join(ANOMALY_TYPES)}.")


def _inject(test: np.ndarray, train: np.ndarray, ratio: float, kinds: tuple[str, ...], rng: np.random.Generator) -> tuple[np.ndarray, list[dict]]:
    """Add anomalies to ``test`` ``(T, F)`` in place; return ``(T,)`` 0/1 labels and the anomaly list."""
    length, n_features = test.shape
    stats = {"std": train.std(axis=0) + 1e-8, "q05": np.quantile(train, 0.05, axis=0), "q95": np.quantile(train, 0.95, axis=0)}
    labels = np.zeros(length, dtype=np.int64)
    anomalies: list[dict] = []
    target = int(round(ratio * length))
    for attempt in range(10_000):
        missing = target - int(labels.sum())
        if missing <= 0:
            break
        kind = kinds[len(anomalies) % len(kinds)]
        seg = int(rng.integers(1, 4)) if kind.startswith("point") else int(rng.integers(20, 80))
        seg = max(1, min(seg, missing)) if kind.startswith("point") else max(10, min(seg, missing))
        if length - seg - 1 <= MARGIN:
            break
        start = int(rng.integers(MARGIN, length - seg - 1))
        if labels[max(0, start - MARGIN) : start + seg + MARGIN].any():
            continue
        channels = np.sort(rng.choice(n_features, size=int(rng.integers(1, max(1, n_features // 2) + 1)), replace=False))
        _apply(kind, test, slice(start, start + seg), channels, stats, rng)
        labels[start : start + seg] = 1
        anomalies.append({"kind": kind, "start": start, "end": start + seg, "channels": channels.tolist()})
    return labels, anomalies


def generate(
    n_features: int = 8,
    train_length: int = 4000,
    test_length: int = 4000,
    anomaly_ratio: float = 0.05,
    anomaly_types: tuple[str, ...] = ANOMALY_TYPES,
    noise: float = 0.05,
    seed: int = 0,
) -> Entity:
    """One entity: anomaly-free ``train`` ``(train_length, n_features)`` and labelled ``test`` ``(test_length, n_features)``."""
    rng = np.random.default_rng(seed)
    n_sources = max(3, n_features // 2)
    latent = _sources(train_length + test_length, n_sources, rng)
    mixing = rng.normal(0, 1, (n_sources, n_features)) * (rng.random((n_sources, n_features)) < 0.6)
    mixing[rng.integers(0, n_sources, n_features), np.arange(n_features)] += 1.0  # every channel sees a source
    series = latent @ mixing + rng.normal(0, noise, (train_length + test_length, n_features))
    train, test = series[:train_length], series[train_length:].copy()
    labels, anomalies = _inject(test, train, anomaly_ratio, tuple(anomaly_types), rng)
    meta = {"anomalies": anomalies, "seed": seed}
    return Entity("synthetic", train.astype(np.float32), test.astype(np.float32), labels, meta=meta)


@DATASETS.register("synthetic")
class SyntheticSource(TimeSeriesSource):
    """The built-in synthetic benchmark (see module docstring); needs no files."""

    def __init__(
        self,
        n_features: int = 8,
        train_length: int = 4000,
        test_length: int = 4000,
        anomaly_ratio: float = 0.05,
        anomaly_types: tuple[str, ...] | list[str] = ANOMALY_TYPES,
        noise: float = 0.05,
        seed: int = 0,
        **common,
    ) -> None:
        super().__init__(**common)
        kinds = (anomaly_types,) if isinstance(anomaly_types, str) else tuple(anomaly_types)
        unknown = set(kinds) - set(ANOMALY_TYPES)
        if unknown or not kinds:
            raise ConfigError(f"data.anomaly_types has unknown types {sorted(unknown)}; use any of {', '.join(ANOMALY_TYPES)}.")
        if not 0.0 <= anomaly_ratio < 0.5:
            raise ConfigError(f"data.anomaly_ratio must be in [0, 0.5), got {anomaly_ratio!r}.")
        if n_features < 1 or train_length < 1 or test_length < 1:
            raise ConfigError("data.n_features, data.train_length and data.test_length must be positive.")
        self.params = dict(
            n_features=n_features, train_length=train_length, test_length=test_length,
            anomaly_ratio=anomaly_ratio, anomaly_types=kinds, noise=noise, seed=seed,
        )

    def read(self) -> list[Entity]:
        return [generate(**self.params)]

    def describe(self) -> str:
        return f"synthetic (seed {self.params['seed']}, {self.params['n_features']} channels)"
