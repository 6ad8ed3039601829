"""The leaderboard over seeds (issue 23): several ``tools/tsbad_benchmark.py`` folders, one per seed, as one report.

    python tools/leaderboard.py runs/tsbad80/seed0 runs/tsbad80/seed1 runs/tsbad80/seed2 --target kambaad
    # writes runs/tsbad80/leaderboard_seeds.md (or --out FILE) and prints it

Each folder holds one seed's runs (``results/``, ``logs/``). A run's seed is the last ``seed=N`` of its
recorded overrides; TSB-AD's methods and the random floor record none (they are deterministic) and
count once, in whichever folder holds them. A method is a column label (``kambaad``, ``TSB-AD:IForest``).

Every mean is over the files every method finished at least once (the common files), per file first
averaged over the method's seeds. The report holds:

1. the leaderboard: VUS-PR, AUC-PR and AUC-ROC, ranked by VUS-PR, with the spread over seeds (the lowest
   and highest per-seed mean over the common files all of the method's seeds ran), optimiser steps and
   the early-stop share of our trained runs (from their training logs: was it trained?) and seconds
   per file (one run: fit and scoring);
2. VUS-PR per source (the ``<Dataset>`` of the TSB-AD name) and over all common files, ``± sd`` over
   seeds where every file of the source ran at more than one seed;
3. seconds per file per source;
4. ``--target``'s paired comparison with every other method over the common files (per-file seed
   means): mean difference, wins / losses / ties and the two-sided Wilcoxon signed-rank p; then the
   same against the best other method, per source;
5. with ``--root`` (the TSB-AD files, for the labels): each method run at several seeds on a file, one seed
   against the mean of its seeds' scores (each standardised over the series, no label used), paired per file.

All metrics are threshold-free, on the raw scores: no point adjustment anywhere (TSB-AD's protocol).
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

from data.timeseries.tsbad import parse_name, read_file  # noqa: E402
from metric.timeseries import threshold_free_metrics  # noqa: E402
from tools import tsbad_benchmark as bench  # noqa: E402
from tools.paired import paired_test, wins_losses_ties  # noqa: E402
from util.errors import ConfigError, UserError  # noqa: E402

REPORT = "leaderboard_seeds.md"
SEED = re.compile(r"^seed=(?P<seed>-?\d+)$")
METRICS = bench.TABLE_METRICS  # title -> key


def seed_of(overrides: object) -> float:
    """The last ``seed=N`` of a run's recorded overrides; NaN for a run that records none (deterministic)."""
    seeds = [int(m["seed"]) for item in (overrides if isinstance(overrides, list) else []) if (m := SEED.match(str(item)))]
    return float(seeds[-1]) if seeds else np.nan


def folder_runs(folder: Path) -> pd.DataFrame:
    """One row per recorded run of one folder, with its seed, folder and (ours, finished) training facts."""
    frame = bench.collect(folder)
    if not len(frame):
        return frame
    overrides = frame["overrides"] if "overrides" in frame else pd.Series([None] * len(frame))
    frame = frame.assign(seed=[seed_of(o) for o in overrides], folder=str(folder))
    ours = frame[(frame["kind"] == "ours") & frame["vus_pr"].notna()]
    return frame.join(pd.DataFrame([training_facts(folder, m, f) for m, f in zip(ours["method"], ours["file"])], index=ours.index))


def training_facts(folder: Path, method: str, file: str) -> dict:
    """Optimiser steps and early stopping of one run of ours, from its training log; NaN for one fit without gradients."""
    log = json.loads((folder / "logs" / method / f"{Path(file).stem}.json").read_text())
    trained = log.get("trainable", True)
    return {"steps": log["steps"] if trained else np.nan, "early_stopped": float(log["early_stopped"]) if trained else np.nan}


