"""Sanity baselines: any real detector has to beat these on the same data and metrics.

``random``, ``zscore``, ``pca`` and ``iforest`` are fit without gradients (``fit_offline`` on the
scaled training series); ``dense_ae`` is a small trainable window autoencoder. All score a batch
``x`` of shape ``(batch, window, features)`` with one score per step, ``(batch, window)``.
Fitted statistics are buffers (or, for the forest, extra state), so checkpoints hold them.
"""
from __future__ import annotations

import pickle
import zlib
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from numpy.lib.stride_tricks import sliding_window_view
from sklearn.decomposition import PCA
from sklearn.ensemble import IsolationForest
from torch import nn

from data.timeseries.scaler import DEFAULT_FLOOR, fit_scalers
from loss.reconstruction import reconstruction_residual
from model.detectors.base import Detector
from util.errors import ConfigError, DataError
from util.registry import DETECTORS

_MASK32 = 0xFFFFFFFF


class NonGradientDetector(Detector):
    """A detector with no training loop; ``forward`` just scores."""

    trainable = False

    def __init__(self, n_features: int, window: int) -> None:
        super().__init__(loss=None)
        self.n_features, self.window = n_features, window

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {"score": self.score(batch)}


class FittedDetector(NonGradientDetector):
    """A non-gradient detector whose statistics come from ``fit_offline``.

    Statistics are buffers whose shapes may only be known after fitting (e.g. the number of
    PCA components); loading a state dict takes the stored shapes.
    """

    def __init__(self, n_features: int, window: int) -> None:
        super().__init__(n_features, window)
        self.register_buffer("fitted", torch.tensor(False))

    def _require_fitted(self) -> None:
        if not bool(self.fitted):
            raise RuntimeError(f"{type(self).__name__} must be fit with fit_offline(train_series) before scoring")

    def _check_series(self, train_series: list[np.ndarray]) -> list[np.ndarray]:
        """The training series as float arrays ``(time, n_features)``; anything else is a data error."""
        series = [np.asarray(s, dtype=np.float64) for s in train_series]
        if not series or all(len(s) == 0 for s in series):
            raise DataError(f"{type(self).__name__} got no training data to fit on; check the dataset's train split.")
        for s in series:
            if s.ndim != 2 or s.shape[1] != self.n_features:
                raise DataError(f"{type(self).__name__} expects training series of shape (time, {self.n_features}), got {s.shape}.")
        return series

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:  # noqa: ANN001
        for name, buffer in self._buffers.items():
            stored = state_dict.get(prefix + name)
            if buffer is not None and stored is not None and stored.shape != buffer.shape:
                self._buffers[name] = torch.empty(stored.shape, dtype=buffer.dtype, device=buffer.device)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


def sample_windows(series: list[np.ndarray], length: int, max_count: int | None, seed: int) -> np.ndarray:
    """Up to ``max_count`` windows of ``length`` steps, drawn without replacement with ``seed``.

    Returns ``(n, length * features)``, each window flattened step-major like
    ``x.reshape(batch, window * features)``.
    """
    views = [sliding_window_view(s, length, axis=0) for s in series if len(s) >= length]  # (n_i, F, length)
    if not views:
        raise DataError(f"Every training series is shorter than {length} steps; lower the window/sub_window or use more data.")
    offsets = np.cumsum([0] + [len(v) for v in views])
    picks = np.arange(offsets[-1])
    if max_count is not None and offsets[-1] > max_count:
        picks = np.sort(np.random.default_rng(seed).choice(offsets[-1], size=max_count, replace=False))
    owners = np.searchsorted(offsets, picks, side="right") - 1
    windows = np.stack([views[k][i - offsets[k]].T for k, i in zip(owners, picks)])
    return windows.reshape(len(windows), -1)


