"""Which sensor: HitRate@100% / @150% (OmniAnomaly's interpretation score) per SMD machine and over all.

    python tools/interpretation.py --root ../shared/data/SMD --baselines zscore random \\
        [--runs runs/dense_ae_smd/RUN ...] [--set data.entities=[machine-1-2]] [--out runs/interpretation.csv]

Contributions per step and feature (``Detector.feature_contributions``, folded over the
evaluator's test windows) are ranked against ``interpretation_label`` at every labelled step
(``metric.timeseries.interpretation``). ``zscore``: the evaluator's z-score baseline (each
machine's own per-channel |z|). ``random``: uniform random contributions, seeded by the machine's
name as the evaluator's random baseline is. A run folder is read with its own config
(``data.root`` replaced by ``--root``) and its best checkpoint (one per machine for
``entity_mode=separate``). The column ``expected at random`` is the exact expectation of a random
ranking (``random_hitrate``). Rows: machines, their mean, and every labelled step pooled.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

from data.timeseries.base import TimeSeriesData  # noqa: E402
from metric.timeseries.interpretation import PERCENTS, hitrate, random_hitrate  # noqa: E402
from trainer.contributions import series_contributions  # noqa: E402
from trainer.engine import restore  # noqa: E402
from trainer.run_folder import RunFolder  # noqa: E402
from trainer.ts_evaluator import RANDOM_SEED  # noqa: E402
from util.config import load  # noqa: E402
from util.errors import DataError  # noqa: E402
from util.registry import DATASETS, DETECTORS  # noqa: E402

SMD_DATA = REPO / "configs" / "baselines" / "zscore_smd.py"  # its data section reads SMD for the baselines
BASELINES = ("zscore", "random")
Contributions = dict[str, np.ndarray]  # machine name -> (test steps, features)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line arguments."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--root", required=True, help="SMD folder with train/, test/, test_label/ and interpretation_label/")
    parser.add_argument("--baselines", nargs="*", choices=BASELINES, default=list(BASELINES), help="baselines to measure")
    parser.add_argument("--runs", nargs="*", default=[], help="trained run folders (-m train on SMD)")
    parser.add_argument("--set", nargs="*", default=[], metavar="key=value", help="overrides for every data set read (e.g. data.entities=[machine-1-2])")
    parser.add_argument("--device", default="cpu", help="device for the runs' detectors")
    parser.add_argument("--out", help="also write the table as CSV here")
    return parser.parse_args(argv)


def read_smd(cfg: dict) -> tuple[TimeSeriesData, dict[str, list]]:
    """(prepared data, each machine's interpretation segments within its prepared test series)."""
    source = DATASETS.build(cfg["data"])
    labels = {e.name: e.meta.get("interpretation") for e in source.read()}
    data = source.prepare()
    missing = [name for name, segments in labels.items() if segments is None]
    if missing:
        raise DataError(f"No interpretation_label/{missing[0]}.txt under {cfg['data']['root']}; HitRate needs SMD's interpretation labels.")
    lengths = {e.name: len(e.test) for e in data.entities}  # data.max_points may have cut the test series
    return data, {name: [(s, min(e, lengths[name]), d) for s, e, d in segments if s < lengths[name]] for name, segments in labels.items()}


def baseline_contributions(name: str, data: TimeSeriesData) -> Contributions:
    """``zscore`` or ``random`` contributions of every machine's test series."""
    out = {}
    for entity in data.entities:
        if name == "random":
            random = DETECTORS.build(dict(type="random", seed=RANDOM_SEED), **data.model_kwargs)
            out[entity.name] = random.series_scores(entity.name, [entity.test.shape])[0]
            continue
        detector = DETECTORS.build(dict(type="zscore"), **data.model_kwargs)
        detector.use_statistics(*entity.zscore_statistics())
        out[entity.name] = series_contributions(detector, TimeSeriesData([entity], data.source), entity.test, torch.device("cpu"))
    return out


def run_contributions(run_dir: Path, cfg: dict, data: TimeSeriesData, device: torch.device) -> Contributions:
    """A trained run's contributions on every machine (its joint model, or each machine's own)."""
    detector = DETECTORS.build(cfg["model"], **data.model_kwargs).to(device)
    out, folder = {}, RunFolder(run_dir)
    for entity in data.entities:
        ckpt = (folder.entity(entity.name) if folder.has_entities() else folder).best
        restore(detector, ckpt, cfg["model"], device)
        out[entity.name] = series_contributions(detector, TimeSeriesData([entity], data.source), entity.test, device)
    return out


def table(measured: dict[str, Contributions], segments: dict[str, list], n_features: int) -> pd.DataFrame:
    """One row per machine, then their mean and all labelled steps pooled; HitRate columns per detector."""
    rows = []
    for name, machine in segments.items():
        expected = random_hitrate(machine, n_features)
        row = {"machine": name, "steps": sum(e - s for s, e, _ in machine), "segments": len(machine)}
        row |= {f"expected at random @{p}": expected[f"hitrate@{p}"] for p in PERCENTS}
        for detector, contributions in measured.items():
            result = hitrate(contributions[name], machine)
            row |= {f"{detector} @{p}": result[f"hitrate@{p}"] for p in PERCENTS}
        rows.append(row)
    frame = pd.DataFrame(rows)
    rates = [c for c in frame.columns if "@" in c]
    mean = {"machine": f"mean over {len(frame)} machines", "steps": frame["steps"].sum(), "segments": frame["segments"].sum(), **frame[rates].mean()}
    pooled = {"machine": "all labelled steps", "steps": mean["steps"], "segments": mean["segments"],
              **{c: float(np.average(frame[c], weights=frame["steps"])) for c in rates}}
    return pd.concat([frame, pd.DataFrame([mean, pooled])], ignore_index=True)


def main(argv: list[str] | None = None) -> int:
    """Measure and print the table (markdown, rates in %)."""
    args = parse_args(argv)
    overrides = [f"data.root={args.root}", *args.set]
    cfg = load(SMD_DATA, overrides)
    data, segments = read_smd(cfg)
    measured = {name: baseline_contributions(name, data) for name in args.baselines}
    for run in map(Path, args.runs):
        run_cfg = RunFolder(run).read_config(overrides)
        run_data, _ = read_smd(run_cfg)
        measured[f"{run_cfg['model']['type']} ({run.name})"] = run_contributions(run, run_cfg, run_data, torch.device(args.device))
    frame = table(measured, segments, data.n_features)
    if args.out:
        frame.to_csv(args.out, index=False)
    shown = frame.copy()
    rates = [c for c in shown.columns if "@" in c]
    shown[rates] = (100 * shown[rates]).round(1)
    print(shown.to_markdown(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