def recorded_runs(folders: list[Path]) -> pd.DataFrame:
    """Every folder's runs; a (method, file, seed) recorded in several folders counts once (the first)."""
    missing = [str(f) for f in folders if not (f / "results").is_dir()]
    if missing:
        raise ConfigError(f"No results/ under {', '.join(missing)}: give folders written by tools/tsbad_benchmark.py --out.")
    frames = [frame for frame in (folder_runs(f) for f in folders) if len(frame)]
    if not frames:
        raise ConfigError(f"No recorded run under {', '.join(map(str, folders))}: run tools/tsbad_benchmark.py first.")
    runs = pd.concat(frames, ignore_index=True)
    for column in ("steps", "early_stopped"):
        if column not in runs:
            runs[column] = np.nan
    return runs.drop_duplicates(["method", "file", "seed"]).reset_index(drop=True)


def common_files(finished: pd.DataFrame) -> list[str]:
    """The files every method finished at least once."""
    methods = finished.groupby("file")["method"].nunique()
    return sorted(methods[methods == finished["method"].nunique()].index)


def by_dataset(files: list[str]) -> dict[str, list[str]]:
    """The files per source (the ``<Dataset>`` of the TSB-AD name), sources in the order they first appear."""
    groups: dict[str, list[str]] = {}
    for name in files:
        groups.setdefault(parse_name(name).dataset, []).append(name)
    return groups


def seed_means(finished: pd.DataFrame) -> pd.DataFrame:
    """Per (method, file): each metric averaged over the method's seeds."""
    return finished.groupby(["method", "file"])[list(METRICS.values())].mean()


def seed_spread(finished: pd.DataFrame, method: str, files: list[str]) -> tuple[float, float, int]:
    """(lowest, highest) per-seed mean VUS-PR over those of ``files`` all of ``method``'s seeds ran, and their count."""
    mine = finished[(finished["method"] == method) & finished["file"].isin(files)]
    wide = mine.pivot_table(index="file", columns="seed", values="vus_pr").dropna()
    if wide.shape[1] < 2 or not len(wide):
        return np.nan, np.nan, len(wide)
    means = wide.mean()
    return float(means.min()), float(means.max()), len(wide)


def cell(value: float, spec: str = ".3f") -> str:
    """``value`` formatted, or n/a when it is not finite."""
    return format(value, spec) if np.isfinite(value) else "n/a"


def overall_table(finished: pd.DataFrame, common: list[str], order: list[str]) -> list[str]:
    """The leaderboard rows: seed-averaged means over the common files, ranked by VUS-PR."""
    means = seed_means(finished).reset_index()
    means = means[means["file"].isin(common)].groupby("method")[list(METRICS.values())].mean()
    ranked = sorted(order, key=lambda m: -means.loc[m, "vus_pr"])
    titles = ["rank", "method", *METRICS, "VUS-PR over seeds (files)", "seeds", "files", "steps", "early stop", "s / file"]
    lines = ["| " + " | ".join(titles) + " |", "|---" * len(titles) + "|"]
    for rank, method in enumerate(ranked, 1):
        mine = finished[finished["method"] == method]
        low, high, files = seed_spread(finished, method, common)
        spread = f"{low:.3f}-{high:.3f} ({files})" if np.isfinite(low) else "-"
        steps = cell(mine["steps"].mean(), ".0f") if mine["steps"].notna().any() else "-"
        stopped = cell(mine["early_stopped"].mean(), ".0%") if mine["early_stopped"].notna().any() else "-"
        n_seeds = mine["seed"].nunique()
        lines.append("| " + " | ".join([
            str(rank), method, *(cell(means.loc[method, key]) for key in METRICS.values()), spread,
            str(n_seeds) if n_seeds else "-", str(mine["file"].nunique()), steps, stopped, cell(mine["seconds"].mean(), ".1f"),
        ]) + " |")
    return lines


def source_cell(finished: pd.DataFrame, method: str, files: list[str]) -> str:
    """Mean VUS-PR over ``files`` (seed-averaged per file), ``± sd`` over seeds when every file ran at several."""
    mine = finished[(finished["method"] == method) & finished["file"].isin(files)]
    wide = mine.pivot_table(index="file", columns="seed", values="vus_pr")
    text = cell(mine.groupby("file")["vus_pr"].mean().mean())
    if wide.shape[1] > 1 and len(wide) == len(files) and wide.notna().all().all():
        text += f" ± {wide.mean().std(ddof=1):.3f}"
    return text


