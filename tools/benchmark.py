"""Seeded benchmark: every config x seed, resumable, then ``benchmark.csv`` and a mean +- std table.

    python tools/benchmark.py --configs configs/baselines/dense_ae_smap.py configs/kambaad/kambaad_smap.py \\
        --seeds 0 1 2 --protocol honest --out runs/benchmark [--set trainer.epochs=1 data.max_points=20000]

Each run trains in ``OUT/<config>/seed<k>/`` (``seed=k``, ``trainer.resume=true``): a finished run
(``results.json`` present) is skipped, an interrupted one continues from its last checkpoint. One
progress line per run (its headline metrics in %, time, report path; the run's log goes to its
``log.txt``, warnings and errors also to the console). ``OUT/benchmark.csv`` has one row per run and detector (the configured
detector and the sanity baselines the evaluator scored on the same data); ``OUT/benchmark.md``
has mean +- std over seeds per dataset x detector for the protocol's headline metrics.
``--view mean_over_entities`` tables each run's mean over entities (SMAP/MSL channels) instead of
the metrics of the concatenated test set, into ``benchmark_mean_over_entities.csv/.md`` (finished
runs are not run again, so switching the view only writes the other tables). ``--table-only`` runs
nothing and tables what is finished (e.g. some configs at fewer seeds than others).
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import pandas as pd  # noqa: E402

from util.logging import console_level  # noqa: E402

if TYPE_CHECKING:
    from trainer.run_folder import RunFolder

HEADLINE = {
    "honest": ("vus_pr", "vus_roc", "auc_pr", "auc_roc", "affiliation_f1", "f1", "event_f1", "pa_f1"),
    "legacy": ("pa_f1", "vus_pr", "auc_pr", "affiliation_f1", "f1"),
}
# results.json keys per view: (the detector's metrics, its baselines' metrics)
VIEWS = {"concatenation": ("metrics", "baselines"), "mean_over_entities": ("mean_over_entities", "baselines_mean_over_entities")}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line arguments."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--configs", nargs="+", required=True, help="config files")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2], help="seeds (the run's global seed)")
    parser.add_argument("--protocol", choices=tuple(HEADLINE), default="honest", help="evaluation protocol")
    parser.add_argument("--out", default="runs/benchmark", help="folder for the runs, benchmark.csv and benchmark.md")
    parser.add_argument("--set", nargs="*", default=[], metavar="key=value", help="overrides for every run")
    parser.add_argument("--view", choices=tuple(VIEWS), default="concatenation", help="which metrics of each run to table")
    parser.add_argument("--per-entity", metavar="METRIC", help="also write benchmark_per_entity.md: METRIC per entity (rows) and detector (mean over seeds)")
    parser.add_argument("--table-only", action="store_true", help="run nothing: table the runs already finished under --out")
    return parser.parse_args(argv)


def run_folder(out: Path, config: str, seed: int) -> RunFolder:
    """The folder of ``config`` at ``seed`` under ``out``: ``OUT/<config>/seed<k>``."""
    from trainer.run_folder import RunFolder
    from trainer.runner import config_name

    return RunFolder(out / config_name(config) / f"seed{seed}")


def finished_results(config: str, seeds: list[int], out: Path) -> list[tuple[int, dict]]:
    """``(seed, results.json)`` of the finished runs of ``config`` among ``seeds``."""
    paths = [(seed, run_folder(out, config, seed).results) for seed in seeds]
    return [(seed, json.loads(path.read_text())) for seed, path in paths if path.is_file()]


def run_all(configs: list[str], seeds: list[int], protocol: str, out: Path, overrides: list[str]) -> list[str]:
    """Run every config x seed that has no results yet; returns the failures' messages."""
    from trainer.runner import config_name, run
    from util.errors import UserError

    failures, jobs = [], [(c, s) for c in configs for s in seeds]
    for i, (config, seed) in enumerate(jobs, 1):
        folder = run_folder(out, config, seed)
        work_dir = folder.path
        label = f"[{i}/{len(jobs)}] {config_name(config)} seed={seed}"
        if folder.is_evaluated():
            print(f"{label}: done earlier, skipped", flush=True)
            continue
        start = time.time()
        try:
            with console_level(logging.WARNING):  # the run's own log lines go to its log.txt
                results = run(config, "train", [*overrides, f"seed={seed}", f"evaluation.protocol={protocol}", f"work_dir={work_dir}", "trainer.resume=true"], report=False)
        except UserError as exc:
            failures.append(f"{label}: {exc}")
            print(f"{label}: FAILED: {exc}", flush=True)
            continue
        print(f"{label}: {progress_metrics(results['metrics'], protocol)} in {time.time() - start:.1f} s ({work_dir / 'results.md'})", flush=True)
    return failures


