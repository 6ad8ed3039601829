"""Threshold rules (registry ``THRESHOLDS``): from anomaly scores to the score above which a point is anomalous.

Every rule is called as ``rule(val_scores, test_scores=None, train_scores=None, test_labels=None)``
and returns a float, or a ``(test time,)`` array of per-point thresholds. Its class attributes say
what it looks at, so the evaluator passes test data only to rules that declare it and reports it:
``uses_val_scores`` (a run without a validation split cannot use it), ``uses_test_scores``,
``uses_test_labels`` (an ORACLE) and ``legacy`` (a published but optimistic protocol).

- ``percentile(q=99.0)`` (default, honest): the q-th percentile of the validation scores.
- ``anomaly_ratio(ratio=1.0)`` (legacy): the (100 - ratio)-th percentile of the training and
  test scores together (Anomaly Transformer / DCdetector protocol).
- ``pot(q=1e-3, level=0.98)``: Peaks-Over-Threshold (Siffer et al., KDD 2017) on the validation
  scores: a generalised Pareto distribution is fitted by maximum likelihood
  (``scipy.stats.genpareto``, location 0) to the excesses over their ``level`` quantile t, and the
  threshold is the score exceeded with probability q: ``z_q = t + s/g ((q n / N_t)^-g - 1)``.
- ``spot(q=1e-3, level=0.98, per_point=True)``: streaming POT over the test scores (in order,
  no labels), initialised by ``pot`` on the validation scores; a test score above the current z_q
  is an alarm and leaves the model unchanged, a score between t and z_q is added to the excesses
  and the GPD is refitted. Returns the threshold in force at each test point, ``(test time,)``,
  or with ``per_point=False`` the final threshold (one float, applied to every point afterwards).
  Both pot and spot need at least ``MIN_EXCESSES`` validation scores above the ``level`` quantile.
- ``best_f1()``: ORACLE, the threshold that maximises point-wise F1 on the test labels.
"""
from __future__ import annotations

import warnings

import numpy as np
from scipy.stats import genpareto

from util.errors import ConfigError, DataError
from util.registry import THRESHOLDS

MIN_EXCESSES = 10


def _finite_scores(scores: np.ndarray | None, name: str, rule: str) -> np.ndarray:
    if scores is None or not len(scores):
        raise DataError(
            f"Threshold rule '{rule}' needs {name}, but there are none"
            + (" (set data.val_fraction > 0 or choose another evaluation.threshold rule)." if name == "validation scores" else ".")
        )
    scores = np.asarray(scores, dtype=np.float64).ravel()
    if not np.isfinite(scores).all():
        raise DataError(f"Threshold rule '{rule}': {name} contain NaN/inf values.")
    return scores


class ThresholdRule:
    """Base of the threshold rules: what each one looks at (see module docstring)."""

    uses_val_scores = True
    uses_test_scores = False
    uses_test_labels = False
    legacy = False

    def __call__(self, val_scores: np.ndarray | None, test_scores: np.ndarray | None = None, train_scores: np.ndarray | None = None, test_labels: np.ndarray | None = None) -> float | np.ndarray:
        raise NotImplementedError


@THRESHOLDS.register("percentile")
class Percentile(ThresholdRule):
    """The ``q``-th percentile of the validation scores."""

    def __init__(self, q: float = 99.0) -> None:
        if not 0 <= q <= 100:
            raise DataError(f"threshold q={q} must lie in [0, 100].")
        self.q = q

    def __call__(self, val_scores: np.ndarray | None, test_scores: np.ndarray | None = None, train_scores: np.ndarray | None = None, test_labels: np.ndarray | None = None) -> float:
        return float(np.percentile(_finite_scores(val_scores, "validation scores", "percentile"), self.q))


@THRESHOLDS.register("anomaly_ratio")
class AnomalyRatio(ThresholdRule):
    """LEGACY: the (100 - ``ratio``)-th percentile of the training and test scores together."""

    uses_val_scores = False
    uses_test_scores = True
    legacy = True

    def __init__(self, ratio: float = 1.0) -> None:
        if not 0 <= ratio <= 100:
            raise DataError(f"threshold ratio={ratio} must lie in [0, 100] (percent of points flagged).")
        self.ratio = ratio

    def __call__(self, val_scores: np.ndarray | None, test_scores: np.ndarray | None = None, train_scores: np.ndarray | None = None, test_labels: np.ndarray | None = None) -> float:
        test = _finite_scores(test_scores, "test scores", "anomaly_ratio")
        pooled = test if train_scores is None or not len(train_scores) else np.concatenate((_finite_scores(train_scores, "training scores", "anomaly_ratio"), test))
        return float(np.percentile(pooled, 100 - self.ratio))