def source_tables(finished: pd.DataFrame, common: list[str], order: list[str]) -> tuple[list[str], list[str]]:
    """(VUS-PR per source and over all common files, seconds per file per source) as markdown rows."""
    by_source = by_dataset(common)
    sources = list(by_source)
    head = ["method", *(f"{s} ({len(by_source[s])})" for s in sources)]
    vus = ["| " + " | ".join([*head, f"all ({len(common)})"]) + " |", "|---" * (len(head) + 1) + "|"]
    cost = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    for method in order:
        mine = finished[finished["method"] == method]
        vus.append("| " + " | ".join([method, *(source_cell(finished, method, by_source[s]) for s in sources), source_cell(finished, method, common)]) + " |")
        cost.append("| " + " | ".join([method, *(cell(mine[mine["file"].isin(by_source[s])]["seconds"].mean(), ".1f") for s in sources)]) + " |")
    return vus, cost


def paired_summary(label: str, mine: pd.Series, theirs: pd.Series, partner: str) -> dict:
    """One table row: ``mine`` against ``theirs`` (VUS-PR per file, same files): means, W/L/T, the Wilcoxon p."""
    differences = (mine - theirs).to_numpy()
    p, why = paired_test(differences, partner)
    return {"label": label, "files": len(differences), "target": mine.mean(), "mean": theirs.mean(), "delta": differences.mean(),
            "wlt": wins_losses_ties(differences), "p": p, "why": why}


def paired_row(per_file: pd.Series, target: str, other: str, files: list[str], label: str) -> dict:
    """``target`` against ``other`` over ``files`` (per-file seed-mean VUS-PR)."""
    return paired_summary(label, per_file.loc[target].reindex(files), per_file.loc[other].reindex(files), other)


def paired_lines(rows: list[dict], titles: tuple[str, str, str]) -> list[str]:
    """Markdown rows of paired comparisons (titles: first column, the compared one, the other); an n/a p carries its reason."""
    titles = [titles[0], "files", f"{titles[1]} VUS-PR", f"{titles[2]} VUS-PR", "Δ", "W / L / T", "p"]
    lines = ["| " + " | ".join(titles) + " |", "|---" * len(titles) + "|"]
    for row in rows:
        p = f"{row['p']:.3g}" if row["p"] is not None else f"n/a ({row['why']})"
        lines.append(f"| {row['label']} | {row['files']} | {row['target']:.3f} | {row['mean']:.3f} | {row['delta']:+.3f} | "
                     + " / ".join(map(str, row["wlt"])) + f" | {p} |")
    return lines


def target_lines(finished: pd.DataFrame, common: list[str], order: list[str], target: str) -> list[str]:
    """``target`` against every other method, then against the best of them per source."""
    if target not in order:
        raise ConfigError(f"--target {target}: no finished run of it; the methods are {', '.join(order)}.")
    per_file = finished.groupby(["method", "file"])["vus_pr"].mean()
    rows = [paired_row(per_file, target, other, common, other) for other in order if other != target]
    if not rows:
        return []
    rows.sort(key=lambda row: -row["mean"])
    best = rows[0]["label"]
    per_source = [paired_row(per_file, target, best, files, source) for source, files in by_dataset(common).items()]
    return [
        f"## {target} against every other method (paired per file, seed-averaged VUS-PR)", "",
        *paired_lines(rows, ("other method", target, "other")), "",
        f"## {target} against the best of them, {best}, per source", "",
        *paired_lines(per_source, ("source", target, best)),
    ]


def standardised(scores: np.ndarray) -> np.ndarray:
    """``scores`` with mean 0 and standard deviation 1 over the series (all zeros for a constant series)."""
    scores = scores.astype(np.float64)
    spread = scores.std()
    return (scores - scores.mean()) / spread if spread > 0 else np.zeros_like(scores)


