"""Choose our detectors' budgets and defaults on the tuning list by a declared grid (issue 23).

    python tools/tune.py --root /tmp/tsbad_files --out runs/tune --detectors kambaad dense_ae \\
        [--trials 8] [--max-files 26] [--seeds 0] [--set num_threads=1] [--shard K/N]
    python tools/tune.py --out runs/tune --report    # ranked trials, the chosen setting, the config lines

The grid file (``benchmarks/tuning_grid.py``) declares ``FACTORS``, one ``DESIGN`` of trials (a row of
``-``/``+`` per trial: each factor's default or alternative level) shared by every detector, and the
two ``LEVELS`` of each factor per detector (dotted config keys and values): every detector runs the
same trials. ``--trials T`` keeps the first T rows (the same for every detector).

Each (detector, trial, seed) is one method of ``tools/tsbad_benchmark.py``, labelled
``<detector>-t<trial>-s<seed>`` and run by its machinery with the trial's overrides, ``seed=<seed>``
and then ``--set`` (which wins): ``results/``, ``scores/`` and the training logs ``logs/`` under
``--out``. A rerun skips finished (trial, file, seed) results; ``--shard K/N`` takes every N-th
file; ``tuning.json`` records each label's overrides and refuses a rerun that would change them.

Files: the tuning list only (``benchmarks/lists/tuning.csv``); a file on the evaluation list
(``benchmarks/lists/evaluation.csv``) is refused, since nothing on it may choose a default, budget,
scaler or seed. ``--max-files M`` keeps M files spread evenly over the sorted list (issue 23 allows
cutting to 8, no fewer; a report over fewer files says it is provisional).
"""
from __future__ import annotations

import argparse
import json
import re
import runpy
import sys
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from data.timeseries.tsbad import resolve_files  # noqa: E402
from tools import tsbad_benchmark as bench  # noqa: E402
from trainer.api import as_overrides, config_path  # noqa: E402
from util.errors import ConfigError, UserError  # noqa: E402

GRID = REPO / "benchmarks" / "tuning_grid.py"
TUNING_LIST = REPO / "benchmarks" / "lists" / "tuning.csv"
EVALUATION_LIST = REPO / "benchmarks" / "lists" / "evaluation.csv"
MANIFEST = "tuning.json"
REPORT = "tuning_report.md"
MIN_FILES = 8  # issue 23: the tuning list may be cut to 8 files, no fewer
LABEL = re.compile(r"^(?P<detector>.+)-t(?P<trial>\d+)-s(?P<seed>\d+)$")


def load_grid(path: Path) -> dict:
    """``FACTORS``, ``DESIGN`` and ``LEVELS`` of a grid file, checked for shape."""
    grid = runpy.run_path(str(path))
    missing = [key for key in ("FACTORS", "DESIGN", "LEVELS") if key not in grid]
    if missing:
        raise ConfigError(f"{path} lacks {', '.join(missing)}; declare them as in {GRID}.")
    factors, design = tuple(grid["FACTORS"]), tuple(grid["DESIGN"])
    bad_rows = [row for row in design if len(row) != len(factors) or set(row) - {"-", "+"}]
    if bad_rows:
        raise ConfigError(f"{path}: DESIGN rows {bad_rows} are not one '-' or '+' per factor of {factors}.")
    for detector, levels in grid["LEVELS"].items():
        if set(levels) != set(factors) or any(len(pair) != 2 for pair in levels.values()):
            raise ConfigError(f"{path}: LEVELS['{detector}'] needs exactly the factors {factors}, two levels each (default, alternative).")
    return {"factors": factors, "design": design, "levels": grid["LEVELS"]}


def trial_settings(grid: dict, detector: str, trial: int) -> dict[str, Any]:
    """The dotted keys and values of one trial of one detector."""
    settings: dict[str, Any] = {}
    for factor, sign in zip(grid["factors"], grid["design"][trial]):
        settings |= grid["levels"][detector][factor][sign == "+"]
    return settings


