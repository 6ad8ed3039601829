"""The released KambaAD protocol, applied to a finished run: per entity, the threshold that
maximises the point-adjusted F1 on the test labels (an ORACLE: it reads the test labels), and the
same oracle applied to uniform random scores on the same labels.

KambaAD's released code searches the threshold on the test labels for the best PA-F1, one
threshold per entity (REFERENCE.md); ``evaluation.protocol=legacy`` (a train+test anomaly ratio)
is the other papers' protocol. This tool reads ``scores.npz`` (``<entity>/scores``,
``<entity>/labels``) of one or more run folders and prints, per run, the mean over entities of the
oracle PA-F1 and of the random scores' oracle PA-F1 (seeded by the entity's name, ``--seeds``
draws each). Candidate thresholds: ``--grid`` quantiles of each entity's scores.

    python tools/oracle_pa.py runs/smd24/release/kambaad [more run folders] [--grid 200] [--seeds 3]
"""
from __future__ import annotations

import argparse
import sys
import zlib
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from metric.timeseries.pointwise import adjust_predictions, precision_recall_f1  # noqa: E402
from trainer.run_folder import RunFolder  # noqa: E402


def oracle_pa_f1(scores: np.ndarray, labels: np.ndarray, grid: int) -> float:
    """The largest point-adjusted F1 over ``grid`` quantile thresholds of ``scores`` (``score >= t``)."""
    thresholds = np.unique(np.quantile(scores, np.linspace(0.0, 1.0, grid)))
    return max(precision_recall_f1(labels, adjust_predictions(labels, scores >= t))[2] for t in thresholds)


def entity_series(run_dir: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{entity: (scores, labels)}`` of the run's test set, entities with an anomaly only."""
    series = {name: (scores.astype(np.float64), labels.astype(bool)) for name, (scores, labels) in RunFolder(run_dir).read_scores().items()}
    return {name: pair for name, pair in series.items() if pair[1].any()}


def random_scores(name: str, length: int, draw: int) -> np.ndarray:
    """Uniform scores seeded by the entity's name and the draw."""
    return np.random.default_rng([zlib.crc32(name.encode()), draw]).random(length)


def main(argv: list[str] | None = None) -> int:
    """Print one markdown row per run folder."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("runs", nargs="+", type=Path, help="run folders holding scores.npz")
    parser.add_argument("--grid", type=int, default=200, help="quantile thresholds tried per entity")
    parser.add_argument("--seeds", type=int, default=3, help="draws of the random scores")
    args = parser.parse_args(argv)
    print("| run | entities | oracle PA-F1, mean over entities | random, same oracle (mean over draws) |")
    print("|---|---|---|---|")
    for run_dir in args.runs:
        scores = RunFolder(run_dir).scores
        if not scores.is_file():
            print(f"error: {scores} not found; pass a finished run folder.", file=sys.stderr)
            return 1
        series = entity_series(run_dir)
        ours = np.mean([oracle_pa_f1(s, y, args.grid) for s, y in series.values()])
        rand = np.mean([oracle_pa_f1(random_scores(n, len(y), d), y, args.grid) for d in range(args.seeds) for n, (_, y) in series.items()])
        print(f"| {run_dir} | {len(series)} | {100 * ours:.1f} | {100 * rand:.1f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