def spread_to_steps(sub_scores: torch.Tensor, length: int) -> torch.Tensor:
    """Per-step mean of the scores of the sub-windows covering each step.

    ``sub_scores`` ``(batch, n)`` scores sub-windows starting at steps ``0..n-1``, each
    ``length`` long; returns ``(batch, n + length - 1)``.
    """
    kernel = sub_scores.new_ones(1, 1, length)
    sums = F.conv_transpose1d(sub_scores[:, None], kernel)[:, 0]
    counts = F.conv_transpose1d(torch.ones_like(sub_scores[:1, None]), kernel)[:, 0]
    return sums / counts


def _fmix32(h: torch.Tensor) -> torch.Tensor:
    """MurmurHash3's 32-bit finaliser on int64 tensors holding unsigned 32-bit values."""
    h = h ^ (h >> 16)
    h = (h * 0x85EBCA6B) & _MASK32  # int64 products wrap; the low 32 bits stay exact
    h = h ^ (h >> 13)
    h = (h * 0xC2B2AE35) & _MASK32
    return h ^ (h >> 16)


@DETECTORS.register("random")
class RandomDetector(NonGradientDetector):
    """Uniform random scores in [0, 1): the floor every detector has to beat.

    A named series (the evaluator's random baseline, the TSB-AD runner's) is scored by
    ``series_scores``: independent draws from a generator seeded by ``seed`` and the series' name,
    the same in every run and never tied. Windows (``score``, this detector as a model) carry no
    series name, so there a step's score hashes the float32 bit patterns of its (scored) feature
    vector together with ``seed`` (MurmurHash3 finaliser, integer arithmetic only): exact and
    identical on every device and in every call, and the same in every window that covers the step
    (overlapping windows average to the same value, keeping the scores uniform). Caveat: steps
    with bit-identical values share a score.
    """

    def __init__(self, n_features: int, window: int, seed: int = 0) -> None:
        super().__init__(n_features, window)
        self.seed = seed

    def series_scores(self, name: str, shapes: Sequence[int | tuple[int, ...]]) -> list[np.ndarray]:
        """One array of uniform scores per entry of ``shapes``, drawn in order for the series called ``name``
        (e.g. its test, validation and training parts)."""
        generator = np.random.default_rng([self.seed, zlib.crc32(name.encode())])
        return [generator.random(shape) for shape in shapes]

    def fit_offline(self, train_series: list[np.ndarray]) -> None:
        """Nothing to fit."""

    def joint_score(self, batch: dict[str, torch.Tensor], features: list[int] | None) -> torch.Tensor:
        """``(B, W)``: each step's hash of the values of ``features`` (None: all)."""
        x = batch["x"].float()
        x = (x if features is None else x[..., features]).contiguous()
        bits = x.view(torch.int32).to(torch.int64) & _MASK32  # (B, W, scored features)
        h = _fmix32(torch.full(x.shape[:-1], self.seed & _MASK32, dtype=torch.int64, device=x.device))
        for feature in range(x.shape[-1]):
            h = _fmix32(h ^ _fmix32(bits[..., feature]))
        return (h >> 8).float() / float(1 << 24)


