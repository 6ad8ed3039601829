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
from util.errors import CheckpointError, ConfigError, Interrupted, UserError
from util.folders import missing_folders, remove_created, unused_path
from util.logging import get_logger, setup_logger
from util.profile import parameter_count, profile_flops
from util.registry import DATASETS, DETECTORS, EVALUATORS, TRAINERS
from util.seed import seed_everything, set_deterministic
from util.threads import configure_threads

RUNS_ROOT = Path("runs")
ENTITY_MODES = ("joint", "separate")
ENTITIES = "entities"  # sub-runs of an entity_mode=separate run
CALIBRATION = "calibration.json"
# Command-line spellings of run-level keys (``data.path=new.csv``): they are not dataset
# constructor arguments, so they live in top-level sections of the config. (Dataset keys such
# as data.timestamp_column are never aliased: the loaders read them.)
ALIASES = {"data.path": "predict.path", "data.entity_mode": "entity_mode"}
# Keys a resumed run may change; anything else must match the run's saved config.py.
RESUMABLE = ("work_dir", "checkpoint", "device", "num_threads", "deterministic", "cpu_config", "evaluation", "predict",
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
    return unused_path(RUNS_ROOT / name / time.strftime("%Y%m%d-%H%M%S"))


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


def train_run_dir(cfg: dict, name: str) -> tuple[Path, list[Path]]:
    """(the folder a training run writes to, the folders creating it added); refuses to
    overwrite another run's checkpoints."""
    if cfg["work_dir"] is None:
        run_dir = new_run_dir(name)
    else:
        run_dir = Path(cfg["work_dir"])
        has_run = (run_dir / LAST).exists() or (run_dir / ENTITIES).is_dir()
        if has_run and not cfg["trainer"].get("resume", False):
            raise ConfigError(
                f"work_dir={run_dir} already holds a training run. Continue it with trainer.resume=true, "
                "evaluate it with -m test, or choose another work_dir."
            )
        if has_run:
            check_resume_config(cfg, run_dir)
    created = missing_folders(run_dir)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe = run_dir / f".write-test-{dist.rank()}"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        remove_created(created)
        raise ConfigError(f"Cannot write the run folder {run_dir}: {exc}. Choose a writable work_dir=PATH.") from exc
    for stale in run_dir.glob(".*.tmp-*"):  # half-written checkpoints of a killed run
        stale.unlink(missing_ok=True)
    return run_dir, created


def has_checkpoint(run_dir: Path) -> bool:
    """Whether ``run_dir`` holds a training checkpoint (its own or an entity sub-run's)."""
    return (run_dir / LAST).is_file() or any((run_dir / ENTITIES).glob(f"*/{LAST}"))


def discard_unfinished(run_dir: Path, created: list[Path]) -> bool:
    """Remove the folders a failed training command created when no checkpoint was written
    (they hold only its log); returns whether the run folder is gone."""
    if not created or has_checkpoint(run_dir):
        return False
    setup_logger(None)  # closes run_dir/log.txt
    remove_created(created)
    return True


def test_checkpoint(cfg: dict, name: str) -> tuple[Path, Path]:
    """(checkpoint file, run folder to write results to) for ``-m test`` / ``-m predict``."""
    if cfg["checkpoint"] is not None:
        ckpt = Path(cfg["checkpoint"])
        ckpt = ckpt / BEST if ckpt.is_dir() else ckpt
        return ckpt, Path(cfg["work_dir"]) if cfg["work_dir"] else ckpt.parent
    if cfg["work_dir"] is not None:
        return Path(cfg["work_dir"]) / BEST, Path(cfg["work_dir"])
    runs = sorted(p for p in (RUNS_ROOT / name).glob("*") if (p / BEST).is_file() or (p / ENTITIES).is_dir()) if (RUNS_ROOT / name).is_dir() else []
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


def _check_test_layout(entity_mode: str, ckpt: Path, run_dir: Path) -> None:
    """``-m test``: the run must exist and have been trained with this ``entity_mode``."""
    separate_run = (run_dir / ENTITIES).is_dir() and not ckpt.is_file()
    if entity_mode == "joint" and separate_run:
        raise ConfigError(f"{run_dir} holds one model per entity (trained with entity_mode=separate); test it with entity_mode=separate.")
    if entity_mode == "separate" and ckpt.is_file() and not (run_dir / ENTITIES).is_dir():
        raise ConfigError(f"{run_dir} holds one model over all entities (trained with entity_mode=joint); test it without entity_mode=separate.")
    if entity_mode == "joint" and not ckpt.is_file():
        raise CheckpointError(f"Checkpoint not found: {ckpt}. Train first (-m train) or pass checkpoint=PATH.")


def check_evaluable(evaluator, data) -> None:  # noqa: ANN001
    """Before any training step: refuse an evaluation that cannot run on ``data`` (validation
    scores needed but no validation split); warn when the test labels hold no anomaly."""
    if data.family != "timeseries":
        return
    needs_val = [f"evaluation.threshold.type={evaluator.threshold_cfg['type']}"] if evaluator.rule.uses_val_scores else []
    needs_val += ["evaluation.entity_scaling=val"] if evaluator.entity_scaling == "val" else []
    if needs_val and any(not len(e.val) for e in data.entities):
        raise ConfigError(
            f"{' and '.join(needs_val)} need{'s' if len(needs_val) == 1 else ''} validation scores, but data.val_fraction={data.source.val_fraction} leaves no "
            "validation split. Set data.val_fraction > 0 (e.g. 0.2), or use a rule that needs none (evaluation.protocol=legacy)."
        )
    clean = [e.name for e in data.entities if not e.test_labels.any()]
    if not clean:
        return
    cut = f" data.max_points={data.source.max_points} cut each test series to its first {data.source.max_points} steps: raise it." if data.source.max_points else " Check the labels."
    if len(clean) == len(data.entities):
        get_logger().warning("The test labels hold no anomaly: AUC, F1, VUS and every other metric that needs one will be n/a.%s", cut)
    else:
        shown = ", ".join(clean[:10]) + (" ..." if len(clean) > 10 else "")
        get_logger().warning("%d of %d entities have no anomaly in their test labels (%s): their own metrics will be n/a.%s", len(clean), len(data.entities), shown, cut)


def run(config_path: str, mode: str, overrides: list[str], report: bool = True) -> dict | None:
    """Run one mode of ``run.py``; returns the results dict for train/test/predict.

    Every part of the config (evaluator and threshold rule included) is built and checked
    against the data before the first training step. A training command that fails or is
    interrupted before its first checkpoint removes the run folder it created. ``report``:
    print ``results.md``.
    """
    cfg = load(config_path, expand_aliases(overrides))
    name = config_name(config_path)
    entity_mode = _check_entity_mode(cfg)
    if entity_mode == "separate" and cfg["data"].get("scaler_scope", "auto") == "auto":
        cfg["data"]["scaler_scope"] = "entity"  # one model per entity: one scaler per entity
    evaluator = EVALUATORS.build(cfg["evaluation"]) if mode != "predict" else None
    set_deterministic(cfg.get("deterministic", False))  # before any CUDA work (cuBLAS reads its workspace setting once)
    device = dist.init_from_env(select_device(cfg["device"]))
    configure_threads(cfg["num_threads"], int(cfg["data"].get("num_workers", 0)))
    log = setup_logger(None)
    if not dist.is_main():
        log.setLevel("WARNING")
    if mode == "predict":
        from trainer.predict import predict

        return predict(cfg, *test_checkpoint(cfg, name), device)

    run_dir = ckpt = None
    created: list[Path] = []
    if mode == "train":
        run_dir, created = dist.broadcast_object(train_run_dir(cfg, name) if dist.is_main() else (None, []))
        if dist.is_main():
            setup_logger(run_dir)
    elif mode == "test":
        ckpt, run_dir = test_checkpoint(cfg, name)
        _check_test_layout(entity_mode, ckpt, run_dir)
    try:
        results = _run_mode(cfg, config_path, mode, name, entity_mode, evaluator, run_dir, ckpt, device)
    except (UserError, KeyboardInterrupt) as exc:
        gone = mode == "train" and dist.is_main() and discard_unfinished(run_dir, created)
        if isinstance(exc, KeyboardInterrupt) and mode == "train":
            if has_checkpoint(run_dir):
                hint = f"continue the run with: python run.py -c {run_dir / 'config.py'} -m train trainer.resume=true work_dir={run_dir}"
            else:
                hint = f"no checkpoint was written yet{f', so the run folder {run_dir} was removed' if gone else ''}; start the run again."
            raise Interrupted(hint) from exc
        raise
    if results is not None and dist.is_main():
        if report:
            print((run_dir / "results.md").read_text())
        log.info("results written to %s", run_dir)
    return results


def _run_mode(cfg: dict, config_path: str, mode: str, name: str, entity_mode: str, evaluator, run_dir: Path | None, ckpt: Path | None, device: torch.device) -> dict | None:  # noqa: ANN001
    """Read the data, then profile, or train and evaluate, or evaluate (see ``run``)."""
    log = get_logger()
    log.info("config %s (%s), mode %s, device %s, %d compute threads%s", config_path, config_hash(cfg), mode, device, torch.get_num_threads(),
             f", run folder {run_dir}" if run_dir else "")
    seed_everything(cfg["seed"])
    data = DATASETS.build(cfg["data"]).prepare()
    log.info("data: %s", data.describe())
    if mode == "profile":
        print(build_detector(cfg, data, device, log_table=False)[1])
        return None
    check_evaluable(evaluator, data)
    if mode == "train" and dist.is_main():
        (run_dir / "config.py").write_text(dumps(cfg))
        log.info("resolved config:\n%s", dumps(cfg))
    if entity_mode == "separate":
        from trainer.entity_runs import run_separate

        return run_separate(cfg, data, run_dir, mode, device, name, evaluator)
    return run_one(cfg, data, run_dir, mode, device, name, evaluator, ckpt)


_FLOP_COUNTS: dict[tuple, tuple[int | None, str]] = {}  # (model config, shape, device) -> (FLOPs, table)


def build_detector(cfg: dict, data, device: torch.device, log_table: bool = True) -> tuple[torch.nn.Module, str, dict]:  # noqa: ANN001
    """(seeded detector on ``device``, FLOP table, facts for results) for ``data``; the table is
    logged with the parameter count unless ``log_table`` is False (``-m profile`` prints it)."""
    seed_everything(cfg["seed"])
    detector = DETECTORS.build(cfg["model"], **data.model_kwargs).to(device)
    params = parameter_count(detector)
    key = (config_hash(cfg["model"]), tuple(sorted(data.model_kwargs.items())), str(device))
    if key not in _FLOP_COUNTS:  # the entities of an entity_mode=separate run share one architecture: count once
        _FLOP_COUNTS[key] = profile_flops(detector, {k: v.to(device) for k, v in data.example_batch(1).items()})
    flops, table = _FLOP_COUNTS[key]
    get_logger().info("parameters: %s total, %s trainable; FLOPs per window: %s%s", f"{params['total']:,}", f"{params['trainable']:,}", f"{flops:,}" if flops else "n/a", f"\n{table}" if log_table else "")
    if facts := detector.extra_repr_info():  # e.g. the scan backend that runs and why
        get_logger().info("detector: %s", "; ".join(f"{key}: {value}" for key, value in facts.items()))
    return detector, table, {"parameters": params["total"], "flops_per_window": flops}


def run_one(cfg: dict, data, run_dir: Path, mode: str, device: torch.device, name: str, evaluator, ckpt: Path | None = None) -> dict:  # noqa: ANN001
    """Train (``mode == "train"``) or load ``ckpt``, then evaluate ``data`` into ``run_dir`` with ``evaluator``."""
    detector, _, facts = build_detector(cfg, data, device)
    if data.family == "timeseries":
        evaluator.check_detector(detector, data)  # before the first step: can it score what evaluation.score_features asks?
    if mode == "train":
        trainer = TRAINERS.build(cfg["trainer"], detector=detector, data=data, run_dir=run_dir, device=device, seed=cfg["seed"], model_cfg=cfg["model"], cpu_config=cfg.get("cpu_config"))
        trainer.fit()
        dist.barrier()
        ckpt = run_dir / BEST
    restore_weights(detector, load_checkpoint(ckpt, map_location=device), cfg["model"], ckpt)
    if mode == "test" and dist.is_main():  # log into the run folder only once its checkpoint fits
        run_dir.mkdir(parents=True, exist_ok=True)
        setup_logger(run_dir)
    info = {"detector": cfg["model"]["type"], "config": name, "config_hash": config_hash(cfg), "seed": cfg["seed"], "checkpoint": str(ckpt), **facts}
    results = evaluator.evaluate(detector, data, run_dir, device, info)
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
        "columns": data.source.columns(),  # feature names, timestamp/label columns, delimiter: predict reads new files the same way
        "scalers": {e.name: {"shift": e.shift.tolist(), "scale": e.scale.tolist()} for e in data.entities},
        "score_scaling": results.get("score_scaling", {}),  # per entity (evaluation.entity_scaling=val); empty: raw scores
        "scored_features": results.get("scored_features"),  # feature indices the score reads (None: all)
    }
    (run_dir / CALIBRATION).write_text(json.dumps(calibration, indent=1))
