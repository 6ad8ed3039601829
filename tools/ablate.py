"""KambaAD's ablation on TSB-AD files: each declared variant against the full model, seeds paired (issue 23).

    python tools/ablate.py --root /tmp/tsbad_files --out runs/ablate23 [--variants full kan_point ...] \\
        [--seeds 0 1 2] [--files ...] [--datasets SMAP MSL NAB] [--max-files 8] [--set num_threads=1] [--shard K/N]
    python tools/ablate.py --out runs/ablate23 --report    # ablation_report.md: every variant against full

Variants: ``VARIANTS`` of ``benchmarks/kambaad_ablations.py``, dotted overrides of
``configs/kambaad/kambaad_csv.py`` (``full`` has none; the file says why each exists and how the
size-matched ones are matched). Each (variant, seed) is one method of ``tools/tsbad_benchmark.py``,
labelled ``<variant>-s<seed>`` and run by its machinery with the variant's overrides, ``seed=<seed>``
and then ``--set`` (which wins): ``results/``, ``scores/`` and the training logs ``logs/`` under
``--out``. A rerun skips finished (variant, seed, file) results; ``--shard K/N`` takes every N-th file;
``ablation.json`` records each label's overrides and refuses a rerun that would change them;
``widths.json`` records each file's number of features (the report's parameter counts).

Files: ``--files`` (names, one glob or one File_List csv under ``--root``; default the tuning list,
``benchmarks/lists/tuning.csv``), kept to ``--datasets`` (the ``<Dataset>`` of the TSB-AD name) when
given, then ``--max-files M`` spread evenly over the sorted list as ``tools/tune.py`` does. The ablation
chooses nothing (no default, budget, scaler or seed), so files of the evaluation list
(``benchmarks/lists/evaluation.csv``) may run here, as a stated subset; a file on neither list is
refused. The report names each file's list.

Report: one row per variant with finished runs. Pairs are (file, seed) that both the variant and
``full`` finished; over them the means of VUS-PR, AUC-PR and AUC-ROC, the mean paired difference,
wins / losses / ties against ``full`` by VUS-PR and the two-sided Wilcoxon signed-rank p of the paired
VUS-PR differences (``n/a`` with the reason below the table when every difference is 0 or fewer than
``tools.paired.MIN_PAIRS`` differ); optimiser steps, the early-stop share and CPU seconds from the training logs.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from benchmarks.kambaad_ablations import VARIANTS  # noqa: E402
from data.timeseries.tsbad import LABEL as LABEL_COLUMN  # noqa: E402
from data.timeseries.tsbad import parse_name, resolve_files  # noqa: E402
from model.profile import parameter_count  # noqa: E402
from tools import tsbad_benchmark as bench  # noqa: E402
from tools import tune  # noqa: E402
from tools.paired import paired_test, wins_losses_ties  # noqa: E402
from trainer.api import as_overrides  # noqa: E402
from util.config import load  # noqa: E402
from util.errors import ConfigError  # noqa: E402
from util.registry import DETECTORS  # noqa: E402

CONFIG = REPO / "configs" / "kambaad" / "kambaad_csv.py"
VARIANTS_FILE = "benchmarks/kambaad_ablations.py"
REFERENCE = "full"  # every variant is paired with it
MANIFEST = "ablation.json"
WIDTHS = "widths.json"
REPORT = "ablation_report.md"
LABEL = re.compile(r"^(?P<variant>.+)-s(?P<seed>\d+)$")


def label_of(variant: str, seed: int) -> str:
    """The method label of one (variant, seed)."""
    return f"{variant}-s{seed}"


def plan(variants: list[str], seeds: list[int], extra: list[str]) -> tuple[list[bench.Method], dict[str, list[str]]]:
    """The benchmark methods of every (variant, seed) and their overrides, each checked to load."""
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise ConfigError(f"--variants {' '.join(unknown)}: not declared in {VARIANTS_FILE}; choose from {', '.join(VARIANTS)}.")
    methods, overrides = [], {}
    for variant in dict.fromkeys(variants):
        for seed in dict.fromkeys(seeds):
            label = label_of(variant, seed)
            methods.append(bench.Method(label, "ours", str(CONFIG)))
            overrides[label] = [*as_overrides(VARIANTS[variant]), f"seed={seed}", *extra]
            load(CONFIG, overrides[label])  # a bad --set fails here, not once per file
    return methods, overrides


def ablation_files(root: Path, spec: list[str] | None, datasets: list[str] | None, tuning: Path, evaluation: Path, max_files: int | None) -> list[Path]:
    """The files to run: ``spec`` (default: the tuning list), of ``datasets`` when given, each on one of the lists, cut by ``max_files``."""
    spec = spec or [str(tuning.resolve())]
    files = resolve_files(root, spec[0] if len(spec) == 1 else spec)
    if datasets:
        files = [p for p in files if parse_name(p).dataset in datasets]
        if not files:
            raise ConfigError(f"--datasets {' '.join(datasets)}: none of the files named by --files is of these TSB-AD datasets.")
    listed = set(tune.read_list(tuning)) | set(tune.read_list(evaluation))
    unlisted = [p.name for p in files if p.name not in listed]
    if unlisted:
        raise ConfigError(f"{', '.join(unlisted[:3])} on neither the tuning list ({tuning}) nor the evaluation list ({evaluation}); "
                          "the report names each file's list, so run listed files only.")
    return tune.spread(files, max_files)


def n_features(path: Path) -> int:
    """The number of feature columns of a TSB-AD file (every column but ``Label``), from its header."""
    return sum(str(column).strip() != LABEL_COLUMN for column in pd.read_csv(path, nrows=0).columns)


def record_widths(out: Path, files: list[Path]) -> None:
    """Add each file's number of features to ``widths.json``."""
    path = out / WIDTHS
    known = json.loads(path.read_text()) if path.is_file() else {}
    bench.write_json(path, known | {p.name: n_features(p) for p in files})