def progress_metrics(metrics: dict, protocol: str) -> str:
    """The protocol's first two headline metrics in %, e.g. ``vus_pr 23.45 %, vus_roc 61.20 %``."""
    shown = []
    for key in HEADLINE[protocol][:2]:
        value = metrics.get(key)
        shown.append(f"{key} " + ("n/a" if value is None or not math.isfinite(value) else f"{100 * value:.2f} %"))
    return ", ".join(shown)


def collect(configs: list[str], seeds: list[int], out: Path, view: str = "concatenation") -> pd.DataFrame:
    """One row per finished run and detector row (configured detector, then its baselines), from ``view``."""
    from trainer.runner import config_name
    from util.config import load

    rows = []
    own_key, baselines_key = VIEWS[view]
    for config in configs:
        data = load(config)["data"]
        dataset = data["type"] + ("" if data.get("entities", "all") == "all" else f":{data['entities']}")
        for seed, results in finished_results(config, seeds, out):
            rows.append({"dataset": dataset, "detector": results["detector"], "config": config_name(config), "seed": seed, **results[own_key]})
            if "baselines" in results and baselines_key not in results:
                print(f"{run_folder(out, config, seed).path}: no {baselines_key} (evaluated by an older version): its baselines are left out", file=sys.stderr)
            for name, metrics in results.get(baselines_key, {}).items():
                rows.append({"dataset": dataset, "detector": f"{name} (baseline)", "config": config_name(config), "seed": seed, **metrics})
    frame = pd.DataFrame(rows)
    if not len(frame):
        return frame
    # Baselines repeat once per config on the same dataset and seed: keep one of each, and none
    # where the same detector was also run as a config (the z-score config is the z-score baseline).
    frame = frame.drop_duplicates(subset=["dataset", "detector", "seed"])
    configured = set(zip(frame["dataset"], frame["detector"] + " (baseline)"))
    return frame[[pair not in configured for pair in zip(frame["dataset"], frame["detector"])]]


def markdown(frame: pd.DataFrame, protocol: str, view: str = "concatenation") -> str:
    """Mean +- std (in %) over seeds per dataset x detector."""
    metrics = [m for m in HEADLINE[protocol] if m in frame.columns]
    of = "" if view == "concatenation" else ", each run's mean over entities"
    lines = [f"# Benchmark ({protocol} protocol{of}): mean +- std over seeds, values in %", "",
             "| dataset | detector | seeds | " + " | ".join(metrics) + " |", "|---" * (len(metrics) + 3) + "|"]
    for (dataset, detector), group in frame.groupby(["dataset", "detector"], sort=True):
        cells = []
        for m in metrics:
            values = 100 * group[m].astype(float).dropna()
            cells.append("n/a" if values.empty else f"{values.mean():.2f} +- {values.std(ddof=1) if len(values) > 1 else 0.0:.2f}")
        lines.append(f"| {dataset} | {detector} | {len(group)} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def per_entity_markdown(configs: list[str], seeds: list[int], out: Path, metric: str) -> str:
    """``metric`` in % per entity (rows) and configured detector (columns), mean over the finished seeds."""
    from trainer.runner import config_name

    columns = {}
    for config in configs:
        runs = [results for _, results in finished_results(config, seeds, out)]
        if runs:
            known = {key for run in runs for m in run.get("per_entity", {}).values() for key in m}
            if metric not in known:
                raise SystemExit(f"error: --per-entity {metric}: not a per-entity metric of {config_name(config)}'s runs; choose one of {', '.join(sorted(known)) or '(none recorded)'}.")
            per_seed = pd.DataFrame([{entity: m[metric] for entity, m in run.get("per_entity", {}).items()} for run in runs])
            columns[f"{runs[0]['detector']} ({config_name(config)}, {len(runs)} seeds)"] = 100 * per_seed.astype(float).mean()
    table = pd.DataFrame(columns)
    lines = [f"# {metric} per entity, mean over seeds, values in %", "", "| entity | " + " | ".join(table.columns) + " |", "|---" * (len(table.columns) + 1) + "|"]
    for entity, row in [*table.iterrows(), ("**mean** (over the entities each ran)", table.mean())]:
        lines.append(f"| {entity} | " + " | ".join("n/a" if pd.isna(v) else f"{v:.1f}" for v in row) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Run, then write the tables; exit 1 when a run failed (the others still count)."""
    args = parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    failures = [] if args.table_only else run_all(args.configs, args.seeds, args.protocol, out, args.set)
    frame = collect(args.configs, args.seeds, out, args.view)
    stem = "benchmark" if args.view == "concatenation" else f"benchmark_{args.view}"
    frame.to_csv(out / f"{stem}.csv", index=False)
    table = markdown(frame, args.protocol, args.view) if len(frame) else "No finished runs.\n"
    (out / f"{stem}.md").write_text(table)
    print(table)
    if args.per_entity:
        per_entity = per_entity_markdown(args.configs, args.seeds, out, args.per_entity)
        (out / "benchmark_per_entity.md").write_text(per_entity)
        print(per_entity)
    for failure in failures:
        print(f"failed: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
