"""Train and evaluate several configs (e.g. KambaAD's ablations) and print one comparison table.

    python tools/run_ablations.py --configs configs/kambaad/kambaad_smap.py configs/kambaad/ablations/*.py \\
        trainer.epochs=1 data.max_points=20000

Each config runs as ``python run.py -c CONFIG -m train work_dir=RUNS/<name> [overrides]`` in its own
process; the table is read from each run's ``results.json`` (its ``metrics`` object). A run that
fails is reported in the table with its exit code, and the others still run.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from trainer.run_folder import RunFolder  # noqa: E402

DEFAULT_METRICS = ("vus_pr", "vus_roc", "auc_pr", "auc_roc", "affiliation_f1", "f1", "pa_f1")


def run_name(config: Path) -> str:
    """A readable, unique-enough run name: ``ablations/kan_point.py`` -> ``ablations-kan_point``."""
    parts = config.resolve().with_suffix("").parts
    tail = parts[parts.index("configs") + 1 :] if "configs" in parts else parts[-2:]
    return "-".join(tail)


def train(config: Path, work_dir: Path, overrides: list[str]) -> int:
    """Run one config to completion; returns the process exit code."""
    cmd = [sys.executable, str(REPO / "run.py"), "-c", str(config), "-m", "train", f"work_dir={work_dir}", *overrides]
    print("$ " + " ".join(cmd), file=sys.stderr, flush=True)
    return subprocess.run(cmd, cwd=REPO).returncode


def read_metrics(work_dir: Path) -> dict | None:
    """The ``metrics`` object of a run's results.json, or None when there is none."""
    folder = RunFolder(work_dir)
    return folder.read_results().get("metrics") if folder.is_evaluated() else None


def markdown_table(rows: dict[str, dict | str], metrics: tuple[str, ...]) -> str:
    """One row per run: its metrics, or the reason it has none."""
    lines = ["| run | " + " | ".join(metrics) + " |", "|---|" + "---|" * len(metrics)]
    for name, row in rows.items():
        if isinstance(row, str):
            cells = [row] + [""] * (len(metrics) - 1)
        else:
            cells = [f"{row[m]:.4f}" if isinstance(row.get(m), (int, float)) else "-" for m in metrics]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", nargs="+", required=True, type=Path, help="config files to run")
    parser.add_argument("--runs", type=Path, default=REPO / "runs" / "ablations", help="parent folder of the run folders")
    parser.add_argument("--metrics", nargs="+", default=list(DEFAULT_METRICS), help="metric keys to tabulate")
    parser.add_argument("--table-only", action="store_true", help="do not train; tabulate existing runs")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="overrides passed to every run")
    args = parser.parse_args(argv)
    # ``--configs a.py b.py key=value`` puts the overrides into --configs; move them back.
    args.overrides += [str(c) for c in args.configs if "=" in str(c)]
    args.configs = [c for c in args.configs if "=" not in str(c)]
    rows: dict[str, dict | str] = {}
    for config in args.configs:
        name = run_name(config)
        work_dir = args.runs / name
        code = 0 if args.table_only else train(config, work_dir, args.overrides)
        metrics = read_metrics(work_dir)
        rows[name] = metrics if metrics is not None else f"no results (exit code {code})"
    print(markdown_table(rows, tuple(args.metrics)))
    return 0 if all(isinstance(r, dict) for r in rows.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