@DETECTORS.register("zscore")
class ZScoreDetector(FittedDetector):
    """Largest absolute z-score over the scored channels.

    ``fit_offline`` standardises with the mean and std of all training series together, the std
    floored exactly as the data pipeline floors it (``data.timeseries.scaler``): a channel that
    barely moves in training must not turn its first movement into a z of 10^4. On inputs that
    the pipeline has already standardised (``data.scaler=standard``) a second standardisation
    would undo that floor, so ``standardise=False`` scores the input as it is: the pipeline's own
    per-channel z (what the evaluator's z-score baseline computes, ``use_statistics``).

    Args:
        floor: smallest std, as a fraction of the channel's training range (``data.scaler_floor``).
        standardise: fit a mean and std (True) or take the input as z-scores already (False).
    """

    def __init__(self, n_features: int, window: int, floor: float = DEFAULT_FLOOR, standardise: bool = True) -> None:
        super().__init__(n_features, window)
        self.floor, self.standardise = floor, standardise
        self.register_buffer("mean", torch.zeros(n_features))
        self.register_buffer("std", torch.ones(n_features))

    def fit_offline(self, train_series: list[np.ndarray]) -> None:
        series = self._check_series(train_series)
        if self.standardise:
            scaling = fit_scalers(series, "standard", "joint", self.floor)[0]
            self.use_statistics(scaling.shift, scaling.scale)
        self.fitted.fill_(True)

    def use_statistics(self, mean: np.ndarray, std: np.ndarray) -> None:
        """Score ``|x - mean| / std`` per channel (``(features,)`` each) without fitting."""
        self.mean.copy_(torch.as_tensor(mean, dtype=self.mean.dtype))
        self.std.copy_(torch.as_tensor(std, dtype=self.std.dtype))
        self.fitted.fill_(True)

    def feature_contributions(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """``|z|`` per step and channel, ``(B, W, F)``; ``score`` is its maximum over the scored channels."""
        self._require_fitted()
        return ((batch["x"] - self.mean) / self.std).abs()

    def combine(self, contributions: torch.Tensor) -> torch.Tensor:
        """The largest ``|z|`` of the scored channels."""
        return contributions.amax(-1)


@DETECTORS.register("pca")
class PCADetector(FittedDetector):
    """Reconstruction error of a PCA fit on training points or flattened training windows.

    Args:
        n_components: int: number of components; float in (0, 1): fraction of variance kept.
        on: ``"points"`` (each step's feature vector) or ``"windows"`` (whole windows flattened).
        max_windows: with ``on="windows"``, fit on at most this many training windows.
        seed: picks the windows (and seeds the randomized SVD solver).
    """

    def __init__(self, n_features: int, window: int, n_components: int | float = 0.95, on: str = "points", max_windows: int = 2000, seed: int = 0) -> None:
        super().__init__(n_features, window)
        if on not in ("points", "windows"):
            raise ConfigError(f"model.on='{on}' is unknown for pca; use 'points' or 'windows'.")
        is_fraction = isinstance(n_components, float) and 0.0 < n_components < 1.0
        if not (is_fraction or (isinstance(n_components, int) and n_components >= 1)):
            raise ConfigError(f"model.n_components={n_components!r}: give an int >= 1 or a variance fraction in (0, 1).")
        self.n_components, self.on, self.max_windows, self.seed = n_components, on, max_windows, seed
        dim = n_features * (window if on == "windows" else 1)
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("components", torch.zeros(0, dim))

    def fit_offline(self, train_series: list[np.ndarray]) -> None:
        series = self._check_series(train_series)
        samples = np.concatenate(series) if self.on == "points" else sample_windows(series, self.window, self.max_windows, self.seed)
        n_components = self.n_components if isinstance(self.n_components, float) else min(self.n_components, *samples.shape)
        pca = PCA(n_components=n_components, random_state=self.seed).fit(samples)
        self.mean = torch.as_tensor(pca.mean_, dtype=torch.float32, device=self.mean.device)
        self.components = torch.as_tensor(pca.components_, dtype=torch.float32, device=self.components.device)
        self.fitted.fill_(True)

    def feature_contributions(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Squared PCA residual per step and feature, ``(B, W, F)``; ``score`` is its mean over the scored features."""
        self._require_fitted()
        x = batch["x"]
        flat = x.reshape(x.shape[0], -1, self.mean.shape[0]) - self.mean  # (B, W or 1, D)
        residual = flat - (flat @ self.components.T) @ self.components
        return residual.pow(2).reshape(x.shape)


@DETECTORS.register("iforest")
class IsolationForestDetector(FittedDetector):
    """Isolation forest on flattened sub-windows; a step's score averages its sub-windows'.

    Its sub-windows flatten every feature, so it cannot score a subset of them
    (``evaluation.score_features=all``). The fitted forest is pickled into the module's extra state (a uint8 tensor), so it travels
    in ``state_dict()``. Loading unpickles it: only load checkpoints you trust.

    Args:
        sub_window: steps per sub-window (at most ``window``).
        n_estimators: trees in the forest.
        max_windows: fit on at most this many training sub-windows, drawn with ``seed``.
        seed: sub-window sampling and the forest's randomness.
    """

    scores_feature_subsets = False

    def __init__(self, n_features: int, window: int, sub_window: int = 10, n_estimators: int = 100, max_windows: int = 5000, seed: int = 0) -> None:
        super().__init__(n_features, window)
        if not 1 <= sub_window <= window:
            raise ConfigError(f"model.sub_window={sub_window} must be between 1 and the window ({window}).")
        self.sub_window, self.n_estimators, self.max_windows, self.seed = sub_window, n_estimators, max_windows, seed
        self.forest: IsolationForest | None = None

    def fit_offline(self, train_series: list[np.ndarray]) -> None:
        samples = sample_windows(self._check_series(train_series), self.sub_window, self.max_windows, self.seed)
        self.forest = IsolationForest(n_estimators=self.n_estimators, random_state=self.seed, n_jobs=1).fit(samples)
        self.fitted.fill_(True)

    def joint_score(self, batch: dict[str, torch.Tensor], features: list[int] | None) -> torch.Tensor:
        """``(B, W)`` from every feature (``features`` is None: ``check_features`` refuses subsets)."""
        self._require_fitted()
        x = batch["x"]
        batch_size, window, _ = x.shape
        subs = x.unfold(1, self.sub_window, 1).transpose(2, 3).reshape(-1, self.sub_window * self.n_features)
        # score_samples is higher for normal points; negate so higher means more anomalous.
        sub_scores = -self.forest.score_samples(subs.detach().float().cpu().numpy())
        sub_scores = torch.as_tensor(sub_scores, dtype=torch.float32, device=x.device).view(batch_size, -1)
        return spread_to_steps(sub_scores, self.sub_window)

    def get_extra_state(self) -> torch.Tensor:
        if self.forest is None:
            return torch.empty(0, dtype=torch.uint8)
        return torch.frombuffer(bytearray(pickle.dumps(self.forest)), dtype=torch.uint8)

    def set_extra_state(self, state: torch.Tensor) -> None:
        self.forest = pickle.loads(state.cpu().numpy().tobytes()) if state.numel() else None


@DETECTORS.register("dense_ae")
class DenseAutoencoder(Detector):
    """Dense autoencoder on flattened windows: ``window * features -> hidden -> bottleneck -> back``.

    Args:
        hidden: widths of the encoder's hidden layers (the decoder mirrors them).
        bottleneck: width of the code.
        dropout: after every hidden activation.
        loss: LOSSES config; default ``dict(type="mse")``.
    """

    def __init__(self, n_features: int, window: int, hidden: tuple[int, ...] | list[int] = (128, 32), bottleneck: int = 8, dropout: float = 0.1, loss: dict | None = None) -> None:
        super().__init__(loss or dict(type="mse"))
        widths = [window * n_features, *hidden, bottleneck]
        self.encoder = _mlp(widths, dropout)
        self.decoder = _mlp(widths[::-1], dropout)

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        x = batch["x"]
        return {"recon": self.decoder(self.encoder(x.flatten(1))).view_as(x)}

    def feature_contributions(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Squared reconstruction error per step and feature, ``(B, W, F)``; ``score`` is its mean over the scored features."""
        return reconstruction_residual(self(batch), batch).pow(2)


def _mlp(widths: list[int], dropout: float) -> nn.Sequential:
    """Linear layers through ``widths``, ReLU + dropout between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(widths[:-1], widths[1:])):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(widths) - 2:
            layers += [nn.ReLU(), nn.Dropout(dropout)]
    return nn.Sequential(*layers)
