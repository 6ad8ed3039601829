"""``entity_mode=separate``: one model per entity (SMD machine, SMAP/MSL channel, UCR series).

Each entity gets its own sub-run ``<run>/entities/<name>/`` (checkpoints, results, scores,
calibration); a sub-run whose ``results.json`` exists is skipped when training resumes. The run
root then gets ``results.json`` / ``results.md`` aggregating all entities: the metrics on the
concatenated test sets (each entity at its own threshold) and the mean over entities.
"""
from __future__ import annotations

import numpy as np

from data.timeseries.base import TimeSeriesData
from metric.timeseries import aggregate, compute_metrics
from trainer.engine import RunContext, run_one
from trainer.reports import timeseries_markdown
from trainer.run_folder import RunFolder
from trainer.ts_evaluator import CONCATENATION, vus_windows
from util import distributed as dist
from util.errors import CheckpointError
from util.logging import get_logger, setup_logger


def run_separate(ctx: RunContext, train: bool) -> dict:
    """Train (``train``) or test one model per entity of ``ctx.data``, each in its sub-run of
    ``ctx.folder``, then write the aggregate into ``ctx.folder``."""
    log, data, folder = get_logger(), ctx.data, ctx.folder
    for i, entity in enumerate(data.entities, 1):
        sub = folder.entity(entity.name)
        if train and sub.is_evaluated():
            log.info("entity %d/%d %s: already done, skipped", i, len(data.entities), entity.name)
            continue
        if not train and not sub.best.is_file():
            raise CheckpointError(f"Checkpoint not found: {sub.best}. Train the run first (-m train entity_mode=separate work_dir={folder}).")
        log.info("entity %d/%d %s", i, len(data.entities), entity.name)
        if dist.is_main():
            sub.path.mkdir(parents=True, exist_ok=True)
        dist.barrier()
        run_one(ctx.sub_run(TimeSeriesData([entity], data.source), sub), None if train else sub.best)
    if dist.is_main():
        setup_logger(folder.path)  # -m test pointed the log at the last sub-run
    window = vus_windows(ctx.cfg["evaluation"].get("vus_window", 100), {e.name: e.test for e in data.entities})[CONCATENATION]
    results = aggregate_entities(folder, [e.name for e in data.entities], data.describe(), window)
    if dist.is_main():
        folder.write_results(results, timeseries_markdown(results) + SEPARATE_NOTE)
    return results


SEPARATE_NOTE = (
    "\nentity_mode=separate: one model per entity, each at its own threshold (see entities/<name>/). "
    "The detector row is the concatenation of all entities' test sets; baseline rows are means over entities "
    "(compare with the 'mean over entities' row of the per-entity table).\n"
)


def aggregate_entities(folder: RunFolder, names: list[str], description: str, window: int) -> dict:
    """Aggregate the sub-runs' results (see module docstring); ``window`` is the concatenation's VUS buffer."""
    subs = {n: folder.entity(n).read_results() for n in names}
    scores, labels, thresholds = [], [], []
    for n in names:
        entity_scores, entity_labels = folder.entity(n).read_scores()[n]
        scores.append(entity_scores)
        labels.append(entity_labels)
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
