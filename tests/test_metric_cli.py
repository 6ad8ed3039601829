"""``python -m metric``: file formats, JSON keys, threshold rules and clear errors (exit 2)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from metric.__main__ import main
from metric.timeseries import METRIC_KEYS, compute_metrics

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def series(tmp_path: Path) -> dict[str, Path]:
    """Labels (.npy), scores (.csv with a header), validation scores (.txt) and predictions (.npy)."""
    rng = np.random.default_rng(0)
    labels = np.zeros(400, dtype=np.int64)
    labels[0:5], labels[200:230] = 1, 1
    scores = rng.random(400) + labels
    paths = {name: tmp_path / f"{name}{ext}" for name, ext in (("labels", ".npy"), ("scores", ".csv"), ("val", ".txt"), ("pred", ".npy"))}
    np.save(paths["labels"], labels)
    np.savetxt(paths["scores"], scores, delimiter=",", header="score", comments="")
    np.savetxt(paths["val"], rng.random(300))
    np.save(paths["pred"], (scores > 1.2).astype(np.int64))
    return paths


def run_json(capsys, *argv: str) -> dict:
    assert main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_json_has_exactly_the_metric_keys_and_matches_the_api(series, capsys):
    out = run_json(capsys, "--labels", str(series["labels"]), "--scores", str(series["scores"]), "--val-scores", str(series["val"]), "--threshold-q", "95")
    assert tuple(out) == METRIC_KEYS
    labels, scores = np.load(series["labels"]), np.loadtxt(series["scores"], skiprows=1)
    expected = compute_metrics(labels, scores, threshold=np.percentile(np.loadtxt(series["val"]), 95))
    assert out == pytest.approx(expected)


def test_pred_file_overrides_the_rule(series, capsys):
    out = run_json(capsys, "--labels", str(series["labels"]), "--scores", str(series["scores"]), "--pred", str(series["pred"]), "--window", "10")
    labels, scores = np.load(series["labels"]), np.loadtxt(series["scores"], skiprows=1)
    assert out == pytest.approx(compute_metrics(labels, scores, pred=np.load(series["pred"]), window=10))


def test_without_val_scores_the_test_scores_are_used_and_said(series, capsys):
    assert main(["--labels", str(series["labels"]), "--scores", str(series["scores"])]) == 0
    captured = capsys.readouterr()
    assert "calibrated on the test scores" in captured.err
    assert "vus_pr" in captured.out and "point-adjusted (legacy" in captured.out


def test_oracle_rule_is_flagged(series, capsys):
    assert main(["--labels", str(series["labels"]), "--scores", str(series["scores"]), "--threshold-rule", "best_f1"]) == 0
    assert "ORACLE" in capsys.readouterr().out


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--scores", "missing.npy"], "file not found"),
        (["--scores", "{val}"], "Length mismatch"),
        (["--scores", "{scores}", "--threshold-rule", "nope"], "Unknown threshold rule"),
        (["--scores", "{scores}", "--threshold-rule", "best_f1", "--threshold-q", "3"], "does not apply"),
        (["--scores", "{bad}"], "NaN/inf"),
    ],
)
def test_user_errors_print_one_line_and_exit_2(series, tmp_path, capsys, extra, message):
    bad = tmp_path / "bad.txt"
    bad.write_text("0.1\nnan\n" + "0.2\n" * 398)
    names = {"val": series["val"], "scores": series["scores"], "bad": bad}
    argv = ["--labels", str(series["labels"]), *[a.format(**names) for a in extra]]
    assert main(argv) == 2
    err = capsys.readouterr().err
    error_lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1 and message in error_lines[0] and "Traceback" not in err


def test_module_entry_point_runs(series):
    result = subprocess.run(
        [sys.executable, "-m", "metric", "--labels", str(series["labels"]), "--scores", str(series["scores"]), "--json"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert tuple(json.loads(result.stdout)) == METRIC_KEYS
