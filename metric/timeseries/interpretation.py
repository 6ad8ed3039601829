"""Which sensor, not only when: OmniAnomaly's interpretation score, HitRate@P%.

Su et al., "Robust Anomaly Detection for Multivariate Time Series through Stochastic Recurrent
Neural Network", KDD 2019 (NetManAIOps/OmniAnomaly), rank the dimensions of an anomalous step by
how much each contributes to its anomaly score and compare the top of that ranking with the
dimensions the publishers marked as the cause (SMD's ``interpretation_label``).

Definition implemented here, for one labelled segment with ground-truth dimensions ``G`` and
every step ``t`` in it:

    k_t       = min(floor(P / 100 * |G|), F)                (F: number of features)
    hit_t     = |top_k(contributions[t]) ∩ G| / |G|
    HitRate@P = mean of hit_t over every (segment, step) pair

``floor`` is the paper's (and its authors' InterFusion code takes ``int()`` of the same product).
Ties: the contributions at the cut (the k-th largest value) may be shared by several dimensions;
instead of an arbitrary tie-break (which would favour low or high indices), ``hit_t`` counts the
expected hits under a uniformly random order of the tied dimensions: every dimension strictly
above the cut, plus the free slots times the share of ``G`` among the tied ones. Averaging: over
steps, not segments, so a long segment weighs more than a short one (as in the paper, which
averages over anomalous points); a step inside two nested segments is scored once against each.
The paper averages over *detected* anomalous points; here every labelled step counts, which
does not depend on a threshold.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

PERCENTS = (100, 150)
Segment = tuple[int, int, Sequence[int]]  # (start, end, dims): steps start (inclusive) to end (exclusive), 0-based feature indices


def hit_rates(contributions: np.ndarray, dims: Sequence[int], percent: int) -> np.ndarray:
    """``(T,)`` hit_t of every row of ``contributions`` ``(T, F)`` against ``dims`` (see module docstring)."""
    values = np.asarray(contributions, dtype=np.float64)
    truth = np.zeros(values.shape[1], dtype=bool)
    truth[list(dims)] = True
    k = min(percent * int(truth.sum()) // 100, values.shape[1])
    if k == 0:
        return np.zeros(len(values))
    cut = -np.partition(-values, k - 1, axis=1)[:, k - 1 : k]  # (T, 1): the k-th largest value
    above, tied = values > cut, values == cut
    free = k - above.sum(1)  # slots of the top k left to the tied dimensions
    hits = (above & truth).sum(1) + free * (tied & truth).sum(1) / tied.sum(1)
    return hits / truth.sum()


def hitrate(contributions: np.ndarray, segments: Sequence[Segment], percents: Sequence[int] = PERCENTS) -> dict[str, float | int]:
    """HitRate@P% of per-step, per-feature ``contributions`` ``(T, F)`` (higher = more anomalous)
    over the labelled ``segments`` (``(start, end, dims)``: steps ``start:end``, distinct 0-based dims); ``{"hitrate@100": ..., "hitrate@150": ..., "steps": n, "segments": m}``.

    ``steps`` counts (segment, step) pairs; with none, every rate is NaN. A segment outside
    ``[0, T)``, an empty one, a dimension outside ``[0, F)`` or a non-finite contribution is an error.
    """
    values = np.asarray(contributions)
    if values.ndim != 2:
        raise ValueError(f"contributions must be (time, features), got shape {values.shape}")
    if not np.isfinite(values).all():
        raise ValueError("contributions hold NaN or inf; HitRate needs a finite value per step and feature")
    length, n_features = values.shape
    for start, end, dims in segments:
        if not 0 <= start < end <= length:
            raise ValueError(f"segment {start}-{end} is not inside the series of {length} steps")
        if not len(dims) or min(dims) < 0 or max(dims) >= n_features or len(set(dims)) != len(dims):
            raise ValueError(f"segment {start}-{end}: dimensions {list(dims)} are not distinct indices into {n_features} features")
    steps = sum(end - start for start, end, _ in segments)
    out: dict[str, float | int] = {}
    for percent in percents:
        total = sum(hit_rates(values[start:end], dims, percent).sum() for start, end, dims in segments)
        out[f"hitrate@{percent}"] = float(total / steps) if steps else float("nan")
    return {**out, "steps": steps, "segments": len(segments)}


def random_hitrate(segments: Sequence[Segment], n_features: int, percents: Sequence[int] = PERCENTS) -> dict[str, float]:
    """HitRate@P% expected from contributions that rank the features uniformly at random:
    each step's expected hit_t is ``k_t / F``, averaged as ``hitrate`` averages."""
    steps = sum(end - start for start, end, _ in segments)
    out = {}
    for percent in percents:
        total = sum((end - start) * min(percent * len(dims) // 100, n_features) / n_features for start, end, dims in segments)
        out[f"hitrate@{percent}"] = total / steps if steps else float("nan")
    return out


__all__ = ["PERCENTS", "Segment", "hit_rates", "hitrate", "random_hitrate"]