def label_of(detector: str, trial: int, seed: int) -> str:
    """The method label of one (detector, trial, seed)."""
    return f"{detector}-t{trial}-s{seed}"


def read_list(path: Path) -> list[str]:
    """The file names of a TSB-AD ``File_List`` csv."""
    return pd.read_csv(path)["file_name"].astype(str).tolist()


def spread(files: list[Path], count: int | None) -> list[Path]:
    """``count`` files spread evenly over the list sorted by name (all of them for None)."""
    ordered = sorted(files, key=lambda p: p.name)
    if count is None or count >= len(ordered):
        return ordered
    return [ordered[i * len(ordered) // count] for i in range(count)]


def tuning_files(root: Path, spec: list[str] | None, tuning: Path, evaluation: Path, max_files: int | None) -> list[Path]:
    """The files to tune on: ``spec`` (default: the tuning list) checked against both lists, cut by ``max_files``."""
    files = resolve_files(root, str(tuning.resolve()) if spec is None else spec[0] if len(spec) == 1 else spec)
    held_out, allowed = set(read_list(evaluation)), set(read_list(tuning))
    refused = [p.name for p in files if p.name in held_out]
    if refused:
        raise ConfigError(f"{', '.join(refused[:3])} {'is' if len(refused) == 1 else 'are'} on the evaluation list ({evaluation}): "
                          f"nothing on it may choose a default, budget, scaler or seed; tune on the tuning list ({tuning}).")
    unlisted = [p.name for p in files if p.name not in allowed]
    if unlisted:
        raise ConfigError(f"{', '.join(unlisted[:3])} not on the tuning list ({tuning}); add it there (never from the evaluation list) or leave --files out.")
    return spread(files, max_files)


def plan(grid: dict, detectors: list[str], trials: int, seeds: list[int], extra: list[str]) -> tuple[list[bench.Method], dict[str, list[str]]]:
    """The benchmark methods of every (detector, trial, seed) and their overrides."""
    unknown = [d for d in detectors if d not in grid["levels"]]
    if unknown:
        raise ConfigError(f"--detectors {' '.join(unknown)}: not in the grid; choose from {', '.join(grid['levels'])}.")
    if not 1 <= trials <= len(grid["design"]):
        raise ConfigError(f"--trials {trials}: the grid has {len(grid['design'])} trials; give 1..{len(grid['design'])}.")
    methods, overrides = [], {}
    for detector in detectors:
        for trial in range(trials):
            for seed in seeds:
                label = label_of(detector, trial, seed)
                methods.append(bench.Method(label, "ours", str(config_path(detector))))
                overrides[label] = [*as_overrides(trial_settings(grid, detector, trial)), f"seed={seed}", *extra]
    return methods, overrides


def record(out: Path, overrides: dict[str, list[str]], manifest: str = MANIFEST) -> None:
    """Add the labels' overrides to ``manifest`` (``tuning.json``); refuse a label that ran with other overrides."""
    path = out / manifest
    known = json.loads(path.read_text()) if path.is_file() else {}
    changed = [label for label, items in overrides.items() if label in known and known[label] != items]
    if changed:
        label = changed[0]
        raise ConfigError(f"{out} holds {label} run with {known[label]}, not {overrides[label]}: "
                          "give a new --out (or delete that folder's results of it) to change its settings, its seed or --set.")
    bench.write_json(path, known | overrides)


def run(args: argparse.Namespace) -> int:
    """Run (a shard of) the search; returns the exit code."""
    grid = load_grid(Path(args.grid))
    files = tuning_files(Path(args.root), args.files, Path(args.tuning_list), Path(args.evaluation_list), args.max_files)
    methods, overrides = plan(grid, args.detectors, args.trials, args.seeds, args.set)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    record(out, overrides)
    bench.remember_methods(out, methods)
    if len(files) < MIN_FILES:
        print(f"{len(files)} tuning files: fewer than {MIN_FILES}, a smoke run; its report chooses nothing.", file=sys.stderr)
    failures = bench.run_files(bench.shard_files(files, bench.parse_shard(args.shard)), methods, overrides, out)
    print(f"done; the ranking: python tools/tune.py --out {out} --report")
    return 1 if failures else 0


def finished_runs(out: Path) -> pd.DataFrame:
    """One row per finished (trial, file, seed): detector, trial, seed, metrics, seconds, steps, early stopping."""
    frame = bench.collect(out)
    if not len(frame):
        raise ConfigError(f"No results under {out}/results: run the search first (tools/tune.py --root ... --out {out}).")
    parts = frame["method"].str.extract(LABEL)
    frame = frame.assign(detector=parts["detector"], trial=pd.to_numeric(parts["trial"]), seed=pd.to_numeric(parts["seed"]))
    return with_training_logs(out, frame.dropna(subset=["detector", "vus_pr"]))


def with_training_logs(out: Path, frame: pd.DataFrame) -> pd.DataFrame:
    """Finished results with each run's optimiser steps, early stopping and CPU seconds (fit and scoring) from ``logs/``."""
    logs = [json.loads((out / "logs" / method / f"{Path(file).stem}.json").read_text()) for method, file in zip(frame["method"], frame["file"])]
    cpu = [sum(log["cpu_seconds"].values()) for log in logs]
    return frame.assign(steps=[log["steps"] for log in logs], early_stopped=[log["early_stopped"] for log in logs], cpu_seconds=cpu)


def ranking(runs: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Trials of one detector ranked by mean VUS-PR over the files every (trial, seed) finished; and those files' count."""
    wide = runs.pivot_table(index="file", columns=["trial", "seed"], values="vus_pr")
    common = wide.dropna().index
    mine = runs[runs["file"].isin(common)]
    table = mine.groupby("trial").agg(
        **{key: (key, "mean") for key in bench.TABLE_METRICS.values()},
        steps=("steps", "mean"), early_stopped=("early_stopped", "mean"), seconds=("seconds", "mean"), cpu_seconds=("cpu_seconds", "mean"),
        seeds=("seed", "nunique"),
    )
    return table.sort_values("vus_pr", ascending=False, kind="stable").reset_index(), len(common)


def differing(grid: dict, detector: str, trial: int) -> dict[str, Any]:
    """The settings of ``trial`` that differ from trial 0 (the committed defaults, ``tests/test_tuning.py`` checks)."""
    default = trial_settings(grid, detector, 0)
    return {key: value for key, value in trial_settings(grid, detector, trial).items() if default.get(key) != value}


def config_lines(settings: dict[str, Any]) -> list[str]:
    """Dotted settings as the nested ``section = dict(...)`` lines of a config file."""
    tree: dict = {}
    for key, value in settings.items():
        *parents, leaf = key.split(".")
        node = tree
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value

    def render(value: Any) -> str:
        return "dict(" + ", ".join(f"{k}={render(v)}" for k, v in value.items()) + ")" if isinstance(value, dict) else repr(value)

    return [f"{section} = {render(value)}" for section, value in tree.items()]


def detector_section(grid: dict, detector: str, runs: pd.DataFrame) -> tuple[str, dict]:
    """The markdown ranking of one detector's trials, and its chosen row."""
    table, n_files = ranking(runs)
    lines = [f"### {detector}: mean over the {n_files} files every trial and seed finished", "",
             "| rank | trial | " + " | ".join(grid["factors"]) + " | " + " | ".join(bench.TABLE_METRICS) + " | seeds | steps | early stop | s / run | CPU s / run |",
             "|---" * (len(grid["factors"]) + len(bench.TABLE_METRICS) + 7) + "|"]
    for rank, row in enumerate(table.to_dict("records"), 1):
        signs = " | ".join(grid["design"][int(row["trial"])])
        metrics = " | ".join(f"{row[key]:.3f}" for key in bench.TABLE_METRICS.values())
        lines.append(f"| {rank} | t{int(row['trial'])} | {signs} | {metrics} "
                     f"| {int(row['seeds'])} | {row['steps']:.0f} | {row['early_stopped']:.0%} | {row['seconds']:.1f} | {row['cpu_seconds']:.1f} |")
    effects = main_effects(grid, table)
    if effects:
        lines += ["", "Main effects (mean VUS-PR at '+' minus at '-'): " + ", ".join(f"{f} {e:+.3f}" for f, e in effects.items())]
    best = table.iloc[0].to_dict() | {"files": n_files}
    default = table.set_index("trial")["vus_pr"].get(0, np.nan)
    return "\n".join(lines), best | {"default": default}


def main_effects(grid: dict, table: pd.DataFrame) -> dict[str, float]:
    """Each factor's mean VUS-PR at its alternative minus at its default, when every trial of the design ran."""
    if sorted(table["trial"]) != list(range(len(grid["design"]))):
        return {}
    score = table.set_index("trial")["vus_pr"]
    return {
        factor: float(np.mean([score[t] for t, row in enumerate(grid["design"]) if row[i] == "+"])
                      - np.mean([score[t] for t, row in enumerate(grid["design"]) if row[i] == "-"]))
        for i, factor in enumerate(grid["factors"])
    }


def added_overrides(items: list[str]) -> str:
    """The ``--set`` part of a label's recorded overrides: what follows tune's own ``seed=``."""
    seed = next(i for i, item in enumerate(items) if item.startswith("seed="))
    return " ".join(items[seed + 1 :])


def header(out: Path, grid: dict, fewest_files: int) -> list[str]:
    """The report's first lines: provisional or not, the ``--set`` used, the columns, the factors."""
    lines = ["# Tuning report", ""]
    if fewest_files < MIN_FILES:
        lines += [f"**Provisional: {fewest_files} tuning files, fewer than the {MIN_FILES} issue 23 allows; apply nothing from it.**", ""]
    manifest = json.loads((out / MANIFEST).read_text()) if (out / MANIFEST).is_file() else {}
    added = sorted({added_overrides(items) for items in manifest.values()} - {""})
    alternatives = {f: sorted({key for levels in grid["levels"].values() for key in levels[f][1]}) for f in grid["factors"]}
    return lines + [
        f"`--set` after every trial's settings: {' / '.join(f'`{a}`' for a in added) or 'none'}", "",
        "steps: optimiser steps; early stop: share of runs patience ended; s / run: wall seconds (metrics included); "
        "CPU s / run: CPU seconds of fit and scoring (core-seconds at num_threads=1).", "",
        "Factors: " + ", ".join(f"{f} (+: {', '.join(keys)})" for f, keys in alternatives.items()), "",
    ]


def chosen_lines(grid: dict, chosen: dict[str, dict]) -> list[str]:
    """The chosen trial per detector, and the lines to merge into its ``*_csv.py``."""
    lines = ["## Chosen (best mean VUS-PR on the tuning files)", "",
             "| detector | trial | VUS-PR | default (t0) | gain | files | seeds |", "|---|---|---|---|---|---|---|"]
    for detector, best in chosen.items():
        lines.append(f"| {detector} | t{int(best['trial'])} | {best['vus_pr']:.3f} | {best['default']:.3f} | {best['vus_pr'] - best['default']:+.3f} "
                     f"| {best['files']} | {int(best['seeds'])} |")
    for detector, best in chosen.items():
        changes = differing(grid, detector, int(best["trial"]))
        body = config_lines(changes) if changes else ["# nothing: the committed defaults won"]
        lines += ["", f"`{config_path(detector).relative_to(REPO)}`: merge into the file (as overrides: "
                  f"`{' '.join(as_overrides(changes)) or 'none'}`)", "", "```python", *body, "```"]
    return lines


def report(out: Path, grid: dict) -> str:
    """The ranked trials per detector, the chosen settings and the config lines to apply, as markdown."""
    runs = finished_runs(out)
    sections, chosen = [], {}
    for detector in [d for d in grid["levels"] if d in set(runs["detector"])]:
        text, chosen[detector] = detector_section(grid, detector, runs[runs["detector"] == detector])
        sections += [text, ""]
    lines = header(out, grid, min(int(c["files"]) for c in chosen.values())) + sections + chosen_lines(grid, chosen)
    return "\n".join(lines) + "\n"


def add_shared_arguments(parser: argparse.ArgumentParser, out: str, unit: str) -> None:
    """The arguments ``tune.py`` and ``ablate.py`` share: files, lists, output, overrides of every ``unit``, shard."""
    parser.add_argument("--root", help="folder of the TSB-AD files (tools/make_tsbad_files.py --out)")
    parser.add_argument("--out", default=out, help="folder of results, scores, logs and the report")
    parser.add_argument("--files", nargs="+", help="file names, one glob or a File_List csv under --root (default: the tuning list)")
    parser.add_argument("--tuning-list", default=str(TUNING_LIST), help="the tuning File_List csv")
    parser.add_argument("--set", nargs="*", default=[], metavar="key=value", help=f"overrides of every {unit}, applied last (e.g. num_threads=1)")
    parser.add_argument("--shard", help="K/N: run the K-th of N parts of the file list (K = 1..N)")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line arguments."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    add_shared_arguments(parser, "runs/tune", "trial")
    parser.add_argument("--detectors", nargs="+", default=[], help="detectors of the grid to tune (kambaad, dense_ae, ...)")
    parser.add_argument("--grid", default=str(GRID), help="grid file: FACTORS, DESIGN, LEVELS")
    parser.add_argument("--trials", type=int, help="the first T trials of the design (default: all; the same for every detector)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0], help="seeds of every trial")
    parser.add_argument("--max-files", type=int, help=f"keep this many files spread over the list (issue 23: not fewer than {MIN_FILES})")
    parser.add_argument("--evaluation-list", default=str(EVALUATION_LIST), help="the evaluation File_List csv, refused here")
    parser.add_argument("--report", action="store_true", help="only rank the finished trials and print the chosen settings")
    return parser.parse_args(argv)


def run_or_report(args: argparse.Namespace, report_name: str, write_report: Callable[[], str], start: Callable[[], int],
                  max_files_hint: str = "") -> int:
    """The shared ``main`` of ``tune.py`` and ``ablate.py``: with ``--report`` write ``report_name`` under
    ``--out`` and print it, else check ``--max-files`` (``max_files_hint`` ends its message) and ``start`` the runs; exit 2 with one message on bad arguments."""
    try:
        if args.report:
            text = write_report()
            (Path(args.out) / report_name).write_text(text)
            print(text, end="")
            return 0
        if args.max_files is not None and args.max_files < 1:
            raise ConfigError(f"--max-files {args.max_files}: give a positive number{max_files_hint}.")
        return start()
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def start_search(args: argparse.Namespace) -> int:
    """Check the search's own arguments and run its trials."""
    if not args.root or not args.detectors:
        raise ConfigError("Give --root (the TSB-AD files) and --detectors (e.g. kambaad dense_ae), or --report.")
    args.trials = args.trials or len(load_grid(Path(args.grid))["design"])
    return run(args)


def main(argv: list[str] | None = None) -> int:
    """Run the search or print the report; exit 1 when a run failed, 2 on bad arguments."""
    args = parse_args(argv)
    return run_or_report(args, REPORT, lambda: report(Path(args.out), load_grid(Path(args.grid))), lambda: start_search(args),
                         f" (issue 23: not fewer than {MIN_FILES})")


if __name__ == "__main__":
    sys.exit(main())
