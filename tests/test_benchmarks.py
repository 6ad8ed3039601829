"""Smoke tests of the benchmark scripts: each runs with ``--quick`` (trimmed further) and prints its table.

Each script runs in a fresh interpreter, as from the command line: the scripts fork their
measurements, which is only safe from a parent that has run no tensor operation (pytest's has).
"""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from benchmarks.common import growth_exponent, markdown_table

REPO = Path(__file__).resolve().parents[1]

CASES = {
    "memory": (["--quick"], ["### Data pipeline memory", "| window | train stride | train windows |", "| 100 | 1 | 15,604 |"]),
    "throughput": (
        ["--quick", "--detectors", "kambaad", "anomaly_transformer"],
        ["### Throughput, equal setting", "| KambaAD |", "| Anomaly Transformer |", "| KambaAD (scan torch_loop) |",
         "KambaAD trains at "],
    ),
    "gpu_check": (  # the quick part of the dry run; the whole of it: test_gpu_check_dry_run_passes_every_row
        ["--cpu-dry-run", "--checks", "env", "scan", "conv"],
        ["| check | result | status |", "| Triton scan (model/ops/triton_scan.py) | available (Triton's interpreter) | ok |",
         "| mamba_ssm (optional) | not installed", "| scan triton vs torch_ref, SS2D (b 1, d 32, N 4, L 16, 4 groups), bfloat16 |",
         "| causal_conv1d, channel-last (b 2, d 16, L 12), width 4, silu, bf16 autocast | PyTorch conv ran", "All 13 rows pass."],
    ),
    "scan": (
        ["--quick"],
        ["### CPU selective scan, float32, forward+backward ms (x the exp floor)", "| 2, 64, 16, 128 | 1 |", "| 4, 128, 64, 32 | 1 |"],
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
    assert "failed" not in done.stdout and "| FAIL |" not in done.stdout
    assert not re.search(r"\| nan \|", done.stdout)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_gpu_check_says_it_needs_cuda() -> None:
    done = subprocess.run([sys.executable, "benchmarks/gpu_check.py"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    assert "no CUDA device" in done.stderr and "--cpu-dry-run" in done.stderr and done.stdout == ""


@pytest.mark.slow  # about 8 minutes on two shared cores: the Triton interpreter runs every Mamba detector
def test_gpu_check_dry_run_passes_every_row() -> None:
    done = subprocess.run([sys.executable, "benchmarks/gpu_check.py", "--cpu-dry-run", "--threads", "1"],
                          cwd=REPO, capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    for text in ("| MambaAD MVTec fp32, scan triton vs cpp, fwd+bwd |", "| KambaAD SMAP bf16 autocast, scan triton vs cpp",
                 "| DCdetector SMAP fp32, vs CPU, fwd+bwd |", "resumed: yes, last checkpoint at step 6 | ok |",
                 "| time: train KambaAD (scan triton) |", "All "):
        assert text in done.stdout, f"{text!r} missing from:\n{done.stdout}"
    assert "| FAIL |" not in done.stdout and "| KambaAD (scan auto)" not in done.stdout


def test_failed_gpu_check_row_is_a_fail_with_one_line() -> None:
    from benchmarks.gpu_check import FAIL, guarded

    def broken() -> tuple[str, str]:
        raise RuntimeError("first line | with a bar\nsecond line")

    assert guarded("a check", broken) == ["a check", "RuntimeError: first line / with a bar", FAIL]
    assert guarded("a check", lambda: ("fine", "ok")) == ["a check", "fine", "ok"]


def test_growth_exponent_recovers_powers() -> None:
    sizes = [100, 200, 400, 800]
    assert growth_exponent(sizes, [3 * s for s in sizes]) == pytest.approx(1.0)
    assert growth_exponent(sizes, [0.5 * s**2 for s in sizes]) == pytest.approx(2.0)


def test_projected_seconds_keep_two_significant_digits() -> None:
    from benchmarks.throughput import seconds_cell

    assert [seconds_cell(s) for s in (9225.4, 12.34, 0.42, 0.0031)] == ["9,225", "12.3", "0.42", "0.0031"]


def test_markdown_table_shape() -> None:
    assert markdown_table(["a", "b"], [[1, 2], ["x", "y"]]).splitlines() == ["| a | b |", "|---|---|", "| 1 | 2 |", "| x | y |"]


def test_random_band_scores_the_channels_run_py_scores(tmp_path) -> None:
    from benchmarks.random_pa import random_band

    (tmp_path / "train").mkdir()
    (tmp_path / "test").mkdir()
    rows = ["chan_id,spacecraft,anomaly_sequences,class,num_values"]
    for chan, craft, length in (("A-1", "SMAP", 3000), ("A-2", "SMAP", 2000), ("P-2", "SMAP", 1000), ("P-2", "SMAP", 1000), ("M-1", "MSL", 4000)):
        np.save(tmp_path / "train" / f"{chan}.npy", np.zeros((500, 2), np.float32))
        np.save(tmp_path / "test" / f"{chan}.npy", np.zeros((length, 2), np.float32))
        rows.append(f'{chan},{craft},"[[100, 399], [600, 699]]",[point],{length}')
    (tmp_path / "labeled_anomalies.csv").write_text("\n".join(rows) + "\n")
    band = random_band(tmp_path, seeds=3)
    assert {craft: points for craft, (points, _) in band.items()} == {"MSL": 4000, "SMAP": 5000}  # P-2, listed twice, left out
    for _, values in band.values():
        assert len(set(values["vus_pr"])) == 3  # each seed is its own scoring
        assert abs(values["auc_roc"].mean() - 0.5) < 0.05
