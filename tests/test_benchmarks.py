"""Smoke tests of the benchmark scripts: each runs with ``--quick`` (trimmed further) and prints its table.

Each script runs in a fresh interpreter, as from the command line: the scripts fork their
measurements, which is only safe from a parent that has run no tensor operation (pytest's has).
"""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.common import growth_exponent, markdown_table

REPO = Path(__file__).resolve().parents[1]

CASES = {
    "memory": (["--quick"], ["### Data pipeline memory", "| window | train stride | train windows |", "| 100 | 1 | 15,604 |"]),
    "throughput": (
        ["--quick", "--detectors", "kambaad", "anomaly_transformer"],
        ["### Throughput, equal setting", "| KambaAD |", "| Anomaly Transformer |", "| KambaAD (scan torch_ref) |", "KambaAD epoch speed-up over Anomaly Transformer"],
    ),
    "scaling": (
        ["--quick", "--stacks", "attention", "mamba", "--lengths", "16", "32"],
        ["| attention | 16 |", "| mamba | 32 |", "Fitted growth exponents", "| stack | time k (all W) |"],
    ),
    "compare_ts": (
        ["--quick", "--configs", "configs/kambaad/kambaad_synthetic.py"],
        ["### Time-series detectors on synthetic (quick)", "| config | VUS-PR | AUC-PR | Aff-F1 | F1 | PA-F1 (legacy) |", "| kambaad_synthetic | "],
    ),
}


@pytest.mark.parametrize("script", sorted(CASES))
def test_benchmark_prints_its_table(script: str) -> None:
    args, expected = CASES[script]
    done = subprocess.run(
        [sys.executable, f"benchmarks/{script}.py", "--threads", "1", *args],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    for text in expected:
        assert text in done.stdout, f"{text!r} missing from:\n{done.stdout}"
    assert "Machine: " in done.stdout and "torch " in done.stdout
    assert "failed" not in done.stdout
    assert not re.search(r"\| nan \|", done.stdout)


def test_growth_exponent_recovers_powers() -> None:
    sizes = [100, 200, 400, 800]
    assert growth_exponent(sizes, [3 * s for s in sizes]) == pytest.approx(1.0)
    assert growth_exponent(sizes, [0.5 * s**2 for s in sizes]) == pytest.approx(2.0)


def test_markdown_table_shape() -> None:
    assert markdown_table(["a", "b"], [[1, 2], ["x", "y"]]).splitlines() == ["| a | b |", "|---|---|", "| 1 | 2 |", "| x | y |"]
