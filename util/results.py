"""Writing results files."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np


def json_safe(value: Any) -> Any:
    """A JSON-serialisable copy: NaN/inf become None (undefined metrics), numpy scalars Python numbers."""
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return float(value) if np.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def write_results_json(path: Path, results: dict) -> None:
    """``results`` as indented JSON at ``path`` (undefined values as null)."""
    Path(path).write_text(json.dumps(json_safe(results), indent=2))
