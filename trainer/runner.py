"""What ``run.py`` does for each mode: resolve the run folder, build data, detector and trainer
from the config, train, restore the best checkpoint and evaluate (jointly over the entities, or
one model per entity with ``entity_mode=separate``); ``predict`` scores new data."""
from __future__ import annotations

import json
import time
from pathlib import Path

import torch

from trainer.base import BEST, LAST, restore_weights
from util import distributed as dist
from util.checkpoint import load_checkpoint
from util.config import config_hash, dumps, load
from util.device import select_device
from util.errors import CheckpointError, ConfigError
from util.logging import get_logger, setup_logger
from util.profile import parameter_count, profile_flops
from util.registry import DATASETS, DETECTORS, EVALUATORS, TRAINERS
from util.seed import seed_everything
from util.threads import configure_threads

RUNS_ROOT = Path("runs")
ENTITY_MODES = ("joint", "separate")
CALIBRATION = "calibration.json"
# Command-line spellings of run-level keys (the issue's ``data.path=new.csv``): they are not
# dataset constructor arguments, so they live in top-level sections of the config.
ALIASES = {"data.path": "predict.path", "data.entity_mode": "entity_mode", "data.timestamp_column": "predict.timestamp_column"}
# Keys a resumed run may change; anything else must match the run's saved config.py.
RESUMABLE = ("work_dir", "checkpoint", "device", "num_threads", "evaluation", "predict",
             "trainer.epochs", "trainer.max_steps", "trainer.resume", "trainer.progress", "trainer.log_every", "trainer.patience")


def expand_aliases(overrides: list[str]) -> list[str]:
    """Rewrite alias keys (``data.path=x`` -> ``predict.path=x``)."""
    out = []
    for item in overrides:
        key, sep, value = item.partition("=")
        out.append(f"{ALIASES.get(key.strip(), key)}{sep}{value}")
    return out


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


def _flatten(node: object, prefix: str = "") -> dict[str, object]:
    if not isinstance(node, dict):
        return {prefix: node}
    out: dict[str, object] = {}
    for key, value in node.items():
        out.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return out


def check_resume_config(cfg: dict, run_dir: Path) -> None:
    """Refuse to resume ``run_dir`` with a config that differs from its own beyond ``RESUMABLE``."""
    saved_file = run_dir / "config.py"
    if not saved_file.is_file():
        return
    saved = _flatten(load(saved_file))
    current = _flatten(cfg)
    fixed = lambda key: not any(key == k or key.startswith(k + ".") for k in RESUMABLE)  # noqa: E731
    diff = sorted(k for k in set(saved) | set(current) if fixed(k) and saved.get(k, "<unset>") != current.get(k, "<unset>"))
    if diff:
        shown = "; ".join(f"{k}: {saved.get(k, '<unset>')!r} -> {current.get(k, '<unset>')!r}" for k in diff[:5])
        raise ConfigError(
            f"trainer.resume=true: work_dir={run_dir} was trained with a different config ({shown}). "
            f"Resume with the run's own config (python run.py -c {saved_file} -m train trainer.resume=true work_dir={run_dir}) "
            "or choose another work_dir."
        )


def train_run_dir(cfg: dict, name: str) -> Path:
    """The folder a training run writes to; refuses to overwrite another run's checkpoints."""
    if cfg["work_dir"] is None:
        run_dir = new_run_dir(name)
    else:
        run_dir = Path(cfg["work_dir"])
        has_run = (run_dir / LAST).exists() or (run_dir / "entities").is_dir()
        if has_run and not cfg["trainer"].get("resume", False):
            raise ConfigError(
                f"work_dir={run_dir} already holds a training run. Continue it with trainer.resume=true, "
                "evaluate it with -m test, or choose another work_dir."
            )
        if has_run:
            check_resume_config(cfg, run_dir)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe = run_dir / f".write-test-{dist.rank()}"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise ConfigError(f"Cannot write the run folder {run_dir}: {exc}. Choose a writable work_dir=PATH.") from exc
    for stale in run_dir.glob(".*.tmp-*"):  # half-written checkpoints of a killed run
        stale.unlink(missing_ok=True)
    return run_dir


def test_checkpoint(cfg: dict, name: str) -> tuple[Path, Path]:
    """(checkpoint file, run folder to write results to) for ``-m test`` / ``-m predict``."""
    if cfg["checkpoint"] is not None:
        ckpt = Path(cfg["checkpoint"])
        ckpt = ckpt / BEST if ckpt.is_dir() else ckpt
        return ckpt, Path(cfg["work_dir"]) if cfg["work_dir"] else ckpt.parent
    if cfg["work_dir"] is not None:
        return Path(cfg["work_dir"]) / BEST, Path(cfg["work_dir"])
    runs = sorted(p for p in (RUNS_ROOT / name).glob("*") if (p / BEST).is_file() or (p / "entities").is_dir()) if (RUNS_ROOT / name).is_dir() else []
    if not runs:
        raise CheckpointError(
            f"No trained run of '{name}' under {RUNS_ROOT / name}. Train first (-m train), or pass work_dir=RUN or checkpoint=PATH."
        )
    return runs[-1] / BEST, runs[-1]


