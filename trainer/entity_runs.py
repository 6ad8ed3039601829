"""``entity_mode=separate``: one model per entity (SMD machine, SMAP/MSL channel, UCR series).

Each entity gets its own sub-run ``<run>/entities/<name>/`` (checkpoints, results, scores,
calibration); a sub-run whose ``results.json`` exists is skipped when training resumes. The run
root then gets ``results.json`` / ``results.md`` aggregating all entities: the metrics on the
concatenated test sets (each entity at its own threshold) and the mean over entities.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from data.timeseries.pipeline import TimeSeriesData
from metric.timeseries import aggregate, compute_metrics
from trainer.base import BEST
from trainer.runner import ENTITIES, run_one
from trainer.ts_evaluator import CONCATENATION, render_markdown, vus_windows
from util import distributed as dist
from util.errors import CheckpointError
from util.logging import get_logger, setup_logger
from util.results import write_results_json

def entity_dir(run_dir: Path, name: str) -> Path:
    """Sub-run folder of one entity."""
    return Path(run_dir) / ENTITIES / name


def run_separate(cfg: dict, data: TimeSeriesData, run_dir: Path, mode: str, device: torch.device, name: str, evaluator) -> dict:  # noqa: ANN001
    """Train (or test) one model per entity of ``data`` (each evaluated by ``evaluator``), then write the aggregate into ``run_dir``."""
    log = get_logger()
    for i, entity in enumerate(data.entities, 1):
        sub_dir = entity_dir(run_dir, entity.name)
        done = (sub_dir / "results.json").is_file()
        if mode == "train" and done:
            log.info("entity %d/%d %s: already done, skipped", i, len(data.entities), entity.name)
            continue
        if mode == "test" and not (sub_dir / BEST).is_file():
            raise CheckpointError(f"Checkpoint not found: {sub_dir / BEST}. Train the run first (-m train entity_mode=separate work_dir={run_dir}).")
        log.info("entity %d/%d %s", i, len(data.entities), entity.name)
        if dist.is_main():
            sub_dir.mkdir(parents=True, exist_ok=True)
        dist.barrier()
        run_one(cfg, TimeSeriesData([entity], data.source), sub_dir, mode, device, name, evaluator, sub_dir / BEST if mode == "test" else None)
    if dist.is_main():
        setup_logger(run_dir)  # -m test pointed the log at the last sub-run
    window = vus_windows(cfg["evaluation"].get("vus_window", 100), {e.name: e.test for e in data.entities})[CONCATENATION]
    results = aggregate_entities(run_dir, [e.name for e in data.entities], data.describe(), window)
    if dist.is_main():
        write_results_json(run_dir / "results.json", results)
        (run_dir / "results.md").write_text(render_markdown(results) + SEPARATE_NOTE)
    return results


SEPARATE_NOTE = (
    "\nentity_mode=separate: one model per entity, each at its own threshold (see entities/<name>/). "
    "The detector row is the concatenation of all entities' test sets; baseline rows are means over entities "
    "(compare with the 'mean over entities' row of the per-entity table).\n"
)


def aggregate_entities(run_dir: Path, names: list[str], description: str, window: int) -> dict:
    """Aggregate the sub-runs' results (see module docstring); ``window`` is the concatenation's VUS buffer."""
    subs = {n: json.loads((entity_dir(run_dir, n) / "results.json").read_text()) for n in names}
    scores, labels, thresholds = [], [], []
    for n in names:
        with np.load(entity_dir(run_dir, n) / "scores.npz") as stored:
            scores.append(stored[f"{n}/scores"])
            labels.append(stored[f"{n}/labels"])
        thresholds.append(np.broadcast_to(np.asarray(subs[n]["threshold"], dtype=np.float64), scores[-1].shape))
    first = subs[names[0]]
    per_entity = {n: subs[n]["metrics"] for n in names}
    concatenation = compute_metrics(np.concatenate(labels), np.concatenate(scores), threshold=np.concatenate(thresholds), window=window)
    results = {
        key: first[key]
        for key in ("detector", "protocol", "threshold_rule", "point_adjustment", "vus_window", "score_features", "scored_features", "label_features", "versions", "config", "config_hash", "seed")
        if key in first
    }
    results |= {
        "vus_windows": {n: subs[n].get("vus_windows", {}).get(n, window) for n in names} | {CONCATENATION: window},
        "entity_mode": "separate",
        "metrics": concatenation,
        "threshold": {n: subs[n]["threshold"] for n in names},
        "mean_over_entities": aggregate(per_entity),
        "per_entity": per_entity,
        "dataset": {"description": f"{description}; one model per entity", "entities": names},
    }
    if "all_features" in first:  # each entity's model scored from all features too: their mean
        results["all_features"] = {"mean_over_entities": aggregate({n: subs[n]["all_features"]["metrics"] for n in names})}
    if "baselines" in first:
        results["baselines"] = {b: aggregate({n: subs[n]["baselines"][b] for n in names}) for b in first["baselines"]}
        results["baselines_mean_over_entities"] = results["baselines"]
    return results
