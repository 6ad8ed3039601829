"""The documented CPU budgets for SMD (configs/<detector>/<detector>_smd_cpu.py): each loads, names
no further alternative, is what its paper config's ``cpu_config`` points at, is smaller than the
paper model, caps its steps, and builds at its own size for SMD's 38 channels (no training)."""
from __future__ import annotations

from pathlib import Path

import pytest

from util import config
from util.registry import DETECTORS

REPO = Path(__file__).resolve().parents[1]
DETECTOR_NAMES = ("kambaad", "anomaly_transformer", "maat", "dcdetector")
SMD_FEATURES = 38


@pytest.mark.parametrize("name", DETECTOR_NAMES)
def test_smd_cpu_config_loads_and_builds(name):
    cpu_path = f"configs/{name}/{name}_smd_cpu.py"
    paper, cpu = config.load(REPO / f"configs/{name}/{name}_smd.py"), config.load(REPO / cpu_path)
    assert paper["cpu_config"] == cpu_path and (REPO / paper["cpu_config"]).is_file()
    assert cpu["cpu_config"] is None
    assert cpu["model"]["type"] == paper["model"]["type"] and cpu["model"]["d_model"] < paper["model"]["d_model"]
    assert cpu["trainer"]["max_steps"] is not None and cpu["data"]["entities"] == "all"
    detector = DETECTORS.build(cpu["model"], n_features=SMD_FEATURES, window=cpu["data"]["window"])
    assert sum(p.numel() for p in detector.parameters()) < 10_000_000
