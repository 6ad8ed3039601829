"""What the run core (``trainer.engine``) asks of an evaluator, so that no caller branches on the
data's family: ``check`` before the first training step, ``evaluate`` after training, ``finalize``
once the results are in."""
from __future__ import annotations

from typing import Any

import torch

from model.detectors.base import Detector
from trainer.run_folder import RunFolder


class Evaluator:
    """Base of the registered evaluators (``EVALUATORS``: ``timeseries``, ``image``)."""

    def check(self, detector: Detector, data: Any) -> None:
        """Before the first training step: raise a ``ConfigError`` when this evaluation cannot run on
        ``data`` with ``detector`` (and warn about what it will leave undefined). Nothing by default."""

    def evaluate(self, detector: Detector, data: Any, folder: RunFolder, device: torch.device, info: dict[str, Any] | None = None) -> dict:
        """Score ``data``'s test set, write the reports into ``folder``; return the results (``info`` joins them)."""
        raise NotImplementedError

    def finalize(self, folder: RunFolder, data: Any, results: dict) -> None:
        """After ``evaluate``, on the main process only: write what later commands read from ``folder``. Nothing by default."""
