"""Figures written to run folders (matplotlib, no display needed)."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np


def _shade_labels(ax: plt.Axes, labels: np.ndarray, first_step: int = 0) -> None:
    """Shade the runs of true ``labels``, whose first value is at step ``first_step``."""
    edges = np.diff(np.concatenate([[0], labels.astype(int), [0]]))
    for start, end in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)):
        ax.axvspan(first_step + start, first_step + end, color="tab:red", alpha=0.2, lw=0)


def plot_scores(
    path: Path,
    series: np.ndarray,
    labels: np.ndarray,
    scores: np.ndarray,
    threshold: float | np.ndarray,
    title: str,
    max_channels: int = 4,
) -> None:
    """Series (first channels), true anomalies shaded, scores and the threshold, as in the papers' figures."""
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(12, 5), sharex=True, gridspec_kw={"height_ratios": [2, 1]})
    steps = np.arange(len(scores))
    for c in range(min(series.shape[1], max_channels)):
        top.plot(steps, series[:, c], lw=0.6, label=f"ch {c}")
    _shade_labels(top, labels)
    top.set_title(title)
    top.set_ylabel("scaled value")
    top.legend(loc="upper right", fontsize=7, ncol=max_channels)
    bottom.plot(steps, scores, lw=0.6, color="black", label="score")
    bottom.plot(steps, np.broadcast_to(threshold, scores.shape), color="tab:orange", lw=1, ls="--", label="threshold")
    _shade_labels(bottom, labels)
    bottom.set_xlabel("test step")
    bottom.set_ylabel("anomaly score")
    bottom.legend(loc="upper right", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_top_features(
    path: Path,
    contributions: np.ndarray,
    scores: np.ndarray,
    threshold: float,
    segment: tuple[int, int],
    names: list[str],
    title: str,
    first_step: int = 0,
    top_k: int = 5,
) -> list[int]:
    """Which sensor: the score and threshold (top) and the contributions of the ``top_k`` features
    with the largest mean contribution inside ``segment`` (bottom), the segment shaded.

    ``contributions`` ``(T, F)`` and ``scores`` ``(T,)`` cover steps ``first_step`` onwards;
    ``segment`` is ``(start, end)``, end exclusive, in the same steps. Returns the top features'
    indices, largest first.
    """
    inside = slice(segment[0] - first_step, segment[1] - first_step)
    top = np.argsort(-contributions[inside].mean(0), kind="stable")[:top_k]
    shaded = np.zeros(len(scores), dtype=bool)
    shaded[inside] = True
    steps = first_step + np.arange(len(scores))
    fig, (upper, lower) = plt.subplots(2, 1, figsize=(12, 5), sharex=True, gridspec_kw={"height_ratios": [1, 2]})
    upper.plot(steps, scores, lw=0.8, color="black", label="score")
    upper.axhline(threshold, color="tab:orange", lw=1, ls="--", label="threshold")
    upper.set_title(title)
    upper.set_ylabel("anomaly score")
    upper.legend(loc="upper right", fontsize=7)
    for f in top:
        lower.plot(steps, contributions[:, f], lw=0.8, label=names[f])
    for ax in (upper, lower):
        _shade_labels(ax, shaded, first_step)
    lower.set_xlabel("step")
    lower.set_ylabel("contribution to the score")
    lower.legend(loc="upper right", fontsize=7, ncol=min(len(top), 5))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return [int(f) for f in top]