def run(args: argparse.Namespace) -> int:
    """Run (a shard of) the ablation; returns the exit code."""
    shard = bench.parse_shard(args.shard)
    methods, overrides = plan(args.variants, args.seeds, args.set)
    files = ablation_files(Path(args.root), args.files, args.datasets, Path(args.tuning_list), Path(args.evaluation_list), args.max_files)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tune.record(out, overrides, MANIFEST)
    record_widths(out, files)
    bench.remember_methods(out, methods)
    if REFERENCE not in args.variants:
        print(f"--variants without {REFERENCE}: the report pairs every variant with it; run it too (the same --out and seeds).", file=sys.stderr)
    failures = bench.run_files(bench.shard_files(files, shard), methods, overrides, out)
    print(f"done; the report: python tools/ablate.py --out {out} --report")
    return 1 if failures else 0


def parameters(overrides: list[str], features: int) -> int:
    """Parameters of ``kambaad_csv.py`` with ``overrides``, built for ``features`` features at its window."""
    cfg = load(CONFIG, overrides)
    return parameter_count(DETECTORS.build(cfg["model"], n_features=features, window=cfg["data"]["window"]))["total"]


def recorded_runs(out: Path) -> pd.DataFrame:
    """One row per recorded (variant, seed, file) result, finished or failed: variant, seed, metrics, seconds."""
    frame = bench.collect(out)
    if not len(frame):
        raise ConfigError(f"No results under {out}/results: run the ablation first (tools/ablate.py --root ... --out {out}).")
    parts = frame["method"].str.extract(LABEL)
    return frame.assign(variant=parts["variant"], seed=pd.to_numeric(parts["seed"])).dropna(subset=["variant"])


