"""tools/tsbad_benchmark.py on generated TSB-AD files: TSB-AD's merged-table layout, the
leaderboard, resuming, shards and their merge, one metric code for every method."""
import json

import numpy as np
import pandas as pd
import pytest

from metric.timeseries import threshold_free_metrics
from metric.timeseries.period import dominant_period
from tests.test_tsbad import series, write_tsbad
from tools import tsbad_benchmark as bench

FAST = ["--configs", "zscore", "dense_ae", "--set", "data.window=20", "dense_ae:trainer.max_steps=3", "device=cpu", "num_threads=1"]


@pytest.fixture
def files(tmp_path):
    """Four small files in TSB-AD's format (one univariate), an anomaly after each training prefix."""
    root = tmp_path / "files"
    for index, features in enumerate((2, 2, 1, 2), 1):
        labels = np.zeros(300, int)
        labels[200 + 5 * index : 215 + 5 * index] = 1
        values = series(300, features, 20 + index, index)
        values[labels == 1] += 2.0
        write_tsbad(root, f"{index:03d}_Toy_id_{index}_Sensor_tr_120_1st_{200 + 5 * index}.csv", values, labels)
    return root


def test_merged_tables_have_tsb_ad_layout_and_one_metric_code(files, tmp_path, capsys):
    out = tmp_path / "out"
    assert bench.main(["--root", str(files), *FAST, "--out", str(out)]) == 0
    for title in ("VUS-PR", "AUC-PR", "AUC-ROC"):
        table = pd.read_csv(out / f"mergedTable_{title}.csv")
        assert list(table.columns) == ["file", "zscore", "dense_ae", "ts_len", "anomaly_len", "num_anomaly", "avg_anomaly_len", "anomaly_ratio"]
        assert table["file"].tolist() == sorted(p.name for p in files.glob("*.csv"))
        assert table["ts_len"].tolist() == [300] * 4 and table["num_anomaly"].tolist() == [1] * 4
    result = json.loads((out / "results" / "zscore" / "002_Toy_id_2_Sensor_tr_120_1st_210.json").read_text())
    frame = pd.read_csv(files / "002_Toy_id_2_Sensor_tr_120_1st_210.csv")
    scores = np.load(out / "scores" / "zscore" / "002_Toy_id_2_Sensor_tr_120_1st_210.npy")
    assert result["window"] == dominant_period(frame.iloc[:, 0].to_numpy()) == 22
    expected = threshold_free_metrics(frame["Label"].to_numpy(), scores, result["window"])
    assert result["metrics"] == pytest.approx(expected)
    board = pd.read_csv(out / "leaderboard.csv")
    assert list(board.columns) == ["rank", "method", "kind", "finished", "failed", "VUS-PR", "AUC-PR", "AUC-ROC", "seconds_per_file"]
    assert board["VUS-PR"].is_monotonic_decreasing and set(board["method"]) == {"zscore", "dense_ae"}
    vus = pd.read_csv(out / "mergedTable_VUS-PR.csv")
    assert board.set_index("method").loc["zscore", "VUS-PR"] == pytest.approx(vus["zscore"].mean())
    assert "| 1 | " in (out / "leaderboard.md").read_text() and "mean over the 4 files" in capsys.readouterr().out


def test_a_rerun_skips_finished_pairs(files, tmp_path):
    out = tmp_path / "out"
    assert bench.main(["--root", str(files), "--configs", "zscore", "--set", "data.window=20", "--out", str(out)]) == 0
    stamps = {p: p.stat().st_mtime_ns for p in (out / "results").glob("*/*.json")}
    (out / "results" / "zscore" / "003_Toy_id_3_Sensor_tr_120_1st_215.json").unlink()
    assert bench.main(["--root", str(files), "--configs", "zscore", "--set", "data.window=20", "--out", str(out)]) == 0
    for path, stamp in stamps.items():
        assert path.is_file() and (path.stat().st_mtime_ns == stamp) == ("003_" not in path.name)


