"""``python -m metric`` end to end in a subprocess: file formats, JSON keys, threshold notes, exit status 2 on bad input."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from metric.timeseries import METRIC_KEYS, compute_metrics

REPO = Path(__file__).resolve().parents[1]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "metric", *map(str, args)], cwd=REPO, capture_output=True, text=True, timeout=120)


@pytest.fixture()
def series(tmp_path):
    """Labels with two events and scores that rise on them, as .npy, .csv (with header) and .txt."""
    rng = np.random.default_rng(0)
    labels = np.zeros(400, dtype=int)
    labels[100:120] = labels[300:310] = 1
    scores = rng.random(400) + labels
    val = rng.random(300)
    np.save(tmp_path / "labels.npy", labels)
    np.savetxt(tmp_path / "scores.csv", scores, delimiter=",", header="score", comments="")
    np.savetxt(tmp_path / "val.txt", val)
    return tmp_path, labels, scores, val


def test_json_has_exactly_the_metric_keys_and_matches_the_library(series):
    folder, labels, scores, val = series
    result = run_cli("--labels", folder / "labels.npy", "--scores", folder / "scores.csv", "--val-scores", folder / "val.txt", "--q", 95, "--window", 20, "--json")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert list(out) == list(METRIC_KEYS)
    expected = compute_metrics(labels, scores, threshold=np.percentile(val, 95), window=20)
    assert out == pytest.approx(expected)
    assert "test scores" not in result.stderr  # calibrated on the validation scores


def test_pred_file_and_table_output_label_point_adjustment_as_legacy(series):
    folder, labels, scores, _ = series
    pred = (scores > 0.9).astype(int)
    np.savetxt(folder / "pred.txt", pred, fmt="%d")
    result = run_cli("--labels", folder / "labels.npy", "--scores", folder / "scores.csv", "--pred", folder / "pred.txt", "--window", 10)
    assert result.returncode == 0, result.stderr
    assert "legacy" in result.stdout and "pa_f1" in result.stdout
    f1 = compute_metrics(labels, scores, pred=pred, window=10)["f1"]
    assert f"{100 * f1:.2f}" in result.stdout


def test_without_val_scores_the_rule_says_it_used_the_test_scores(series):
    folder, labels, scores, _ = series
    result = run_cli("--labels", folder / "labels.npy", "--scores", folder / "scores.csv", "--json")
    assert result.returncode == 0 and "test scores" in result.stderr
    assert json.loads(result.stdout)["f1"] == pytest.approx(compute_metrics(labels, scores, threshold=np.percentile(scores, 99))["f1"])


def test_best_f1_is_reported_as_an_oracle(series):
    folder, *_ = series
    result = run_cli("--labels", folder / "labels.npy", "--scores", folder / "scores.csv", "--threshold-rule", "best_f1")
    assert result.returncode == 0, result.stderr
    assert "ORACLE" in result.stdout + result.stderr


@pytest.mark.parametrize(
    "make_args, message",
    [
        (lambda f: ["--labels", f / "labels.npy", "--scores", f / "missing.npy"], "not found"),
        (lambda f: ["--labels", f / "short.npy", "--scores", f / "scores.csv"], "ength"),
        (lambda f: ["--labels", f / "labels.npy", "--scores", f / "nan.npy", "--pred", f / "labels.npy"], "NaN"),
        (lambda f: ["--labels", f / "labels.npy", "--scores", f / "scores.json"], "unsupported"),
        (lambda f: ["--labels", f / "labels.npy", "--scores", f / "scores.csv", "--threshold-rule", "nope"], "nope"),
    ],
)
def test_bad_inputs_exit_2_with_one_message(series, make_args, message):
    folder, labels, scores, _ = series
    np.save(folder / "short.npy", labels[:-1])
    np.save(folder / "nan.npy", np.where(np.arange(len(scores)) == 5, np.nan, scores))
    (folder / "scores.json").write_text("[]")
    result = run_cli(*make_args(folder))
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr
