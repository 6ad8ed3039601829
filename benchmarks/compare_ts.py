"""KambaAD, MAAT, Anomaly Transformer and DCdetector on the same data with the same protocol:
one markdown table of honest metrics, legacy PA-F1, size, FLOPs, training time and peak memory.

    python benchmarks/compare_ts.py --data smap                       # the four SMAP configs, as configured
    python benchmarks/compare_ts.py --data msl --epochs 1 --max-points 2000 --max-steps 200
    python benchmarks/compare_ts.py --quick                           # synthetic, tiny, a few steps (smoke test)
    python benchmarks/compare_ts.py --configs configs/kambaad/kambaad_smap.py configs/baselines/zscore_smap.py

Each config is trained and evaluated by the real pipeline (``trainer.runner.run(config, "train",
overrides)``, the same code as ``python run.py -m train``) in its own process, into
``<--work-dir>/<config name>``. Training seconds per epoch are read from the run's log records
(from the parameter count to the last "epoch" line, divided by the epochs run; validation and
checkpoint writing included). Peak memory: the process's peak resident memory on CPU, or
``torch.cuda.max_memory_allocated`` on CUDA. Metrics are the evaluator's (threshold from
validation scores under ``evaluation.protocol=honest``); values in %.
"""
from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import REPO_ROOT, isolated, machine_line, markdown_table, peak_rss_mb, select_device, smap_root
from metric.timeseries import METRICS, SUMMARY_KEYS
from trainer.runner import config_name, run
from util.logging import LOGGER_NAME

DETECTORS_COMPARED = ("kambaad", "maat", "anomaly_transformer", "dcdetector")
COLUMNS = METRICS.pick(*SUMMARY_KEYS)
QUICK_OVERRIDES = [
    "data.train_length=400", "data.test_length=400", "data.window=20", "data.batch_size=16",
    "model.d_model=16", "model.e_layers=1", "trainer.epochs=1", "trainer.max_steps=3",
]
QUICK_SIZES = {"anomaly_transformer": ["model.d_ff=16", "model.n_heads=2"], "maat": ["model.d_ff=16", "model.n_heads=2"], "dcdetector": ["model.patch_sizes=[5]", "model.n_heads=1"], "kambaad": []}


class EpochClock(logging.Filter):
    """Notes when the run's log says the detector is built and when each epoch ends.

    A logger filter (not a handler): ``setup_logger`` replaces the handlers during a run.
    """

    def __init__(self) -> None:
        super().__init__()
        self.start: float | None = None
        self.epoch_ends: list[float] = []

    def filter(self, record: logging.LogRecord) -> bool:
        message = str(record.msg)
        if message.startswith("parameters:"):
            self.start, self.epoch_ends = record.created, []
        elif message.startswith("epoch ") and self.start is not None:
            self.epoch_ends.append(record.created)
        return True

    def seconds_per_epoch(self) -> float | None:
        if self.start is None or not self.epoch_ends:
            return None
        return (self.epoch_ends[-1] - self.start) / len(self.epoch_ends)


def train_and_evaluate(config: str, overrides: list[str], device: torch.device) -> dict:
    """Run the training pipeline on ``config``; metrics, size, seconds per epoch and peak memory (run it isolated)."""
    clock = EpochClock()
    logging.getLogger(LOGGER_NAME).addFilter(clock)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    results = run(config, "train", overrides)
    peak = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else peak_rss_mb()
    return {
        "metrics": results["metrics"], "parameters": results.get("parameters"), "flops_per_window": results.get("flops_per_window"),
        "seconds_per_epoch": clock.seconds_per_epoch(), "epochs": len(clock.epoch_ends), "peak_mb": peak,
        "data": results["dataset"]["description"],
    }


def default_configs(data: str) -> list[str]:
    """``configs/<detector>/<detector>_<data>.py`` for the four detectors, where present."""
    paths = [REPO_ROOT / "configs" / d / f"{d}_{data}.py" for d in DETECTORS_COMPARED]
    return [str(p) for p in paths if p.is_file()]


