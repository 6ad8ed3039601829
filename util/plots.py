"""Figures written to run folders (matplotlib, no display needed)."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def _shade_labels(ax: plt.Axes, labels: np.ndarray) -> None:
    edges = np.diff(np.concatenate([[0], labels.astype(int), [0]]))
    for start, end in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)):
        ax.axvspan(start, end, color="tab:red", alpha=0.2, lw=0)


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
