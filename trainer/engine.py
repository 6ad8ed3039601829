"""The run core: read the data, build a detector for it, train it, restore a checkpoint, evaluate
and write the results into the run folder.

``run.py``'s modes (``trainer.runner``), one model per entity (``trainer.entity_runs``),
``-m predict`` and the Python API (``trainer.api``) all run through these functions; what
differs between time series and images is the evaluator's (``trainer.evaluator``).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from model.detectors.base import Detector
from model.profile import parameter_count, profile_flops
from trainer.base import restore_weights
from trainer.evaluator import Evaluator
from trainer.run_folder import RunFolder
from util import distributed as dist
from util.checkpoint import load_checkpoint
from util.config import config_hash
from util.logging import get_logger, setup_logger
from util.registry import DATASETS, DETECTORS, TRAINERS
from util.seed import seed_everything

_FLOP_COUNTS: dict[tuple, tuple[int | None, str]] = {}  # (model config, shape, device) -> (FLOPs, table)


@dataclass(frozen=True)
class RunContext:
    """What one run (or one entity's sub-run) works with.

    Args:
        cfg: the resolved config.
        name: the config's name (recorded in the results).
        data: the prepared data (``prepare_data``).
        folder: the run folder it trains into and writes its results to.
        device: where the detector runs.
        evaluator: the evaluator built from ``cfg["evaluation"]``.
    """

    cfg: dict
    name: str
    data: Any
    folder: RunFolder
    device: torch.device
    evaluator: Evaluator

    def sub_run(self, data: Any, folder: RunFolder) -> RunContext:
        """The same run on part of the data, written to ``folder`` (one entity's sub-run)."""
        return replace(self, data=data, folder=folder)


def prepare_data(cfg: dict) -> Any:
    """The dataset of ``cfg["data"]``, read and prepared (seeded first)."""
    seed_everything(cfg["seed"])
    data = DATASETS.build(cfg["data"]).prepare()
    get_logger().info("data: %s", data.describe())
    return data


def build_detector(cfg: dict, data: Any, device: torch.device, log_table: bool = True) -> tuple[Detector, str, dict]:
    """(seeded detector on ``device``, FLOP table, facts for results) for ``data``; the table is
    logged with the parameter count unless ``log_table`` is False (``-m profile`` prints it)."""
    seed_everything(cfg["seed"])
    detector = DETECTORS.build(cfg["model"], **data.model_kwargs).to(device)
    params = parameter_count(detector)
    key = (config_hash(cfg["model"]), tuple(sorted(data.model_kwargs.items())), str(device))
    if key not in _FLOP_COUNTS:  # the entities of an entity_mode=separate run share one architecture: count once
        _FLOP_COUNTS[key] = profile_flops(detector, {k: v.to(device) for k, v in data.example_batch(1).items()})
    flops, table = _FLOP_COUNTS[key]
    get_logger().info("parameters: %s total, %s trainable; FLOPs per window: %s%s",
                      f"{params['total']:,}", f"{params['trainable']:,}", f"{flops:,}" if flops else "n/a", f"\n{table}" if log_table else "")
    if facts := detector.extra_repr_info():  # e.g. the scan backend that runs and why
        get_logger().info("detector: %s", "; ".join(f"{key}: {value}" for key, value in facts.items()))
    return detector, table, {"parameters": params["total"], "flops_per_window": flops}


def train(ctx: RunContext, detector: Detector) -> Path:
    """Fit ``detector`` on ``ctx.data`` with the configured trainer, checkpointing into ``ctx.folder``;
    returns the best checkpoint (every process waits until it is written)."""
    cfg = ctx.cfg
    trainer = TRAINERS.build(
        cfg["trainer"], detector=detector, data=ctx.data, run_dir=ctx.folder.path, device=ctx.device, seed=cfg["seed"], model_cfg=cfg["model"], cpu_config=cfg.get("cpu_config")
    )
    trainer.fit()
    dist.barrier()
    return ctx.folder.best


def restore(detector: Detector, ckpt: Path, model_cfg: dict, device: torch.device) -> None:
    """Load the weights of ``ckpt`` into ``detector``, refusing a checkpoint of another model config."""
    restore_weights(detector, load_checkpoint(ckpt, map_location=device), model_cfg, ckpt)


def evaluate(ctx: RunContext, detector: Detector, ckpt: Path, facts: dict) -> dict:
    """Evaluate the restored ``detector`` (from ``ckpt``) into ``ctx.folder``; returns the results."""
    cfg = ctx.cfg
    info = {"detector": cfg["model"]["type"], "config": ctx.name, "config_hash": config_hash(cfg), "seed": cfg["seed"], "checkpoint": str(ckpt), **facts}
    results = ctx.evaluator.evaluate(detector, ctx.data, ctx.folder, ctx.device, info)
    if dist.is_main():
        ctx.evaluator.finalize(ctx.folder, ctx.data, results)
    return results


def run_one(ctx: RunContext, ckpt: Path | None = None) -> dict:
    """Build the detector and check the evaluation can run; train it into ``ctx.folder`` (``ckpt`` None)
    or test the checkpoint ``ckpt``; restore the best weights and evaluate into ``ctx.folder``."""
    detector, _, facts = build_detector(ctx.cfg, ctx.data, ctx.device)
    ctx.evaluator.check(detector, ctx.data)
    testing = ckpt is not None
    if not testing:
        ckpt = train(ctx, detector)
    restore(detector, ckpt, ctx.cfg["model"], ctx.device)
    if testing and dist.is_main():  # log into the run folder only once its checkpoint fits
        ctx.folder.path.mkdir(parents=True, exist_ok=True)
        setup_logger(ctx.folder.path)
    return evaluate(ctx, detector, ckpt, facts)
