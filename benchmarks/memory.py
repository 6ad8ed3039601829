"""Peak memory of the time-series data pipeline: windows are views, so memory does not grow with
the number of windows. Prints a markdown table.

    python benchmarks/memory.py            # SMD-sized: 28 entities, 708,405 train + 708,420 test steps x 38
    python benchmarks/memory.py --quick    # 20,000 + 20,000 steps, two settings (seconds)

Each row runs in its own process (see benchmarks/common.py): it builds SMD-sized random series
(the raw arrays a loader would return), then measures the peak resident memory of
``TimeSeriesData.from_source`` (validation, scaling, train/validation split) plus a pass over the training loader
(window ``W``, stride ``S``; ``--max-batches`` batches, 0 for the whole epoch) and over every test
series, as the trainer and evaluator iterate them. "Materialised" is what stacking every training window would take.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import PeakMemory, add_common_arguments, apply_threads, isolated, machine_line, markdown_table, peak_rss_mb, select_device
from data.timeseries.base import TimeSeriesData, TimeSeriesSource
from data.timeseries.entity import Entity

# SMD: 28 machines, 38 metrics, 708,405 training and 708,420 test steps in total.
SMD_SHAPE = dict(train_points=708_405, test_points=708_420, n_features=38, n_entities=28)


class InMemorySource(TimeSeriesSource):
    """A source whose ``read()`` returns entities already in memory (the benchmark's raw data)."""

    def __init__(self, entities: list[Entity], **common) -> None:
        super().__init__(**common)
        self.entities = entities

    def read(self) -> list[Entity]:
        return self.entities


def make_entities(train_points: int, test_points: int, n_features: int, n_entities: int, seed: int = 0) -> list[Entity]:
    """``n_entities`` float32 series (sines plus noise) whose lengths sum to the given totals."""
    rng = np.random.default_rng(seed)
    out = []
    for k, (n_train, n_test) in enumerate(zip(np.array_split(np.arange(train_points), n_entities), np.array_split(np.arange(test_points), n_entities))):
        def series(length: int) -> np.ndarray:
            t = np.arange(length, dtype=np.float32)[:, None]
            periods = rng.uniform(20, 200, n_features).astype(np.float32)
            return np.sin(2 * np.pi * t / periods) + 0.1 * rng.standard_normal((length, n_features), dtype=np.float32)

        labels = (rng.random(len(n_test)) < 0.01).astype(np.int64)
        out.append(Entity(f"machine-{k}", series(len(n_train)), series(len(n_test)), labels))
    return out


def measure(shape: dict, window: int, stride: int, batch_size: int, max_batches: int, threads: int | None) -> dict:
    """Peak memory of preparing ``shape``-sized data, iterating its training loader (all of it, or
    ``max_batches`` batches when non-zero) and every test loader once."""
    apply_threads(threads)
    entities = make_entities(**shape)
    raw_mb = sum(e.train.nbytes + e.test.nbytes + e.test_labels.nbytes for e in entities) / 2**20
    meter = PeakMemory(select_device("cpu"))
    meter.start()
    data = TimeSeriesData.from_source(InMemorySource(entities, window=window, train_stride=stride, batch_size=batch_size))
    start = time.perf_counter()
    n_windows = 0
    loader = data.train_loader(seed=0)
    for step, batch in enumerate(loader):
        if max_batches and step == max_batches:
            break
        n_windows += batch["x"].shape[0]
    train_seconds = time.perf_counter() - start
    for entity in data.entities:
        for _ in data.series_loader(entity.test):
            pass
    points = sum(len(e.train) for e in data.entities)
    return {
        "windows": len(loader.dataset),
        "iterated": n_windows,
        "train_points": points,
        "raw_mb": raw_mb,
        "pipeline_mb": meter.peak_mb(),
        "process_peak_mb": peak_rss_mb(),
        "materialised_gb": len(loader.dataset) * window * shape["n_features"] * 4 / 2**30,
        "windows_per_s": n_windows / train_seconds,
    }


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_arguments(parser)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-batches", type=int, default=3000, help="training batches iterated per row (0: the whole epoch)")
    parser.add_argument("--target-gb", type=float, default=1.5, help="the issue's target for the process peak")
    args = parser.parse_args(argv)
    apply_threads(args.threads)
    if args.quick:
        shape = dict(train_points=20_000, test_points=20_000, n_features=38, n_entities=4)
        settings = [(100, 1), (100, 100)]
    else:
        shape = SMD_SHAPE
        settings = [(100, 1), (100, 100), (400, 1)]
    rows = []
    for window, stride in settings:
        r = isolated(measure, shape, window, stride, args.batch_size, args.max_batches, args.threads)
        rows.append([
            window, stride, f"{r['windows']:,}", f"{r['raw_mb']:.0f}", f"{r['pipeline_mb']:.0f}",
            f"{r['process_peak_mb']:.0f}", "yes" if r["process_peak_mb"] < args.target_gb * 1024 else "NO",
            f"{r['materialised_gb']:.1f}", f"{r['iterated']:,}", f"{r['windows_per_s']:,.0f}",
        ])
        print(f"window {window} stride {stride}: {r}", file=sys.stderr, flush=True)
    table = "\n".join([
        f"### Data pipeline memory: {shape['n_entities']} entities, {shape['train_points']:,} train + "
        f"{shape['test_points']:,} test steps x {shape['n_features']} channels, batch {args.batch_size}",
        "",
        machine_line(select_device("cpu")),
        "",
        markdown_table(
            ["window", "train stride", "train windows", "raw arrays MB", "pipeline peak MB (above raw)",
             "process peak RSS MB", f"< {args.target_gb} GB", "materialised windows GB", "windows iterated", "loader windows/s"],
            rows,
        ),
    ])
    print(table)
    return table


if __name__ == "__main__":
    main()
