"""Issue 23's tuning infrastructure: the tuning and evaluation lists, the declared grid and
tools/tune.py (the tuning list only, resumable, sharded, training logs kept, the report)."""
import inspect
import json
import runpy
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from data.timeseries.base import TimeSeriesSource
from tests.test_tsbad import series, write_tsbad
from tools import tune
from util.config import load

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
TUNING, EVALUATION = tune.read_list(tune.TUNING_LIST), tune.read_list(tune.EVALUATION_LIST)


def test_the_lists_are_disjoint_and_hold_what_issue_23_names():
    assert len(TUNING) == len(set(TUNING)) == 26 and len(EVALUATION) == len(set(EVALUATION)) == 80
    assert not set(TUNING) & set(EVALUATION)
    assert all("_SMAP_" in name and int(name[:3]) % 2 == 0 for name in TUNING)  # the even-numbered SMAP files
    table61 = pd.read_csv(REPO / "docs" / "tsbad61" / "mergedTable_VUS-PR.csv")["file"]
    assert set(table61) <= set(EVALUATION) and sum("_SMD_" in name for name in EVALUATION) == 19
    assert {"002", "004", "006", "010", "012", "014", "018", "020"} <= {name[:3] for name in TUNING}


@pytest.mark.slow
@pytest.mark.skipif(not all((SHARED / d).is_dir() for d in ("SMAP_MSL", "NAB", "SMD")), reason="../shared/data (SMAP_MSL, NAB, SMD) not present")
def test_make_tsbad_files_names_exactly_the_listed_files():
    from tools.make_tsbad_files import series_files

    names = [name for name, _, _ in series_files(SHARED)]
    assert len(names) == 106 and sorted(names) == sorted(TUNING + EVALUATION)


def effective(cfg: dict, key: str):
    """A dotted key's value in a loaded config, or the dataset's constructor default when the config leaves it out."""
    node = cfg
    for part in key.split("."):
        if part not in node:
            assert key.startswith("data."), key
            return inspect.signature(TimeSeriesSource.__init__).parameters[part].default
        node = node[part]
    return node


def test_the_grid_is_one_balanced_design_whose_chosen_trials_are_the_committed_defaults():
    grid = tune.load_grid(tune.GRID)
    signs = np.array([[1 if c == "+" else -1 for c in row] for row in grid["design"]])
    assert signs.shape == (8, 5) and not signs.sum(axis=0).any()  # each level in half the trials
    assert all(not (signs[:, i] * signs[:, j]).sum() for i, j in combinations(range(5), 2))  # every pair balanced
    assert len({row for row in grid["design"]}) == 8 and grid["design"][0] == "-----"
    assert not signs[:4].sum(axis=0).any()  # cut to four trials, every factor keeps both levels
    assert set(grid["levels"]) == {"kambaad", "dense_ae", "anomaly_transformer", "maat", "dcdetector"}
    chosen = runpy.run_path(str(tune.GRID))["CHOSEN"]
    assert set(chosen) == set(grid["levels"])
    for detector in grid["levels"]:
        cfg = load(tune.config_path(detector))
        for key, value in tune.trial_settings(grid, detector, chosen[detector]).items():
            assert effective(cfg, key) == value, (detector, key)
        for trial in range(1, 8):  # every trial is a valid config
            load(tune.config_path(detector), tune.as_overrides(tune.trial_settings(grid, detector, trial)))


TOY_GRID = '''
FACTORS = ("lr", "width")
DESIGN = ("--", "++", "+-")
LEVELS = {"dense_ae": dict(lr=({"trainer.optimizer.lr": 1e-3}, {"trainer.optimizer.lr": 3e-3}),
                           width=({"model.bottleneck": 8}, {"model.bottleneck": 4}))}
'''
FAST = ["--set", "data.window=20", "trainer.max_steps=3", "device=cpu", "num_threads=1"]


@pytest.fixture
def toy(tmp_path):
    """Four toy TSB-AD files, a toy grid, a tuning list of three of them and an evaluation list of the fourth."""
    root = tmp_path / "files"
    names = []
    for index in range(1, 5):
        labels = np.zeros(300, int)
        labels[200 + 5 * index : 215 + 5 * index] = 1
        values = series(300, 2, 20 + index, index)
        values[labels == 1] += 2.0
        names.append(f"{index:03d}_Toy_id_{index}_Sensor_tr_120_1st_{200 + 5 * index}.csv")
        write_tsbad(root, names[-1], values, labels)
    pd.DataFrame({"file_name": names[:3]}).to_csv(tmp_path / "tuning.csv", index=False)
    pd.DataFrame({"file_name": names[3:]}).to_csv(tmp_path / "evaluation.csv", index=False)
    (tmp_path / "grid.py").write_text(TOY_GRID)
    lists = ["--tuning-list", str(tmp_path / "tuning.csv"), "--evaluation-list", str(tmp_path / "evaluation.csv"), "--grid", str(tmp_path / "grid.py")]
    return {"root": root, "names": names, "args": ["--root", str(root), "--detectors", "dense_ae", *lists], "lists": lists}