def run_overrides(args: argparse.Namespace, config: str, work_dir: Path) -> list[str]:
    """Overrides shared by every config of the comparison, then the config's own quick sizes."""
    out = [f"work_dir={work_dir / config_name(config)}", "trainer.progress=false", "evaluation.plots=false", f"device={args.device}"]
    if not args.baselines:
        out.append("evaluation.baselines=false")
    if args.data in ("smap", "msl") and smap_root() is not None:
        out.append(f"data.root={smap_root()}")
    if args.quick:
        out += QUICK_OVERRIDES + next((v for k, v in QUICK_SIZES.items() if Path(config).stem.startswith(k)), [])
    for key, value in (("num_threads", args.threads), ("trainer.epochs", args.epochs), ("data.max_points", args.max_points), ("trainer.max_steps", args.max_steps)):
        if value is not None:
            out.append(f"{key}={value}")
    return out + args.overrides


def _fmt(value: float | None, scale: float = 100.0, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value * scale:.{digits}f}"


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="synthetic data, tiny models, 3 steps (smoke test)")
    parser.add_argument("--data", default="synthetic", choices=["smap", "msl", "synthetic"], help="selects configs/<detector>/<detector>_<data>.py")
    parser.add_argument("--configs", nargs="+", default=None, help="config files to compare instead of the four defaults")
    parser.add_argument("--epochs", type=int, default=None, help="trainer.epochs for every config")
    parser.add_argument("--max-points", type=int, default=None, help="data.max_points (truncate every series)")
    parser.add_argument("--max-steps", type=int, default=None, help="trainer.max_steps (optimiser steps in total)")
    parser.add_argument("--baselines", action="store_true", help="also score the evaluator's random and z-score baselines")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    parser.add_argument("--threads", type=int, default=None, help="num_threads for every run (torch.set_num_threads)")
    parser.add_argument("--work-dir", default=None, help="folder for the runs (default: a temporary folder)")
    parser.add_argument("--overrides", nargs="*", default=[], metavar="key=value", help="extra overrides for every config")
    args = parser.parse_args(argv)
    if args.quick:
        args.data = "synthetic"
    configs = args.configs or default_configs(args.data)
    device = select_device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)  # the machine line reports it; each run sets it again
    rows = []
    with tempfile.TemporaryDirectory(prefix="compare_ts-") as tmp:
        work_dir = Path(args.work_dir) if args.work_dir else Path(tmp)
        for config in configs:
            try:
                r = isolated(train_and_evaluate, config, run_overrides(args, config, work_dir), device, device=device)
            except RuntimeError as exc:
                print(exc, file=sys.stderr)
                rows.append([config_name(config), *["failed"] * (len(COLUMNS) + 5)])
                continue
            print(f"{config_name(config)}: {r}", file=sys.stderr, flush=True)
            flops = "n/a" if r["flops_per_window"] is None else f"{r['flops_per_window'] / 1e6:,.1f}"
            rows.append([
                config_name(config), *(_fmt(r["metrics"].get(m.key)) for m in COLUMNS), f"{r['parameters']:,}", flops,
                _fmt(r["seconds_per_epoch"], 1.0, 1), str(r["epochs"]), f"{r['peak_mb']:.0f}",
            ])
    limits = ", ".join(f"{k}={v}" for k, v in (("epochs", args.epochs), ("max_points", args.max_points), ("max_steps", args.max_steps)) if v is not None)
    text = "\n".join([
        f"### Time-series detectors on {args.data}{' (quick)' if args.quick else ''}{f' ({limits})' if limits else ''}: "
        "honest protocol (threshold from validation scores), values in %",
        "",
        machine_line(device),
        "",
        markdown_table([
            "config", *(m.label for m in COLUMNS), "parameters", "MFLOPs / window", "train s / epoch", "epochs",
            "peak MB" + (" (CUDA allocated)" if device.type == "cuda" else " (RSS)"),
        ], rows),
    ])
    print(text)
    return text


if __name__ == "__main__":
    main()
