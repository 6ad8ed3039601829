"""Built-in synthetic multivariate benchmark in the style of NeurIPS-TS (Lai et al., 2021).

Latent sources (sines, ECG-like pulse trains, mean-reverting random walks) are mixed by a random
matrix into correlated channels plus noise. The training series is anomaly-free; the test
series continues the same process and receives anomalies of five kinds on random channel
subsets until ``anomaly_ratio`` of the test steps are labelled:

- ``point_global``: 1-3 steps pushed 4-6 standard deviations away (outside the global range);
- ``point_contextual``: 1-3 steps moved 2-3 standard deviations (inside the global range, odd locally);
- ``shapelet``: a segment whose shape is replaced by a sawtooth of the same level and amplitude;
- ``seasonal``: a segment played at double frequency;
- ``trend``: a segment with an added linear drift.

Everything is a deterministic function of ``seed``.
"""
from __future__ import annotations

import numpy as np

from data.timeseries.base import Entity, TimeSeriesSource
from util.errors import ConfigError
from util.registry import DATASETS

ANOMALY_TYPES = ("point_global", "point_contextual", "shapelet", "seasonal", "trend")


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
            walk = np.zeros(length)
            steps = rng.normal(0, 0.1, length)
            for i in range(1, length):
                walk[i] = 0.98 * walk[i - 1] + steps[i]
            out[:, k] = walk
    return out


def _inject(test: np.ndarray, ratio: float, kinds: tuple[str, ...], rng: np.random.Generator) -> np.ndarray:
    """Add anomalies to ``test`` in place; return the 0/1 labels."""
    length, n_features = test.shape
    std = test.std(axis=0) + 1e-8
    labels = np.zeros(length, dtype=np.int64)
    target, attempts, i = int(round(ratio * length)), 0, 0
    while labels.sum() < target and attempts < 10_000:
        attempts += 1
        kind = kinds[i % len(kinds)]
        seg = int(rng.integers(1, 4)) if kind.startswith("point") else int(rng.integers(20, 80))
        start = int(rng.integers(50, length - seg - 1))
        if labels[max(0, start - 20) : start + seg + 20].any():
            continue
        channels = rng.choice(n_features, size=int(rng.integers(1, max(2, n_features // 2) + 1)), replace=False)
        sl = slice(start, start + seg)
        sign = rng.choice([-1.0, 1.0], size=len(channels))
        if kind == "point_global":
            test[sl, channels] += sign * rng.uniform(4, 6) * std[channels]
        elif kind == "point_contextual":
            test[sl, channels] += sign * rng.uniform(2, 3) * std[channels]
        elif kind == "shapelet":
            level, amp = test[sl, channels].mean(axis=0), test[sl, channels].std(axis=0) + 0.5 * std[channels]
            saw = 2 * ((np.arange(seg) / max(seg / 3, 1)) % 1.0) - 1
            test[sl, channels] = level + saw[:, None] * amp
        elif kind == "seasonal":
            source = np.clip(start + 2 * np.arange(seg), 0, length - 1)
            test[sl, channels] = test[source][:, channels]
        elif kind == "trend":
            test[sl, channels] += np.linspace(0, 1, seg)[:, None] * sign * rng.uniform(1.5, 3) * std[channels]
        else:
            raise ConfigError(f"Unknown synthetic anomaly type '{kind}'; use any of {', '.join(ANOMALY_TYPES)}.")
        labels[sl] = 1
        i += 1
    return labels


def generate(
    n_features: int = 8,
    train_length: int = 4000,
    test_length: int = 4000,
    anomaly_ratio: float = 0.05,
    anomaly_types: tuple[str, ...] = ANOMALY_TYPES,
    noise: float = 0.05,
    seed: int = 0,
) -> Entity:
    """One entity: an anomaly-free training series and a labelled test series, both ``(time, n_features)``."""
    rng = np.random.default_rng(seed)
    n_sources = max(3, n_features // 2)
    latent = _sources(train_length + test_length, n_sources, rng)
    mixing = rng.normal(0, 1, (n_sources, n_features)) * (rng.random((n_sources, n_features)) < 0.6)
    mixing[rng.integers(0, n_sources, n_features), np.arange(n_features)] += 1.0  # every channel sees a source
    series = latent @ mixing + rng.normal(0, noise, (train_length + test_length, n_features))
    train, test = series[:train_length], series[train_length:].copy()
    labels = _inject(test, anomaly_ratio, tuple(anomaly_types), rng)
    return Entity("synthetic", train.astype(np.float32), test.astype(np.float32), labels)


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
        unknown = set(anomaly_types) - set(ANOMALY_TYPES)
        if unknown:
            raise ConfigError(f"data.anomaly_types has unknown types {sorted(unknown)}; use any of {', '.join(ANOMALY_TYPES)}.")
        self.params = dict(
            n_features=n_features, train_length=train_length, test_length=test_length,
            anomaly_ratio=anomaly_ratio, anomaly_types=tuple(anomaly_types), noise=noise, seed=seed,
        )

    def read(self) -> list[Entity]:
        return [generate(**self.params)]

    def describe(self) -> str:
        return f"synthetic (seed {self.params['seed']}, {self.params['n_features']} channels)"
