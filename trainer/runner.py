"""What ``run.py`` does for each mode: resolve the run folder, build data, detector and trainer
from the config, train, restore the best checkpoint and evaluate."""
from __future__ import annotations

import time
from pathlib import Path

import torch

from trainer.base import BEST, LAST, restore_weights
from util.checkpoint import load_checkpoint
from util.config import config_hash, dumps, load
from util.device import select_device
from util.errors import CheckpointError, ConfigError
from util.logging import setup_logger
from util.profile import parameter_count, profile_flops
from util.registry import DATASETS, DETECTORS, EVALUATORS, TRAINERS
from util.seed import seed_everything

RUNS_ROOT = Path("runs")


def config_name(path: str | Path) -> str:
    """Run-folder name of a config: its file stem (a run's own ``config.py`` maps back to its name)."""
    path = Path(path).resolve()
    if path.name == "config.py" and path.parent.parent.parent.name == RUNS_ROOT.name:
        return path.parent.parent.name
    return path.stem


def new_run_dir(name: str) -> Path:
    """``runs/<name>/<timestamp>``, never an existing folder."""
    base = RUNS_ROOT / name / time.strftime("%Y%m%d-%H%M%S")
    candidate, n = base, 1
    while candidate.exists():
        candidate, n = base.with_name(f"{base.name}-{n}"), n + 1
    return candidate


def train_run_dir(cfg: dict, name: str) -> Path:
    """The folder a training run writes to; refuses to overwrite another run's checkpoints."""
    if cfg["work_dir"] is None:
        run_dir = new_run_dir(name)
    else:
        run_dir = Path(cfg["work_dir"])
        if (run_dir / LAST).exists() and not cfg["trainer"].get("resume", False):
            raise ConfigError(
                f"work_dir={run_dir} already holds a training run. Continue it with trainer.resume=true, "
                "evaluate it with -m test, or choose another work_dir."
            )
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe = run_dir / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise ConfigError(f"Cannot write the run folder {run_dir}: {exc}. Choose a writable work_dir=PATH.") from exc
    return run_dir


def test_checkpoint(cfg: dict, name: str) -> tuple[Path, Path]:
    """(checkpoint file, run folder to write results to) for ``-m test``."""
    if cfg["checkpoint"] is not None:
        ckpt = Path(cfg["checkpoint"])
        ckpt = ckpt / BEST if ckpt.is_dir() else ckpt
        return ckpt, Path(cfg["work_dir"]) if cfg["work_dir"] else ckpt.parent
    if cfg["work_dir"] is not None:
        return Path(cfg["work_dir"]) / BEST, Path(cfg["work_dir"])
    runs = sorted(p for p in (RUNS_ROOT / name).glob("*") if (p / BEST).is_file()) if (RUNS_ROOT / name).is_dir() else []
    if not runs:
        raise CheckpointError(
            f"No trained run of '{name}' under {RUNS_ROOT / name}. Train first (-m train), or pass work_dir=RUN or checkpoint=PATH."
        )
    return runs[-1] / BEST, runs[-1]


def run(config_path: str, mode: str, overrides: list[str]) -> dict | None:
    """Run one mode of ``run.py``; returns the results dict for train/test."""
    cfg = load(config_path, overrides)
    name = config_name(config_path)
    device = select_device(cfg["device"])
    if cfg["num_threads"]:
        torch.set_num_threads(int(cfg["num_threads"]))
    if mode == "train":
        run_dir = train_run_dir(cfg, name)
    elif mode == "test":
        ckpt, run_dir = test_checkpoint(cfg, name)
        if not ckpt.is_file():
            raise CheckpointError(f"Checkpoint not found: {ckpt}. Train first (-m train) or pass checkpoint=PATH.")
        run_dir.mkdir(parents=True, exist_ok=True)
    else:
        run_dir = None
    log = setup_logger(run_dir)
    log.info("config %s (%s), mode %s, device %s%s", config_path, config_hash(cfg), mode, device, f", run folder {run_dir}" if run_dir else "")

    seed_everything(cfg["seed"])
    data = DATASETS.build(cfg["data"]).prepare()
    log.info("data: %s", data.describe())
    seed_everything(cfg["seed"])
    detector = DETECTORS.build(cfg["model"], **data.model_kwargs).to(device)
    params = parameter_count(detector)
    flops, table = profile_flops(detector, {k: v.to(device) for k, v in data.example_batch(1).items()})
    log.info("parameters: %s total, %s trainable; FLOPs per window: %s\n%s", f"{params['total']:,}", f"{params['trainable']:,}", f"{flops:,}" if flops else "n/a", table)
    if mode == "profile":
        print(table)
        return None

    if mode == "train":
        (run_dir / "config.py").write_text(dumps(cfg))
        log.info("resolved config:\n%s", dumps(cfg))
        trainer = TRAINERS.build(cfg["trainer"], detector=detector, data=data, run_dir=run_dir, device=device, seed=cfg["seed"], model_cfg=cfg["model"])
        trainer.fit()
        ckpt = run_dir / BEST
    restore_weights(detector, load_checkpoint(ckpt, map_location=device), cfg["model"], ckpt)
    evaluator = EVALUATORS.build(cfg["evaluation"])
    info = {
        "detector": cfg["model"]["type"],
        "config": name,
        "config_hash": config_hash(cfg),
        "seed": cfg["seed"],
        "checkpoint": str(ckpt),
        "parameters": params["total"],
        "flops_per_window": flops,
    }
    results = evaluator.evaluate(detector, data, run_dir, device, info)
    print((run_dir / "results.md").read_text())
    log.info("results written to %s", run_dir)
    return results
