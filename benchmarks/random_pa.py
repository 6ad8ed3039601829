"""Why point-adjusted F1 misleads: a uniform random score on the real SMAP/MSL labels.

Every channel of ``labeled_anomalies.csv`` gets uniform random scores (seeded) over its test
length (read from the shape of ``test/<chan>.npy`` without loading it), thresholded at their own
90th percentile (10% flagged); the table gives the mean over channels per spacecraft of F1, PA-F1, affiliation
F1, VUS-PR and AUC-PR. A detector must beat these numbers to have learnt anything. It then times
VUS (window 100, 250 thresholds) on 100k points.

``--band N`` adds the random band of the concatenated test set (the channels ``run.py`` scores
for SMAP/MSL, in its order): VUS-PR, AUC-PR and AUC-ROC of N seeds of uniform random
scores, mean +- std and the largest. A detector's concatenated score inside the band has not been
shown to beat random.

    python benchmarks/random_pa.py [--root ../shared/data/SMAP_MSL] [--seed 0] [--q 90] [--band 20]
"""
from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from data.timeseries.smap_msl import SPACECRAFT, SmapMsl, sequence_labels
from metric.timeseries import METRICS, aggregate, compute_metrics
from metric.timeseries.vus import range_auc_and_vus

REPO = Path(__file__).resolve().parents[1]
COLUMNS = METRICS.pick("f1", "pa_f1", "affiliation_f1", "vus_pr", "auc_pr")
BAND = METRICS.pick("vus_pr", "auc_pr", "auc_roc")


def channel_labels(root: Path) -> dict[str, tuple[str, np.ndarray]]:
    """Per channel: (spacecraft, test labels (time,) int) from the telemanom label file (inclusive ranges).

    A channel listed twice (SMAP P-2) keeps the union of its rows' sequences.
    """
    rows: dict[str, list[dict]] = {}
    with open(root / "labeled_anomalies.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            rows.setdefault(row["chan_id"], []).append(row)
    out = {}
    for chan, chan_rows in rows.items():
        test_file = root / "test" / f"{chan}.npy"
        if test_file.is_file():
            length = np.load(test_file, mmap_mode="r").shape[0]
            sequences = [r["anomaly_sequences"] for r in chan_rows]
            out[chan] = (chan_rows[0]["spacecraft"], sequence_labels(sequences, length, f"{root / 'labeled_anomalies.csv'}, channel {chan}"))
    return out


def random_baseline(root: Path, seed: int, q: float) -> dict[str, dict[str, float]]:
    """Mean metrics over channels per spacecraft for uniform random scores thresholded at their q-th percentile."""
    rng = np.random.default_rng(seed)
    per_craft: dict[str, dict[str, dict]] = {}
    for chan, (craft, labels) in sorted(channel_labels(root).items()):
        scores = rng.random(len(labels))
        per_craft.setdefault(craft, {})[chan] = compute_metrics(labels, scores, threshold=np.percentile(scores, q))
    return {craft: {**aggregate(chans), "channels": len(chans)} for craft, chans in per_craft.items()}


def random_band(root: Path, seeds: int) -> dict[str, tuple[int, dict[str, np.ndarray]]]:
    """Per spacecraft: (test points, the ``BAND`` metrics of ``seeds`` uniform random scorings of the concatenated test set).

    The channels are those ``run.py`` scores for ``entities="all"`` (the loader's own choice), in its order.
    """
    band = {}
    for craft in SPACECRAFT:
        labels = np.concatenate([e.test_labels for e in SmapMsl(root=str(root), spacecraft=craft).read()])
        scorings = (np.random.default_rng(seed).random(len(labels)) for seed in range(seeds))
        runs = [compute_metrics(labels, scores, threshold=1.0) for scores in scorings]  # the threshold only feeds metrics not kept
        band[craft] = (len(labels), {m.key: np.array([run[m.key] for run in runs]) for m in BAND})
    return band


def vus_seconds(length: int = 100_000, repeats: int = 3) -> float:
    """Best of ``repeats`` wall-clock seconds of VUS-ROC/PR (window 100) on random data of ``length`` points."""
    rng = np.random.default_rng(0)
    labels = np.zeros(length, dtype=bool)
    for start in rng.integers(0, length - 500, 40):
        labels[start : start + rng.integers(10, 500)] = True
    scores = rng.random(length)
    timings = []
    for _ in range(repeats):
        begin = time.perf_counter()
        range_auc_and_vus(labels, scores, 100)
        timings.append(time.perf_counter() - begin)
    return min(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=REPO.parent / "shared" / "data" / "SMAP_MSL")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--q", type=float, default=90.0, help="percentile of the random scores used as threshold")
    parser.add_argument("--band", type=int, default=0, metavar="N", help="also the random band of the concatenated test sets over N seeds")
    args = parser.parse_args()
    results = random_baseline(args.root, args.seed, args.q)
    print(f"Uniform random scores (seed {args.seed}), threshold at their {args.q:g}th percentile; mean over channels, %\n")
    print("| spacecraft | channels | " + " | ".join(m.label for m in COLUMNS) + " |")
    print("|---" * (len(COLUMNS) + 2) + "|")
    for craft, metrics in sorted(results.items()):
        print(f"| {craft} | {metrics['channels']} | " + " | ".join(f"{100 * metrics[m.key]:.1f}" for m in COLUMNS) + " |")
    if args.band:
        print(f"\nRandom band of the concatenated test set, {args.band} seeds of uniform random scores: mean +- std (largest), %\n")
        print("| spacecraft | points | " + " | ".join(m.label for m in BAND) + " |")
        print("|---" * (len(BAND) + 2) + "|")
        for craft, (points, values) in random_band(args.root, args.band).items():
            cells = [f"{100 * v.mean():.2f} +- {100 * v.std(ddof=1) if len(v) > 1 else 0.0:.2f} ({100 * v.max():.2f})" for v in (values[m.key] for m in BAND)]
            print(f"| {craft} | {points:,} | " + " | ".join(cells) + " |")
    print(f"\nVUS-ROC/PR (window 100, 250 thresholds) on 100k points: {vus_seconds():.2f} s (best of 3, one process)")


if __name__ == "__main__":
    main()
