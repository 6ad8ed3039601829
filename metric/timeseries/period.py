"""The dominant period of a series, as TSB-AD 1.5 chooses each file's VUS/Range-AUC buffer.

TSB-AD (``find_length_rank(data[:, 0], rank=1)``) sets the buffer of its metrics per series:

1. take the first ``MAX_POINTS`` (20,000) points of the series (its first feature);
2. autocorrelation at lags 0..``MAX_LAG`` (400; fewer when the series is shorter): the biased
   estimator, mean removed, normalised by the lag-0 value;
3. drop lags 0, 1 and 2 and find the strict local maxima of what remains (a lag whose value
   is greater than both neighbours; the first and last remaining lags never count);
4. the period is the lag of the highest local maximum, unless there is none, or the lag lies
   outside 6..303, or the series is constant: then ``FALLBACK`` (125).

``evaluation.vus_window=period`` uses it (``trainer.ts_evaluator``).
"""
from __future__ import annotations

import numpy as np

MAX_POINTS = 20_000
MAX_LAG = 400
SKIPPED_LAGS = 3
SHORTEST, LONGEST = 6, 303  # TSB-AD keeps a local maximum at index 3..300 of the lags from 3 on
FALLBACK = 125


def autocorrelation(series: np.ndarray, max_lag: int) -> np.ndarray:
    """``(min(max_lag, T - 1) + 1,)`` biased autocorrelation of a ``(T,)`` series (NaN if constant)."""
    centred = np.asarray(series, dtype=np.float64) - np.mean(series)
    n = len(centred)
    size = 1 << int(np.ceil(np.log2(2 * n - 1))) if n > 1 else 1  # zero padding: no circular wrap-around
    spectrum = np.fft.rfft(centred, size)
    covariance = np.fft.irfft(spectrum * np.conj(spectrum), size)[: min(max_lag, n - 1) + 1] / n
    with np.errstate(invalid="ignore", divide="ignore"):
        return covariance / covariance[0]


def dominant_period(series: np.ndarray) -> int:
    """TSB-AD's sliding window of a ``(T,)`` or ``(T, F)`` series (first feature); see module docstring."""
    values = np.asarray(series, dtype=np.float64)
    values = values[:, 0] if values.ndim == 2 else values
    correlation = autocorrelation(values[:MAX_POINTS], MAX_LAG)[SKIPPED_LAGS:]
    if len(correlation) < 3 or not np.isfinite(correlation).all():
        return FALLBACK
    inner = correlation[1:-1]
    peaks = np.flatnonzero((inner > correlation[:-2]) & (inner > correlation[2:])) + 1
    if not len(peaks):
        return FALLBACK
    lag = int(peaks[np.argmax(correlation[peaks])]) + SKIPPED_LAGS
    return lag if SHORTEST <= lag <= LONGEST else FALLBACK