def test_shards_split_the_list_and_merge_builds_the_same_tables(files, tmp_path):
    whole, split = tmp_path / "whole", tmp_path / "split"
    args = ["--root", str(files), "--configs", "zscore", "--set", "data.window=20"]
    assert bench.main([*args, "--out", str(whole)]) == 0
    assert bench.main([*args, "--out", str(split), "--shard", "1/3"]) == 0
    assert sorted(p.stem[:3] for p in (split / "results" / "zscore").glob("*.json")) == ["001", "004"]
    assert not (split / "mergedTable_VUS-PR.csv").exists()  # a shard never writes the tables
    for k in (2, 3):
        assert bench.main([*args, "--out", str(split), "--shard", f"{k}/3"]) == 0
    assert bench.main(["--out", str(split), "--merge"]) == 0
    pd.testing.assert_frame_equal(pd.read_csv(split / "mergedTable_VUS-PR.csv"), pd.read_csv(whole / "mergedTable_VUS-PR.csv"))


def test_a_failing_pair_is_recorded_and_the_others_still_run(files, tmp_path, capsys):
    write_tsbad(files, "005_Toy_id_5_Sensor_tr_900_1st_10.csv", series(300, 2, 20, 5), np.r_[np.zeros(10, int), np.ones(5, int), np.zeros(285, int)])
    out = tmp_path / "out"
    assert bench.main(["--root", str(files), "--configs", "zscore", "pca", "--set", "data.window=20", "pca:data.window=500", "--out", str(out)]) == 1
    failed = json.loads((out / "results" / "pca" / "001_Toy_id_1_Sensor_tr_120_1st_205.json").read_text())
    assert "window" in failed["error"] and "metrics" not in failed
    unreadable = json.loads((out / "results" / "zscore" / "005_Toy_id_5_Sensor_tr_900_1st_10.json").read_text())
    assert "tr_900 must lie between 1 and the series length" in unreadable["error"]
    board = pd.read_csv(out / "leaderboard.csv").set_index("method")
    assert board.loc["pca", "failed"] == 5 and board.loc["zscore", "finished"] == 4 and board.loc["zscore", "failed"] == 1
    assert "FAILED 001_Toy" in capsys.readouterr().out