def test_tune_runs_every_trial_on_the_tuning_list_keeps_logs_and_resumes(toy, tmp_path):
    out = tmp_path / "out"
    assert tune.main([*toy["args"], "--trials", "2", "--out", str(out), *FAST]) == 0
    for label in ("dense_ae-t0-s0", "dense_ae-t1-s0"):
        assert sorted(p.stem[:3] for p in (out / "results" / label).glob("*.json")) == ["001", "002", "003"]  # never 004
        log = json.loads((out / "logs" / label / f"{Path(toy['names'][0]).stem}.json").read_text())
        assert log["steps"] == 3 and log["trainable"]
    assert json.loads((out / "tuning.json").read_text())["dense_ae-t1-s0"] == [
        "trainer.optimizer.lr=0.003", "model.bottleneck=4", "seed=0", *FAST[1:]]
    stamps = {p: p.stat().st_mtime_ns for p in (out / "results").glob("*/*.json")}
    assert tune.main([*toy["args"], "--trials", "2", "--out", str(out), *FAST]) == 0
    assert all(p.stat().st_mtime_ns == stamp for p, stamp in stamps.items())  # finished runs are skipped
    assert tune.main([*toy["args"], "--trials", "2", "--out", str(out), "--set", "data.window=30"]) == 2  # a changed trial is refused


def test_tune_shards_files_and_cuts_them_evenly(toy, tmp_path):
    out = tmp_path / "out"
    assert tune.main([*toy["args"], "--trials", "1", "--seeds", "0", "1", "--shard", "2/2", "--out", str(out), *FAST]) == 0
    assert sorted(p.stem[:3] for p in (out / "results" / "dense_ae-t0-s1").glob("*.json")) == ["002"]
    files = [Path(name) for name in "abcdefghij"]
    assert [p.name for p in tune.spread(files, 4)] == ["a", "c", "f", "h"] and tune.spread(files, None) == files


def test_tune_refuses_evaluation_files_and_unlisted_ones(toy, tmp_path, capsys):
    out = tmp_path / "out"
    assert tune.main([*toy["args"], "--files", toy["names"][3], "--out", str(out)]) == 2
    write_tsbad(toy["root"], "009_Toy_id_9_Sensor_tr_120_1st_200.csv", series(300, 2, 20, 9), np.r_[np.zeros(200, int), np.ones(5, int), np.zeros(95, int)])
    assert tune.main([*toy["args"], "--files", "009_*.csv", "--out", str(out)]) == 2
    assert tune.main([*toy["args"], "--detectors", "nope", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "on the evaluation list" in err and "nothing on it may choose a default" in err
    assert "not on the tuning list" in err and "not in the grid; choose from dense_ae" in err
    assert not (out / "results").exists()


def test_the_report_ranks_trials_and_prints_the_chosen_config_lines(toy, tmp_path, capsys):
    out = tmp_path / "out"
    assert tune.main([*toy["args"], "--out", str(out), *FAST]) == 0
    capsys.readouterr()
    assert tune.main(["--out", str(out), "--report", "--grid", toy["lists"][-1]]) == 0
    text = capsys.readouterr().out
    assert text == (out / "tuning_report.md").read_text()
    assert "Provisional: 3 tuning files" in text and "### dense_ae: mean over the 3 files" in text
    ranked = [line for line in text.splitlines() if line.startswith("| 1 | t") or line.startswith("| 2 | t") or line.startswith("| 3 | t")]
    vus = [float(line.split("|")[5]) for line in ranked]
    assert len(ranked) == 3 and vus == sorted(vus, reverse=True) and "Main effects" in text
    chosen = [line for line in text.splitlines() if line.startswith("| dense_ae | t")][0]
    trial = int(chosen.split("|")[2].strip()[1:])
    expected = {0: "nothing: the committed defaults won", 1: "trainer = dict(optimizer=dict(lr=0.003))", 2: "trainer = dict(optimizer=dict(lr=0.003))"}[trial]
    assert expected in text and (trial != 1 or "model = dict(bottleneck=4)" in text)


def test_config_lines_nest_dotted_settings():
    assert tune.config_lines({"data.scaler": "minmax", "trainer.epochs": 40, "trainer.optimizer.lr": 0.003}) == [
        "data = dict(scaler='minmax')", "trainer = dict(epochs=40, optimizer=dict(lr=0.003))"]