def comparison(runs: pd.DataFrame, variant: str) -> dict:
    """One variant over the (file, seed) pairs it and ``full`` both finished: means, paired differences, the test."""
    full = runs[runs["variant"] == REFERENCE].set_index(["file", "seed"])["vus_pr"].rename("full_vus_pr")
    pairs = runs[runs["variant"] == variant].join(full, on=["file", "seed"], how="inner")
    differences = (pairs["vus_pr"] - pairs["full_vus_pr"]).to_numpy()
    p, why = (None, None) if variant == REFERENCE else paired_test(differences, REFERENCE)
    return {
        "variant": variant, "pairs": len(pairs), "p": p, "why": why,
        **{key: pairs[key].mean() for key in [*bench.TABLE_METRICS.values(), "steps", "early_stopped", "cpu_seconds"]},
        "delta": differences.mean() if len(differences) else np.nan,
        **dict(zip(("wins", "losses", "ties"), wins_losses_ties(differences))),
    }


def read_json(path: Path) -> dict:
    """The JSON object in ``path``, or an empty one when there is no such file."""
    return json.loads(path.read_text()) if path.is_file() else {}


def parameter_cells(out: Path, variants: list[str], files: list[str]) -> tuple[list[int], dict[str, str]]:
    """(the files' widths, per variant its parameters at each width) from ``widths.json`` and ``ablation.json``."""
    widths, manifest = read_json(out / WIDTHS), read_json(out / MANIFEST)
    features = sorted({widths[f] for f in files if f in widths})
    recorded = {}
    for label, items in manifest.items():  # one label per variant: the seed changes no parameter
        match = LABEL.match(label)
        if match:
            recorded.setdefault(match["variant"], items)
    cells = {v: " / ".join(f"{parameters(recorded[v], f):,}" for f in features) if v in recorded else "n/a" for v in variants}
    return features, cells


def header(out: Path, recorded: pd.DataFrame, tuning: Path, evaluation: Path, widths: list[int], tests: int) -> list[str]:
    """The report's first lines: the config and ``--set``, the seeds, the files and their lists, the columns."""
    manifest = read_json(out / MANIFEST)
    added = sorted({tune.added_overrides(items) for items in manifest.values()} - {""})
    lists = {**{name: "tuning list" for name in tune.read_list(tuning)}, **{name: "evaluation list" for name in tune.read_list(evaluation)}}
    files = sorted(set(recorded["file"]))
    seeds = sorted(int(s) for s in set(recorded["seed"]))
    return [
        "# KambaAD ablation report", "",
        f"Each variant is `{CONFIG.relative_to(REPO)}` with its overrides (`{VARIANTS_FILE}`), then `seed=<seed>`, then `--set`: "
        f"{' / '.join(f'`{a}`' for a in added) or 'none'}.", "",
        "Nothing on the evaluation list is used to choose anything: the ablation chooses nothing (no default, budget, scaler "
        "or seed is picked from it), so files of the evaluation list may run here; each file's list is named below.", "",
        f"Seeds: {', '.join(map(str, seeds))}. Files ({len(files)}):", "",
        *[f"- `{name}` ({lists.get(name, 'on neither list')})" for name in files], "",
        f"Pairs: a variant and `{REFERENCE}` on the same file with the same seed, where both finished; the means are over "
        f"those pairs (`{REFERENCE}`'s row: all its finished runs). Δ VUS-PR: the mean paired difference (variant - {REFERENCE}). W / L / T: pairs the variant wins, loses "
        f"and ties (equal VUS-PR) against `{REFERENCE}`. p: Wilcoxon signed-rank test of the paired VUS-PR differences, "
        f"two-sided, zero differences dropped (scipy.stats.wilcoxon); one test per variant, {tests} in all, not corrected "
        "for multiple comparisons. steps: optimiser steps; early stop: share of runs patience ended; CPU s / run: CPU "
        "seconds of fit and scoring (core-seconds at num_threads=1)."
        + (f" parameters: the model built for {' / '.join(map(str, widths))} features at the config's window." if widths else ""), "",
    ]