def _gpd_quantile(excesses: np.ndarray, initial: float, n_seen: int, q: float) -> float:
    """z_q of the GPD fitted by MLE to ``excesses`` over ``initial`` after ``n_seen`` observations."""
    if np.ptp(excesses) == 0:
        return initial + float(excesses[0])  # degenerate tail: every excess equal
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        shape, _, scale = genpareto.fit(excesses, floc=0)
    ratio = q * n_seen / len(excesses)
    if abs(shape) < 1e-8:
        return float(initial - scale * np.log(ratio))
    return float(initial + scale / shape * (ratio ** (-shape) - 1))


class _PeaksOverThreshold(ThresholdRule):
    def __init__(self, q: float = 1e-3, level: float = 0.98) -> None:
        if not 0 < q < 1 or not 0 < level < 1:
            raise ConfigError(
                f"POT needs 0 < q < 1 and 0 < level < 1, got q={q}, level={level}. q is a tail probability such as 0.001, "
                "not a percentile: set evaluation.threshold.q=0.001 (switching evaluation.threshold.type from percentile keeps its q=99)."
            )
        self.q, self.level = q, level

    def _initialise(self, val_scores: np.ndarray | None, rule: str) -> tuple[float, np.ndarray, int]:
        """(initial threshold t, excesses over t, number of scores) of the validation scores."""
        scores = _finite_scores(val_scores, "validation scores", rule)
        initial = float(np.quantile(scores, self.level))
        excesses = scores[scores > initial] - initial
        if len(excesses) < MIN_EXCESSES:
            raise DataError(
                f"Threshold rule '{rule}' found {len(excesses)} validation scores above their {self.level} quantile "
                f"(needs {MIN_EXCESSES}); lower 'level', use more validation data or use 'percentile'."
            )
        return initial, excesses, len(scores)


@THRESHOLDS.register("pot")
class PeaksOverThreshold(_PeaksOverThreshold):
    """POT (Siffer et al., KDD 2017) on the validation scores: GPD tail quantile at probability ``q``."""

    def __call__(self, val_scores: np.ndarray | None, test_scores: np.ndarray | None = None, train_scores: np.ndarray | None = None, test_labels: np.ndarray | None = None) -> float:
        initial, excesses, n_seen = self._initialise(val_scores, "pot")
        return _gpd_quantile(excesses, initial, n_seen, self.q)


@THRESHOLDS.register("spot")
class StreamingPeaksOverThreshold(_PeaksOverThreshold):
    """SPOT: POT initialised on validation scores, updated along the test scores (no labels)."""

    uses_test_scores = True

    def __init__(self, q: float = 1e-3, level: float = 0.98, per_point: bool = True) -> None:
        super().__init__(q, level)
        self.per_point = per_point

    def __call__(self, val_scores: np.ndarray | None, test_scores: np.ndarray | None = None, train_scores: np.ndarray | None = None, test_labels: np.ndarray | None = None) -> np.ndarray | float:
        initial, excesses, n_seen = self._initialise(val_scores, "spot")
        test = _finite_scores(test_scores, "test scores", "spot")
        peaks = list(excesses)
        current = _gpd_quantile(excesses, initial, n_seen, self.q)
        out = np.empty(len(test))
        for i, score in enumerate(test):
            out[i] = current
            if score > current:
                continue  # an alarm: not part of the normal tail
            n_seen += 1
            if score > initial:
                peaks.append(score - initial)
                current = _gpd_quantile(np.asarray(peaks), initial, n_seen, self.q)
        return out if self.per_point else float(current)


@THRESHOLDS.register("best_f1")
class BestF1(ThresholdRule):
    """ORACLE: the test score whose threshold (``score >= t``) maximises point-wise F1 on the test labels."""

    uses_val_scores = False
    uses_test_scores = True
    uses_test_labels = True

    def __call__(self, val_scores: np.ndarray | None, test_scores: np.ndarray | None = None, train_scores: np.ndarray | None = None, test_labels: np.ndarray | None = None) -> float:
        scores = _finite_scores(test_scores, "test scores", "best_f1")
        if test_labels is None or len(test_labels) != len(scores):
            raise DataError("Threshold rule 'best_f1' (oracle) needs test labels as long as the test scores.")
        labels = np.asarray(test_labels).astype(bool)
        if not labels.any():
            raise DataError("Threshold rule 'best_f1' (oracle) needs at least one anomalous test point.")
        order = np.argsort(-scores, kind="stable")
        descending = scores[order]
        true_positives = np.cumsum(labels[order])
        last_of_tie = np.flatnonzero(np.r_[descending[1:] != descending[:-1], True])  # thresholds at distinct scores
        n_pred = last_of_tie + 1
        f1 = 2 * true_positives[last_of_tie] / (n_pred + labels.sum())
        return float(descending[last_of_tie[np.argmax(f1)]])