def _check_entity_mode(cfg: dict) -> str:
    mode = cfg.get("entity_mode", "joint")
    if mode not in ENTITY_MODES:
        raise ConfigError(f"entity_mode='{mode}' is unknown; use joint (one model over all entities) or separate (one model per entity).")
    return mode


def run(config_path: str, mode: str, overrides: list[str]) -> dict | None:
    """Run one mode of ``run.py``; returns the results dict for train/test/predict."""
    cfg = load(config_path, expand_aliases(overrides))
    name = config_name(config_path)
    entity_mode = _check_entity_mode(cfg)
    device = dist.init_from_env(select_device(cfg["device"]))
    threads = configure_threads(cfg["num_threads"], int(cfg["data"].get("num_workers", 0)))
    log = setup_logger(None)
    if not dist.is_main():
        log.setLevel("WARNING")
    if mode == "predict":
        from trainer.predict import predict

        return predict(cfg, *test_checkpoint(cfg, name), device)

    run_dir = ckpt = None
    if mode == "train":
        run_dir = dist.broadcast_object(train_run_dir(cfg, name) if dist.is_main() else None)
        if dist.is_main():
            setup_logger(run_dir)
    elif mode == "test":
        ckpt, run_dir = test_checkpoint(cfg, name)
        if entity_mode == "joint" and not ckpt.is_file():
            raise CheckpointError(f"Checkpoint not found: {ckpt}. Train first (-m train) or pass checkpoint=PATH.")
    log.info("config %s (%s), mode %s, device %s, %d compute threads%s", config_path, config_hash(cfg), mode, device, threads,
             f", run folder {run_dir}" if run_dir else "")

    seed_everything(cfg["seed"])
    data = DATASETS.build(cfg["data"]).prepare()
    log.info("data: %s", data.describe())
    if mode == "profile":
        print(build_detector(cfg, data, device)[1])
        return None
    if mode == "train" and dist.is_main():
        (run_dir / "config.py").write_text(dumps(cfg))
        log.info("resolved config:\n%s", dumps(cfg))
    if entity_mode == "separate":
        from trainer.entity_runs import run_separate

        results = run_separate(cfg, data, run_dir, mode, device, name)
    else:
        results = run_one(cfg, data, run_dir, mode, device, name, ckpt)
    if dist.is_main():
        print((run_dir / "results.md").read_text())
        log.info("results written to %s", run_dir)
    return results


def build_detector(cfg: dict, data, device: torch.device) -> tuple[torch.nn.Module, str, dict]:  # noqa: ANN001
    """(seeded detector on ``device``, FLOP table, facts for results) for ``data``."""
    seed_everything(cfg["seed"])
    detector = DETECTORS.build(cfg["model"], **data.model_kwargs).to(device)
    params = parameter_count(detector)
    flops, table = profile_flops(detector, {k: v.to(device) for k, v in data.example_batch(1).items()})
    get_logger().info("parameters: %s total, %s trainable; FLOPs per window: %s\n%s", f"{params['total']:,}", f"{params['trainable']:,}", f"{flops:,}" if flops else "n/a", table)
    return detector, table, {"parameters": params["total"], "flops_per_window": flops}


def run_one(cfg: dict, data, run_dir: Path, mode: str, device: torch.device, name: str, ckpt: Path | None = None) -> dict:  # noqa: ANN001
    """Train (``mode == "train"``) or load ``ckpt``, then evaluate ``data`` into ``run_dir``."""
    detector, _, facts = build_detector(cfg, data, device)
    if mode == "train":
        trainer = TRAINERS.build(cfg["trainer"], detector=detector, data=data, run_dir=run_dir, device=device, seed=cfg["seed"], model_cfg=cfg["model"])
        trainer.fit()
        dist.barrier()
        ckpt = run_dir / BEST
    restore_weights(detector, load_checkpoint(ckpt, map_location=device), cfg["model"], ckpt)
    if mode == "test" and dist.is_main():  # log into the run folder only once its checkpoint fits
        run_dir.mkdir(parents=True, exist_ok=True)
        setup_logger(run_dir)
    info = {"detector": cfg["model"]["type"], "config": name, "config_hash": config_hash(cfg), "seed": cfg["seed"], "checkpoint": str(ckpt), **facts}
    results = EVALUATORS.build(cfg["evaluation"]).evaluate(detector, data, run_dir, device, info)
    if dist.is_main() and data.family == "timeseries":  # predict (time series only) reads it
        write_calibration(run_dir, data, results)
    return results


def write_calibration(run_dir: Path, data, results: dict) -> None:  # noqa: ANN001
    """What ``-m predict`` needs without the training data: threshold, window, scaler statistics."""
    calibration = {
        "threshold": results["threshold"],
        "threshold_rule": results.get("threshold_rule"),
        "window": data.window,
        "test_stride": data.test_stride,
        "batch_size": data.batch_size,
        "n_features": data.n_features,
        "scalers": {e.name: {"shift": e.shift.tolist(), "scale": e.scale.tolist()} for e in data.entities},
        "score_scaling": results.get("score_scaling", {}),  # per entity (evaluation.entity_scaling=val); empty: raw scores
    }
    (run_dir / CALIBRATION).write_text(json.dumps(calibration, indent=1))