def test_bad_arguments_are_one_line_errors(files, tmp_path, capsys):
    assert bench.main(["--root", str(files), "--configs", "zscore", "--shard", "4/3", "--out", str(tmp_path)]) == 2
    assert bench.main(["--root", str(files), "--configs", "zscore", "--set", "nope:data.window=3", "--out", str(tmp_path)]) == 2
    assert bench.main(["--root", str(files), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "--shard '4/3'" in err and "'nope' is none of the --configs" in err and "Name at least one method" in err


def test_tsb_ad_reference_runs_next_to_ours_with_its_tuned_hyper_parameters(files, tmp_path):
    pytest.importorskip("TSB_AD.models.PCA", reason="tsb-ad's models (and what they import) not installed")
    out = tmp_path / "out"
    assert bench.main(["--root", str(files), "--files", "001_*.csv", "--configs", "zscore", "--set", "data.window=20",
                       "--reference", "PCA", "IForest", "CNN", "--out", str(out)]) == 0  # CNN: a deep one, on NumPy 2 too
    table = pd.read_csv(out / "mergedTable_VUS-PR.csv")
    assert list(table.columns[:5]) == ["file", "zscore", "TSB-AD:PCA", "TSB-AD:IForest", "TSB-AD:CNN"]
    result = json.loads((out / "results" / "TSB-AD_PCA" / "001_Toy_id_1_Sensor_tr_120_1st_205.json").read_text())
    assert result["hp"] == {"n_components": 0.25} and result["hp_table"] == "Optimal_Multi_algo_HP_dict"
    assert 0 <= result["metrics"]["vus_pr"] <= 1 and len(np.load(out / "scores" / "TSB-AD_PCA" / "001_Toy_id_1_Sensor_tr_120_1st_205.npy")) == 300
    with pytest.raises(Exception, match="not a TSB-AD model"):
        bench.reference_method("NoSuchModel")


def test_unconditional_cuda_calls_stay_on_the_cpu_only_inside_the_reference_block():
    import torch

    if torch.cuda.is_available():
        pytest.skip("with CUDA the block changes nothing")
    tensor = torch.ones(2)
    with bench.cuda_calls_on_cpu():
        assert tensor.cuda() is tensor
    with pytest.raises((RuntimeError, AssertionError)):
        tensor.cuda()


def test_random_column_is_uniform_seeded_by_the_file_and_scored_like_the_others(files, tmp_path):
    out = tmp_path / "out"
    assert bench.main(["--root", str(files), "--random", "--out", str(out)]) == 0
    name = "001_Toy_id_1_Sensor_tr_120_1st_205"
    scores = np.load(out / "scores" / "random" / f"{name}.npy")
    assert scores.shape == (300,) and 0 <= scores.min() and scores.max() < 1 and len(np.unique(scores)) == 300
    other = np.load(out / "scores" / "random" / "002_Toy_id_2_Sensor_tr_120_1st_210.npy")
    assert not np.allclose(scores, other)  # each file its own draw
    assert bench.main(["--root", str(files), "--random", "--out", str(tmp_path / "again")]) == 0
    assert np.array_equal(np.load(tmp_path / "again" / "scores" / "random" / f"{name}.npy"), scores)  # the same in every run
    board = pd.read_csv(out / "leaderboard.csv")
    assert board["method"].tolist() == ["random"] and board["kind"].tolist() == ["random"]


def test_every_run_of_ours_keeps_its_training_log(files, tmp_path):
    out = tmp_path / "out"
    args = ["--root", str(files), "--files", "001_*.csv", "--configs", "zscore", "dense_ae", "--set", "data.window=20", "device=cpu", "num_threads=1"]
    assert bench.main([*args, "dense_ae:trainer.max_steps=3", "--out", str(out)]) == 0
    log = json.loads((out / "logs" / "dense_ae" / "001_Toy_id_1_Sensor_tr_120_1st_205.json").read_text())
    assert log["trainable"] and log["steps"] == 3 and log["stopped_by"] == ["max_steps"] and not log["early_stopped"]
    assert len(log["train_loss"]) == len(log["val_loss"]) == len(log["lr"]) == log["epochs"] >= 1 and 1 <= log["best_epoch"] <= log["epochs"]
    assert log["limits"] == {"epochs": 10, "max_steps": 3, "patience": 3, "select": "val_loss"} and log["seconds"]["fit"] > 0 < log["cpu_seconds"]["fit"]
    assert "dense_ae:trainer.max_steps=3" not in log["overrides"] and "trainer.max_steps=3" in log["overrides"]
    offline = json.loads((out / "logs" / "zscore" / "001_Toy_id_1_Sensor_tr_120_1st_205.json").read_text())
    assert not offline["trainable"] and offline["steps"] == 0 and offline["stopped_by"] == [] and offline["train_loss"] == []


def test_the_training_log_says_when_early_stopping_fired(files, tmp_path):
    out = tmp_path / "out"
    frozen = ["dense_ae:trainer.optimizer.lr=0.0", "dense_ae:trainer.patience=1", "dense_ae:trainer.epochs=20"]  # the validation loss never improves
    assert bench.main(["--root", str(files), "--files", "001_*.csv", *FAST[:-4], "data.window=20", *frozen, "device=cpu", "num_threads=1", "--out", str(out)]) == 0
    log = json.loads((out / "logs" / "dense_ae" / "001_Toy_id_1_Sensor_tr_120_1st_205.json").read_text())
    assert log["early_stopped"] and log["stopped_by"] == ["patience"] and log["epochs"] == 2 and log["best_epoch"] == 1
    assert len(log["train_loss"]) == 2 and log["steps"] > 3
