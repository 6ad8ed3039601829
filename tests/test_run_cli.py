"""run.py as a program (exit codes, no traceback without --debug) and the seeded benchmark runner."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import trainer.runner
from run import main
from tools import benchmark

REPO = Path(__file__).resolve().parents[1]
TINY = ["data.train_length=600", "data.test_length=600", "data.window=20", "trainer.epochs=1", "trainer.progress=false",
        "num_threads=1", "device=cpu", "evaluation.plots=false"]


@pytest.mark.slow  # a fresh interpreter (~15 s of imports); main() itself is covered in-process
def test_user_error_in_a_real_process_prints_one_line_and_no_traceback():
    done = subprocess.run([sys.executable, "run.py", "-c", "configs/baselines/zscore_synthetic.py", "-m", "train", "trainer.epohcs=1"],
                          cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)), capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("error: Unknown key 'epohcs'")


def test_internal_error_is_reported_without_traceback_unless_debug(monkeypatch, capsys):
    def broken(*args):
        raise RuntimeError("boom")

    monkeypatch.setattr(trainer.runner, "run", broken)
    assert main(["-c", "x.py"]) == 1
    err = capsys.readouterr().err
    assert "internal error RuntimeError: boom" in err and "--debug" in err and "Traceback" not in err
    with pytest.raises(RuntimeError, match="boom"):
        main(["--debug", "-c", "x.py"])


def test_benchmark_runs_every_combination_once_and_tabulates(tmp_path, capsys):
    configs = ["configs/baselines/zscore_synthetic.py", "configs/baselines/pca_synthetic.py"]
    argv = ["--configs", *configs, "--seeds", "0", "1", "--out", str(tmp_path), "--set", *TINY]
    assert benchmark.main(argv) == 0
    first = capsys.readouterr()
    progress = [line for line in first.out.splitlines() if line.startswith("[")]
    assert len(progress) == 4 and "skipped" not in first.out
    assert re.fullmatch(r"\[1/4\] zscore_synthetic seed=0: vus_pr \d+\.\d\d %, vus_roc \d+\.\d\d % in [\d.]+ s \(.*results\.md\)", progress[0]), progress[0]
    assert "# Results" not in first.out and " INFO " not in first.err  # no per-run report or log lines, only the table at the end
    frame = pd.read_csv(tmp_path / "benchmark.csv")
    assert set(frame["detector"]) >= {"zscore", "pca", "random (baseline)"}
    assert "zscore (baseline)" not in set(frame["detector"])  # the z-score config already is that row
    assert len(frame[frame["detector"] == "pca"]) == 2 and frame["vus_pr"].notna().all()
    table = (tmp_path / "benchmark.md").read_text()
    assert "| synthetic | pca | 2 |" in table and "+-" in table
    assert benchmark.main(argv) == 0  # resumable: nothing is run twice
    assert capsys.readouterr().out.count("done earlier, skipped") == 4
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "benchmark.csv"), frame)


def test_benchmark_table_only_runs_nothing_and_tables_what_is_finished(tmp_path, capsys):
    configs = ["configs/baselines/zscore_synthetic.py", "configs/baselines/pca_synthetic.py"]
    assert benchmark.main(["--configs", configs[0], "--seeds", "0", "--out", str(tmp_path), "--set", *TINY]) == 0
    capsys.readouterr()
    assert benchmark.main(["--configs", *configs, "--seeds", "0", "1", "--out", str(tmp_path), "--table-only"]) == 0
    out = capsys.readouterr().out
    assert not [line for line in out.splitlines() if line.startswith("[")]  # no run started
    assert not (tmp_path / "pca_synthetic").exists() and not (tmp_path / "zscore_synthetic" / "seed1").exists()
    assert "| synthetic | zscore | 1 |" in (tmp_path / "benchmark.md").read_text()


def test_benchmark_per_entity_tables_a_metric_per_entity_and_names_a_wrong_metric(tmp_path, capsys):
    config = "configs/baselines/zscore_synthetic.py"
    assert benchmark.main(["--configs", config, "--seeds", "0", "--out", str(tmp_path), "--set", *TINY, "--per-entity", "vus_pr"]) == 0
    rows = [line for line in (tmp_path / "benchmark_per_entity.md").read_text().splitlines() if line.startswith("| ")]
    assert rows[0] == "| entity | zscore (zscore_synthetic, 1 seeds) |" and rows[-1].startswith("| **mean**") and len(rows) >= 3
    capsys.readouterr()
    with pytest.raises(SystemExit, match="vus_pr_typo.*choose one of .*vus_pr"):
        benchmark.main(["--configs", config, "--seeds", "0", "--out", str(tmp_path), "--table-only", "--per-entity", "vus_pr_typo"])