def seed_mean_vus(group: pd.DataFrame, labels: np.ndarray) -> float:
    """VUS-PR of one (method, file)'s seed-mean score: its seeds' standardised scores averaged."""
    key, stem = bench.Method(group["method"].iloc[0], "ours", "").key, Path(group["file"].iloc[0]).stem
    scores = [standardised(np.load(Path(folder) / "scores" / key / f"{stem}.npy")) for folder in group["folder"]]
    return threshold_free_metrics(labels, np.mean(scores, axis=0), int(group["window"].iloc[0]))["vus_pr"]


def seed_mean_lines(finished: pd.DataFrame, root: Path) -> list[str]:
    """Each method run at several seeds: one seed against the mean of its seeds' standardised scores, paired per file."""
    several = finished[finished["seed"].notna()].groupby(["method", "file"]).filter(lambda g: g["seed"].nunique() > 1)
    if not len(several):
        return []
    pairs = []
    for file, runs in several.groupby("file", sort=False):
        _, labels, _ = read_file(root / file)
        pairs += [{"method": method, "single": group["vus_pr"].mean(), "ensemble": seed_mean_vus(group, labels)}
                  for method, group in runs.groupby("method", sort=False)]
    rows = [paired_summary(method, mine["ensemble"], mine["single"], "one seed")
            for method, mine in pd.DataFrame(pairs).groupby("method", sort=False)]
    return [
        "## The seed-mean score against one seed", "",
        "Per file where a method ran at several seeds: each seed's scores standardised over the series (mean 0, sd 1; no "
        "label used), averaged over the seeds and scored like every run; one seed: the mean VUS-PR of its single seeds. "
        "What a user gets by training every seed and averaging, at that many times the cost.", "",
        *paired_lines(rows, ("method", "seed-mean score", "one seed")),
    ]


def report(folders: list[Path], target: str | None, root: Path | None = None) -> str:
    """The whole markdown report of the runs under ``folders``."""
    runs = recorded_runs(folders)
    finished = runs[runs["vus_pr"].notna()]
    if not len(finished):
        raise ConfigError("Every recorded run failed: nothing to rank (their errors are in results/).")
    order = list(dict.fromkeys(finished["method"]))
    common = common_files(finished)
    vus, cost = source_tables(finished, common, order)
    failed = runs[runs["vus_pr"].isna()].groupby("method").size()
    seeds = sorted(int(s) for s in finished["seed"].dropna().unique())
    lines = [
        "# Leaderboard over seeds", "",
        f"Folders: {', '.join(f'`{f}`' for f in folders)}. Seeds of the trained methods: {', '.join(map(str, seeds)) or 'none'}. "
        f"Common files (every method finished at least once): {len(common)} of {finished['file'].nunique()}. "
        "Per file, each method's metrics are first averaged over its seeds. Threshold-free metrics on the raw scores: "
        "no point adjustment.", "",
        *overall_table(finished, common, order), "",
        "VUS-PR over seeds: the lowest and highest per-seed mean over the common files all the method's seeds ran (their "
        "count). steps / early stop: our trained runs' optimiser steps and the share patience stopped. s / file: one run.", "",
        "## VUS-PR per source", "", *vus, "", "## Seconds per file per source (one run, one thread)", "", *cost,
    ]
    if target:
        lines += ["", *target_lines(finished, common, order, target)]
    if root is not None:
        lines += ["", *seed_mean_lines(finished, root)]
    if len(failed):
        lines += ["", "Failed runs (not in the tables; their errors are in results/): " + ", ".join(f"{m} {n}" for m, n in failed.items())]
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line arguments."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("folders", nargs="+", help="tools/tsbad_benchmark.py --out folders, one per seed")
    parser.add_argument("--target", help="the method to compare with every other, per file (e.g. kambaad)")
    parser.add_argument("--root", help="folder of the TSB-AD files: adds the seed-mean score of each method run at several seeds")
    parser.add_argument("--out", help=f"the report's file (default: {REPORT} beside the first folder)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Write and print the report; exit 2 on bad arguments or no results."""
    args = parse_args(argv)
    folders = [Path(f) for f in args.folders]
    try:
        text = report(folders, args.target, Path(args.root) if args.root else None)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    out = Path(args.out) if args.out else folders[0].parent / REPORT
    out.write_text(text)
    print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
