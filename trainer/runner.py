"""What ``run.py`` does for each mode: resolve the run folder, set up logging, and turn the mode
into calls of the run core (``trainer.engine``): train then evaluate, evaluate a trained run
(jointly over the entities, or one model per entity with ``entity_mode=separate``), profile, or
score new data (``trainer.predict``); errors before the first checkpoint remove what they created."""
from __future__ import annotations

import time
from pathlib import Path

import torch

from trainer.engine import RunContext, build_detector, prepare_data, run_one
from trainer.entity_runs import run_separate
from trainer.predict import predict
from trainer.run_folder import RunFolder
from util import distributed as dist
from util.config import config_hash, dumps, load
from util.device import select_device
from util.errors import CheckpointError, ConfigError, Interrupted, UserError
from util.folders import missing_folders, remove_created, unused_path
from util.logging import setup_logger
from util.registry import EVALUATORS
from util.seed import set_deterministic
from util.threads import configure_threads

RUNS_ROOT = Path("runs")
ENTITY_MODES = ("joint", "separate")
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
    if path.name == RunFolder.CONFIG and path.parent.parent.parent.name == RUNS_ROOT.name:
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


def check_resume_config(cfg: dict, folder: RunFolder) -> None:
    """Refuse to resume ``folder`` with a config that differs from its own beyond ``RESUMABLE``."""
    if not folder.config.is_file():
        return
    saved = _flatten(folder.read_config())
    current = _flatten(cfg)
    fixed = lambda key: not any(key == k or key.startswith(k + ".") for k in RESUMABLE)  # noqa: E731
    diff = sorted(k for k in set(saved) | set(current) if fixed(k) and saved.get(k, "<unset>") != current.get(k, "<unset>"))
    if diff:
        shown = "; ".join(f"{k}: {saved.get(k, '<unset>')!r} -> {current.get(k, '<unset>')!r}" for k in diff[:5])
        raise ConfigError(
            f"trainer.resume=true: work_dir={folder} was trained with a different config ({shown}). "
            f"Resume with the run's own config (python run.py -c {folder.config} -m train trainer.resume=true work_dir={folder}) "
            "or choose another work_dir."
        )


def train_run_dir(cfg: dict, name: str) -> tuple[RunFolder, list[Path]]:
    """(the folder a training run writes to, the folders creating it added); refuses to
    overwrite another run's checkpoints."""
    folder = RunFolder(new_run_dir(name) if cfg["work_dir"] is None else cfg["work_dir"])
    if cfg["work_dir"] is not None and folder.has_training_run():
        if not cfg["trainer"].get("resume", False):
            raise ConfigError(
                f"work_dir={folder} already holds a training run. Continue it with trainer.resume=true, "
                "evaluate it with -m test, or choose another work_dir."
            )
        check_resume_config(cfg, folder)
    created = missing_folders(folder.path)
    try:
        folder.path.mkdir(parents=True, exist_ok=True)
        probe = folder.path / f".write-test-{dist.rank()}"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        remove_created(created)
        raise ConfigError(f"Cannot write the run folder {folder}: {exc}. Choose a writable work_dir=PATH.") from exc
    for stale in folder.path.glob(".*.tmp-*"):  # half-written checkpoints of a killed run
        stale.unlink(missing_ok=True)
    return folder, created


def discard_unfinished(folder: RunFolder, created: list[Path]) -> bool:
    """Remove the folders a failed training command created when no checkpoint was written
    (they hold only its log); returns whether the run folder is gone."""
    if not created or folder.has_checkpoint():
        return False
    setup_logger(None)  # closes the run folder's log file
    remove_created(created)
    return True


def test_checkpoint(cfg: dict, name: str) -> tuple[Path, RunFolder]:
    """(checkpoint file, run folder to write results to) for ``-m test`` / ``-m predict``."""
    if cfg["checkpoint"] is not None:
        ckpt = Path(cfg["checkpoint"])
        ckpt = RunFolder(ckpt).best if ckpt.is_dir() else ckpt
        return ckpt, RunFolder(cfg["work_dir"] or ckpt.parent)
    if cfg["work_dir"] is not None:
        folder = RunFolder(cfg["work_dir"])
        return folder.best, folder
    runs = [RunFolder(p) for p in sorted((RUNS_ROOT / name).glob("*"))] if (RUNS_ROOT / name).is_dir() else []
    trained = [f for f in runs if f.best.is_file() or f.has_entities()]
    if not trained:
        raise CheckpointError(
            f"No trained run of '{name}' under {RUNS_ROOT / name}. Train first (-m train), or pass work_dir=RUN or checkpoint=PATH."
        )
    return trained[-1].best, trained[-1]


def _check_entity_mode(cfg: dict) -> str:
    mode = cfg.get("entity_mode", "joint")
    if mode not in ENTITY_MODES:
        raise ConfigError(f"entity_mode='{mode}' is unknown; use joint (one model over all entities) or separate (one model per entity).")
    return mode


def _check_test_layout(entity_mode: str, ckpt: Path, folder: RunFolder) -> None:
    """``-m test``: the run must exist and have been trained with this ``entity_mode``."""
    separate_run = folder.has_entities() and not ckpt.is_file()
    if entity_mode == "joint" and separate_run:
        raise ConfigError(f"{folder} holds one model per entity (trained with entity_mode=separate); test it with entity_mode=separate.")
    if entity_mode == "separate" and ckpt.is_file() and not folder.has_entities():
        raise ConfigError(f"{folder} holds one model over all entities (trained with entity_mode=joint); test it without entity_mode=separate.")
    if entity_mode == "joint" and not ckpt.is_file():
        raise CheckpointError(f"Checkpoint not found: {ckpt}. Train first (-m train) or pass checkpoint=PATH.")


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
        return predict(cfg, *test_checkpoint(cfg, name), device)

    folder, ckpt, created = None, None, []
    if mode == "train":
        folder, created = dist.broadcast_object(train_run_dir(cfg, name) if dist.is_main() else (None, []))
        if dist.is_main():
            setup_logger(folder.path)
    elif mode == "test":
        ckpt, folder = test_checkpoint(cfg, name)
        _check_test_layout(entity_mode, ckpt, folder)
    try:
        log.info("config %s (%s), mode %s, device %s, %d compute threads%s", config_path, config_hash(cfg), mode, device, torch.get_num_threads(),
                 f", run folder {folder}" if folder else "")
        data = prepare_data(cfg)
        if mode == "profile":
            print(build_detector(cfg, data, device, log_table=False)[1])
            return None
        ctx = RunContext(cfg, name, data, folder, device, evaluator)
        if mode == "train" and dist.is_main():
            folder.write_config(cfg)
            log.info("resolved config:\n%s", dumps(cfg))
        results = run_separate(ctx, train=mode == "train") if entity_mode == "separate" else run_one(ctx, ckpt)
    except (UserError, KeyboardInterrupt) as exc:
        gone = mode == "train" and dist.is_main() and discard_unfinished(folder, created)
        if isinstance(exc, KeyboardInterrupt) and mode == "train":
            if folder.has_checkpoint():
                hint = f"continue the run with: python run.py -c {folder.config} -m train trainer.resume=true work_dir={folder}"
            else:
                hint = f"no checkpoint was written yet{f', so the run folder {folder} was removed' if gone else ''}; start the run again."
            raise Interrupted(hint) from exc
        raise
    if dist.is_main():
        if report:
            print(folder.report.read_text())
        log.info("results written to %s", folder)
    return results