def number(value: float, spec: str) -> str:
    """``value`` formatted by ``spec``, or n/a when it is not finite (a mean over no pair)."""
    return format(value, spec) if np.isfinite(value) else "n/a"


def table(rows: list[dict], cells: dict[str, str] | None) -> list[str]:
    """The markdown table of the rows, then the footnotes of every p that is n/a."""
    titles = ["variant", *(["parameters"] if cells else []), *bench.TABLE_METRICS, "Δ VUS-PR", "pairs", "W / L / T", "p",
              "steps", "early stop", "CPU s / run"]
    lines, notes = ["| " + " | ".join(titles) + " |", "|---" * len(titles) + "|"], []
    for row in rows:
        reference = row["variant"] == REFERENCE
        if row["why"] is not None:
            notes.append(f"[{len(notes) + 1}] {row['variant']}: {row['why']}.")
        p = "reference" if reference else f"{row['p']:.3g}" if row["p"] is not None else f"n/a [{len(notes)}]"
        cols = [
            row["variant"], *([cells[row["variant"]]] if cells else []),
            *(number(row[key], ".3f") for key in bench.TABLE_METRICS.values()),
            "-" if reference else number(row["delta"], "+.3f"), str(row["pairs"]),
            "-" if reference else f"{row['wins']} / {row['losses']} / {row['ties']}", p,
            number(row["steps"], ".0f"), number(row["early_stopped"], ".0%"), number(row["cpu_seconds"], ".1f"),
        ]
        lines.append("| " + " | ".join(cols) + " |")
    return lines + (["", *notes] if notes else [])


def report(out: Path, tuning: Path, evaluation: Path) -> str:
    """Every variant with finished runs against ``full``, as markdown."""
    recorded = recorded_runs(out)
    runs = tune.with_training_logs(out, recorded.dropna(subset=["vus_pr"]))
    if not (runs["variant"] == REFERENCE).any():
        raise ConfigError(f"No finished run of {REFERENCE} under {out}/results: every variant is paired with it; run --variants {REFERENCE} with the same seeds.")
    finished = set(runs["variant"])
    variants = [v for v in VARIANTS if v in finished] + sorted(finished - set(VARIANTS))
    widths, cells = parameter_cells(out, variants, sorted(set(runs["file"])))
    tests = len(variants) - 1
    lines = header(out, recorded, tuning, evaluation, widths, tests) + table([comparison(runs, v) for v in variants], cells if widths else None)
    failed = recorded[recorded["vus_pr"].isna()]
    if len(failed):
        counts = failed.groupby("method").size()
        lines += ["", "Failed runs (not in the table; their errors are in results/): " + ", ".join(f"{m} {n}" for m, n in counts.items())]
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line arguments."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    tune.add_shared_arguments(parser, "runs/ablate", "variant")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), help=f"variants of {VARIANTS_FILE} (default: all)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2], help="seeds of every variant (default: 0 1 2)")
    parser.add_argument("--datasets", nargs="+", help="keep the files of these TSB-AD datasets (e.g. SMAP MSL NAB)")
    parser.add_argument("--max-files", type=int, help="keep this many files spread evenly over the sorted list")
    parser.add_argument("--evaluation-list", default=str(tune.EVALUATION_LIST), help="the evaluation File_List csv")
    parser.add_argument("--report", action="store_true", help="only write and print the report of the finished runs")
    return parser.parse_args(argv)


def start_ablation(args: argparse.Namespace) -> int:
    """Check the ablation's own arguments and run its variants."""
    if not args.root:
        raise ConfigError("Give --root (the TSB-AD files), or --report.")
    return run(args)


def main(argv: list[str] | None = None) -> int:
    """Run the ablation or print the report; exit 1 when a run failed, 2 on bad arguments."""
    args = parse_args(argv)
    lists = Path(args.tuning_list), Path(args.evaluation_list)
    return tune.run_or_report(args, REPORT, lambda: report(Path(args.out), *lists), lambda: start_ablation(args))


if __name__ == "__main__":
    sys.exit(main())
