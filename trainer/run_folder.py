"""The layout of a run folder: the name of every file a run writes there, and their reading and writing.

    runs/<config>/<timestamp>/   config.py, log.txt, tensorboard/, ckpt_last.pth, ckpt_best.pth,
                                 results.json, results.md, scores.npz, calibration.json,
                                 scores.png, plots/, predict/<file>/, entities/<entity>/ (a sub-run each)
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from util.config import dumps, load
from util.errors import CheckpointError
from util.folders import unused_path
from util.results import write_results_json

LAST, BEST = "ckpt_last.pth", "ckpt_best.pth"  # the training checkpoints (trainer.base writes them)


class RunFolder:
    """One run folder (see the module docstring); a sub-run of one entity is a ``RunFolder`` too."""

    CONFIG = "config.py"
    TENSORBOARD = "tensorboard"  # the training's event files
    RESULTS, REPORT = "results.json", "results.md"
    SCORES = "scores.npz"  # per entity: its test scores and labels
    CALIBRATION = "calibration.json"  # what -m predict needs without the training data
    SCORES_PLOT, PLOTS = "scores.png", "plots"
    PREDICTIONS = "predict"
    ENTITIES = "entities"  # sub-runs of an entity_mode=separate run

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r})"

    def __str__(self) -> str:
        return str(self.path)

    # ------------------------------------------------------------------ paths
    @property
    def config(self) -> Path:
        """The resolved config the run was trained with."""
        return self.path / self.CONFIG

    @property
    def best(self) -> Path:
        """The checkpoint that evaluation restores."""
        return self.path / BEST

    @property
    def last(self) -> Path:
        """The checkpoint that training resumes from."""
        return self.path / LAST

    @property
    def tensorboard(self) -> Path:
        """Folder of the training's TensorBoard events."""
        return self.path / self.TENSORBOARD

    @property
    def results(self) -> Path:
        return self.path / self.RESULTS

    @property
    def report(self) -> Path:
        return self.path / self.REPORT

    @property
    def scores(self) -> Path:
        """Each entity's test scores and labels (``write_scores``)."""
        return self.path / self.SCORES

    @property
    def calibration(self) -> Path:
        return self.path / self.CALIBRATION

    @property
    def scores_plot(self) -> Path:
        return self.path / self.SCORES_PLOT

    @property
    def plots(self) -> Path:
        """Folder of the evaluator's figures."""
        return self.path / self.PLOTS

    def entity(self, name: str) -> RunFolder:
        """The sub-run of one entity (``entity_mode=separate``)."""
        return RunFolder(self.path / self.ENTITIES / name)

    def prediction_folder(self, file_name: str) -> Path:
        """A new folder for ``-m predict``'s outputs on the file ``file_name`` (``-1``, ``-2``, ... when taken)."""
        return unused_path(self.path / self.PREDICTIONS / file_name)

    # ------------------------------------------------------------------ state
    def has_entities(self) -> bool:
        """Whether this run holds one model per entity."""
        return (self.path / self.ENTITIES).is_dir()

    def trained_entities(self) -> list[str]:
        """Names of the entity sub-runs that hold a best checkpoint, sorted."""
        root = self.path / self.ENTITIES
        return sorted(p.name for p in root.iterdir() if (p / BEST).is_file()) if root.is_dir() else []

    def has_training_run(self) -> bool:
        """Whether a training run started here (a checkpoint, or entity sub-runs)."""
        return self.last.exists() or self.has_entities()

    def has_checkpoint(self) -> bool:
        """Whether a training checkpoint was written (the run's own or an entity sub-run's)."""
        return self.last.is_file() or any((self.path / self.ENTITIES).glob(f"*/{LAST}"))

    def is_evaluated(self) -> bool:
        return self.results.is_file()

    # ------------------------------------------------------------ read / write
    def write_config(self, cfg: dict) -> None:
        self.config.write_text(dumps(cfg))

    def read_config(self, overrides: list[str] | tuple[str, ...] = ()) -> dict:
        """The run's config, with ``key=value`` ``overrides``."""
        return load(self.config, overrides)

    def write_results(self, results: dict, markdown: str) -> None:
        """``results.json`` (undefined values as null) and the report ``results.md``."""
        write_results_json(self.results, results)
        self.report.write_text(markdown)

    def read_results(self) -> dict:
        return json.loads(self.results.read_text())

    def write_scores(self, scores: dict[str, np.ndarray], labels: dict[str, np.ndarray]) -> None:
        """Each entity's test scores and labels (``{entity name: (time,)}``)."""
        np.savez_compressed(self.scores, **{f"{n}/scores": s for n, s in scores.items()}, **{f"{n}/labels": y for n, y in labels.items()})

    def read_scores(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """``{entity name: (test scores, test labels)}``, as ``write_scores`` wrote them."""
        with np.load(self.scores) as stored:
            names = sorted({key.rsplit("/", 1)[0] for key in stored.files})
            return {n: (stored[f"{n}/scores"], stored[f"{n}/labels"]) for n in names}

    def write_calibration(self, calibration: dict) -> None:
        self.calibration.write_text(json.dumps(calibration, indent=1))

    def read_calibration(self) -> dict:
        """The calibration (threshold, window, scalers); ``CheckpointError`` when the run was never evaluated."""
        if not self.calibration.is_file():
            raise CheckpointError(
                f"{self.calibration} not found: the run was never evaluated. Evaluate it once (python run.py -c CONFIG -m test work_dir={self.path}), then predict."
            )
        return json.loads(self.calibration.read_text())
