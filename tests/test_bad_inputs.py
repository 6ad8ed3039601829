"""Bad inputs (loaders, configs, command-line overrides, checkpoints, predict files), the matrix:

- ``CASES`` (and ``METRIC_CASES`` for ``python -m metric``): exit code 2 and one ``error:``
  paragraph naming the file or key and the fix, no traceback, nothing trained first, no run
  folder left behind, earlier run folders byte-for-byte unchanged;
- ``HANDLED``: inputs that once went silently wrong or crashed and are now handled: exit code 0,
  the warning naming what was done (where there is one), the right result, earlier runs unchanged.
"""
import hashlib
import json
import shutil
import sys
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

import metric.__main__ as metric_cli
import trainer.base
from data.timeseries.base import TimeSeriesSource
from data.timeseries.entity import Entity
from data.timeseries.synthetic import generate
from run import main
from util.config import dumps, load
from util.registry import DATASETS

REPO = Path(__file__).resolve().parents[1]
CFG = str(REPO / "configs/baselines/dense_ae_synthetic.py")
SMAP_CFG = str(REPO / "configs/baselines/dense_ae_smap.py")
IMAGE_CFG = str(REPO / "configs/mambaad/mambaad_textures.py")
TINY = ["data.train_length=600", "data.test_length=600", "data.window=20", "trainer.epochs=1", "trainer.progress=false",
        "num_threads=1", "device=cpu", "evaluation.plots=false", "evaluation.baselines=false"]
SMAP_TINY = ["data.window=20", "trainer.epochs=1", "trainer.progress=false", "num_threads=1", "device=cpu",
             "evaluation.plots=false", "evaluation.baselines=false"]


@DATASETS.register("_arrays")
class Arrays(TimeSeriesSource):
    """One entity from an .npz file with ``train``, ``test`` and ``labels`` arrays."""

    def __init__(self, file: str = "", **common) -> None:
        super().__init__(**common)
        self.file = file

    def read(self):
        arrays = np.load(self.file)
        return [Entity("arrays", arrays["train"], arrays["test"], arrays["labels"])]


def write_telemanom(root: Path, train=None, test=None, sequences="[[100, 110]]", sep=","):
    """A one-channel SMAP folder (telemanom layout) with the given arrays."""
    rng = np.random.default_rng(0)
    (root / "train").mkdir(parents=True)
    (root / "test").mkdir()
    np.save(root / "train" / "A-1.npy", rng.normal(size=(300, 2)) if train is None else train)
    np.save(root / "test" / "A-1.npy", rng.normal(size=(300, 2)) if test is None else test)
    row = dict(chan_id="A-1", spacecraft="SMAP", anomaly_sequences=sequences, num_values=300)
    pd.DataFrame([row]).to_csv(root / "labeled_anomalies.csv", index=False, sep=sep)
    return root


def write_arrays(path: Path, labels=None, constant=False):
    rng = np.random.default_rng(0)
    train, test = rng.normal(size=(300, 2)), rng.normal(size=(300, 2))
    if constant:
        train[:, 1] = test[:, 1] = 5.0
    np.savez(path, train=train, test=test, labels=np.zeros(300, int) if labels is None else labels)
    return path


def snapshot(folder: Path) -> dict:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(autouse=True)
def _run_in_tmp(tmp_path, monkeypatch):
    """Run from a temporary folder, so the default run folders (runs/...) of failing commands
    land there and not in the repository."""
    monkeypatch.chdir(tmp_path)


def write_series(path: Path, columns=("a", "b", "c"), rename=None, sep=",", index=False, shuffle=False, repeat=False, glitch=False) -> Path:
    """A TimeEval-style CSV of the synthetic benchmark: timestamp, the feature ``columns`` (a, b, c
    in any order, some ``rename``d), is_anomaly; optionally as pandas writes it by default
    (``index``), shuffled, with one repeated timestamp, or with two timestamps swapped (a clock
    glitch: one step back in time)."""
    entity = generate(n_features=3, train_length=300, test_length=300, seed=0)
    frame = pd.DataFrame(np.vstack([entity.train, entity.test]), columns=["a", "b", "c"])
    frame.insert(0, "timestamp", pd.date_range("2024-01-01", periods=len(frame), freq="min").astype(str))
    frame["is_anomaly"] = np.r_[np.zeros(300, int), entity.test_labels]
    if repeat:
        frame.loc[5, "timestamp"] = frame.loc[4, "timestamp"]
    if glitch:
        frame.loc[[10, 11], "timestamp"] = frame.loc[[11, 10], "timestamp"].to_numpy()
    if shuffle:
        frame = frame.sample(frac=1.0, random_state=0)
    frame[["timestamp", *columns, "is_anomaly"]].rename(columns=rename or {}).to_csv(path, sep=sep, index=index)
    return path


def csv_train(test_path, *extra):
    return train("data.type=csv", f"data.test_path={test_path}", "data.train_fraction=0.5", *extra)


@pytest.fixture(scope="module")
def earlier(tmp_path_factory):
    """Earlier, finished runs that no failing command may touch: ``prev`` (synthetic), ``separate``
    (the same, entity_mode=separate), ``csv`` (trained on timestamp,a,b,c,is_anomaly) and
    ``semicolon`` (the same file ';'-separated, data.delimiter=';')."""
    root = tmp_path_factory.mktemp("earlier")
    runs = SimpleNamespace(prev=root / "run", separate=root / "separate", csv=root / "csv", semicolon=root / "semicolon")
    assert main(train(f"work_dir={runs.prev}")) == 0
    assert main(train(f"work_dir={runs.separate}", "entity_mode=separate")) == 0
    assert main(csv_train(write_series(root / "train.csv"), f"work_dir={runs.csv}")) == 0
    assert main(csv_train(write_series(root / "train_sc.csv", sep=";"), "data.delimiter=;", f"work_dir={runs.semicolon}")) == 0
    return runs


@pytest.fixture()
def untouched(earlier):
    """Asserts after the test that every earlier run folder is byte-for-byte unchanged."""
    before = {name: snapshot(folder) for name, folder in vars(earlier).items()}
    yield earlier
    assert {name: snapshot(folder) for name, folder in vars(earlier).items()} == before


def image_run(root: Path) -> Path:
    """An image run's folder as far as predict looks: its resolved config.py."""
    root.mkdir(parents=True)
    (root / "config.py").write_text(dumps(load(IMAGE_CFG)))
    return root


def _flip_bytes(src: Path, dst: Path) -> Path:
    raw = bytearray(src.read_bytes())
    raw[-50] ^= 0xFF
    dst.write_bytes(bytes(raw))
    return dst


def _csv(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _table(n_features=8, rows=100, sep=",", nan=False):
    values = np.random.default_rng(0).normal(size=(rows, n_features))
    if nan:
        values[5, 1] = np.nan
    frame = pd.DataFrame(values, columns=[f"c{i}" for i in range(n_features)])
    return frame.to_csv(index=False, sep=sep)


def train(*extra, cfg=CFG):
    return ["-c", cfg, "-m", "train", *TINY, *extra] if cfg == CFG else ["-c", cfg, "-m", "train", *SMAP_TINY, *extra]


def predict(run_dir, *extra):
    return ["-c", CFG, "-m", "predict", f"checkpoint={run_dir}", *TINY, *extra]


# (id, builder(tmp, prev) -> argv, text the message must contain)
CASES = [
    # config files and command-line overrides
    ("missing config file", lambda t, r: ["-c", "configs/nope.py", "-m", "train"], "nope.py"),
    ("misspelled key", lambda t, r: train("trainer.epohcs=2"), "Did you mean 'epochs'"),
    ("wrong value type", lambda t, r: train("trainer.epochs=two"), "trainer.epochs"),
    ("override without =", lambda t, r: train("trainer.epochs"), "key=value"),
    ("unknown detector", lambda t, r: train("model.type=dense_aee"), "dense_aee"),
    ("unknown dataset", lambda t, r: train("data.type=synthetik"), "synthetik"),
    ("unknown component key", lambda t, r: train("model.hiden=[4]"), "hiden"),
    ("unknown threshold rule", lambda t, r: train("evaluation.threshold.type=magic"), "magic"),
    ("unknown scaler", lambda t, r: train("data.scaler=robust"), "data.scaler"),
    ("unknown nan policy", lambda t, r: train("data.nan_policy=drop"), "data.nan_policy"),
    ("window longer than the series", lambda t, r: train("data.window=5000"), "window"),
    ("window zero", lambda t, r: train("data.window=0"), "data.window"),
    ("unknown device", lambda t, r: train("device=tpu9"), "device"),
    ("unknown protocol", lambda t, r: train("evaluation.protocol=cheating"), "evaluation.protocol"),
    ("unknown entity mode", lambda t, r: train("entity_mode=both"), "entity_mode"),
    ("output folder under a file", lambda t, r: train(f"work_dir={_csv(t / 'f.txt', 'x')}/run"), "Cannot write the run folder"),
    ("read-only output folder", lambda t, r: train("work_dir=/proc/ssmad-run"), "Cannot write the run folder"),
    ("earlier run without resume", lambda t, r: train(f"work_dir={r.prev}"), "already holds a training run"),
    ("resume with another config", lambda t, r: train(f"work_dir={r.prev}", "trainer.resume=true", "data.window=30"), "data.window"),
    # checkpoints
    ("test without a checkpoint", lambda t, r: ["-c", CFG, "-m", "test", f"work_dir={t}", *TINY], "Checkpoint not found"),
    ("corrupt checkpoint", lambda t, r: ["-c", CFG, "-m", "test", f"checkpoint={_flip_bytes(r.prev / 'ckpt_best.pth', t / 'c.pth')}", *TINY], "corrupt"),
    ("foreign checkpoint", lambda t, r: (torch.save({"w": 1}, t / "f.pth"), ["-c", CFG, "-m", "test", f"checkpoint={t / 'f.pth'}", *TINY])[1], "not an ssmad checkpoint"),
    ("checkpoint of another model", lambda t, r: ["-c", CFG, "-m", "test", f"work_dir={r.prev}", *TINY, "model.bottleneck=4"], "different model config"),
    ("checkpoint of other data", lambda t, r: ["-c", CFG, "-m", "test", f"work_dir={r.prev}", *TINY, "data.n_features=4"], "does not fit"),
    # dataset files (SMAP telemanom layout, and a raw-array source for label checks)
    ("missing data root", lambda t, r: train(f"data.root={t / 'none'}", cfg=SMAP_CFG), "data not found under"),
    ("csv with the wrong delimiter", lambda t, r: train(f"data.root={write_telemanom(t / 'd', sep=';')}", cfg=SMAP_CFG), "labeled_anomalies.csv"),
    ("malformed anomaly sequences", lambda t, r: train(f"data.root={write_telemanom(t / 'd', sequences='[[1, 2')}", cfg=SMAP_CFG), "anomaly_sequences"),
    ("empty series", lambda t, r: train(f"data.root={write_telemanom(t / 'd', train=np.zeros((0, 2)))}", cfg=SMAP_CFG), "empty"),
    ("NaN in training data", lambda t, r: train(f"data.root={write_telemanom(t / 'd', train=np.full((300, 2), np.nan))}", cfg=SMAP_CFG), "nan_policy"),
    ("inf in test data", lambda t, r: train(f"data.root={write_telemanom(t / 'd', test=np.full((300, 2), np.inf))}", cfg=SMAP_CFG), "NaN/inf"),
    ("train/test width mismatch", lambda t, r: train(f"data.root={write_telemanom(t / 'd', test=np.zeros((300, 3)))}", cfg=SMAP_CFG), "features"),
    ("unknown entity", lambda t, r: train(f"data.root={write_telemanom(t / 'd')}", "data.entities=['Z-9']", cfg=SMAP_CFG), "Z-9"),
    ("labels not 0/1", lambda t, r: train("data.type=_arrays", f"data.file={write_arrays(t / 'a.npz', labels=np.full(300, 2))}"), "0/1"),
    ("label length mismatch", lambda t, r: train("data.type=_arrays", f"data.file={write_arrays(t / 'a.npz', labels=np.zeros(299, int))}"), "299 test labels"),
    # new data for -m predict
    ("predict without a file", lambda t, r: predict(r.prev), "data.path"),
    ("predict missing file", lambda t, r: predict(r.prev, f"data.path={t / 'none.csv'}"), "none.csv"),
    ("predict empty csv", lambda t, r: predict(r.prev, f"data.path={_csv(t / 'e.csv', '')}"), "e.csv"),
    ("predict wrong delimiter", lambda t, r: predict(r.prev, f"data.path={_csv(t / 's.csv', _table(sep=';'))}"), "comma-separated"),
    ("predict wrong column count", lambda t, r: predict(r.prev, f"data.path={_csv(t / 'w.csv', _table(n_features=3))}"), "expects 8"),
    ("predict NaN", lambda t, r: predict(r.prev, f"data.path={_csv(t / 'n.csv', _table(nan=True))}"), "NaN/inf"),
    ("predict series shorter than the window", lambda t, r: predict(r.prev, f"data.path={_csv(t / 'x.csv', _table(rows=5))}"), "window"),
    ("predict unsupported file type", lambda t, r: predict(r.prev, f"data.path={_csv(t / 'x.xlsx', 'a')}"), "unsupported"),
    # round two (issue 15): each once went silently wrong, trained in full first, or gave the wrong advice
    ("1 predict renamed columns", lambda t, r: predict(r.csv, f"data.path={write_series(t / 'n.csv', rename={'a': 'x'})}"), "lacks the column(s) ['a']"),
    ("1 predict fewer named columns", lambda t, r: predict(r.csv, f"data.path={write_series(t / 'n.csv', columns=('c', 'a'))}"), "['b']"),
    ("1 predict wrong delimiter for a ; run", lambda t, r: predict(r.semicolon, f"data.path={write_series(t / 'n.csv')}"), "run's delimiter ';'"),
    ("2 unsorted timestamps", lambda t, r: csv_train(write_series(t / 's.csv', shuffle=True)), "not in time order"),
    ("2 predict unsorted timestamps", lambda t, r: predict(r.csv, f"data.path={write_series(t / 's.csv', shuffle=True)}", "predict.chunk_size=50"), "Sort the file"),
    ("3 unnamed column that is no index", lambda t, r: csv_train(_csv(t / 'u.csv', 'timestamp,a,,is_anomaly\n' + '\n'.join(f'{i},{i % 7},{i % 5},0' for i in range(200)))), "column 3 has no name"),
    ("4 unknown protocol, before training", lambda t, r: train("evaluation.protocol=honset"), "evaluation.protocol='honset'"),
    ("4 unknown entity scaling", lambda t, r: train("evaluation.entity_scaling=iqr"), "evaluation.entity_scaling='iqr'"),
    ("4 pot keeps the percentile's q", lambda t, r: train("evaluation.threshold.type=pot"), "evaluation.threshold.q=0.001"),
    ("4 a detector that cannot score the labelled features", lambda t, r: train("model.type=iforest", f"data.root={write_telemanom(t / 'd')}", cfg=SMAP_CFG), "evaluation.score_features=all"),
    ("4 no validation split for the threshold", lambda t, r: train("data.val_fraction=0"), "data.val_fraction > 0"),
    (
        "4 no validation split for entity scaling",
        lambda t, r: train("data.val_fraction=0", "evaluation.protocol=legacy", "evaluation.entity_scaling=val"),
        "evaluation.entity_scaling=val needs validation scores",
    ),
    ("5 data.timestamp_column reaches the loader", lambda t, r: csv_train(write_series(t / 'd.csv'), "data.timestamp_column=when"), "no column 'when' (data.timestamp_column)"),
    ("6 numeric test path", lambda t, r: train("data.type=csv", "data.test_path=2024"), "Missing 2024"),
    ("6 numeric checkpoint", lambda t, r: ["-c", CFG, "-m", "test", "checkpoint=5", *TINY], "Checkpoint not found: 5"),
    ("6 None for a number", lambda t, r: train("data.window=none"), "'data.window' cannot be None"),
    ("7 predict with an image config", lambda t, r: ["-c", IMAGE_CFG, "-m", "predict", f"checkpoint={image_run(t / 'img')}", "data.path=x.csv"], "time series only"),
    ("7 predict on an image run", lambda t, r: predict(image_run(t / 'img'), "data.path=x.csv"), "is an image run"),
    ("8 zero epochs", lambda t, r: train("trainer.epochs=0"), "trainer.epochs must be a positive integer"),
    ("8 negative epochs", lambda t, r: train("trainer.epochs=-1"), "trainer.epochs must be a positive integer"),
    ("8 test a separate run as one model", lambda t, r: ["-c", CFG, "-m", "test", f"checkpoint={r.separate}", *TINY], "test it with entity_mode=separate"),
    ("8 test one model as a separate run", lambda t, r: ["-c", CFG, "-m", "test", f"checkpoint={r.prev}", "entity_mode=separate", *TINY], "without entity_mode=separate"),
    ("8 empty csv", lambda t, r: csv_train(_csv(t / 'e.csv', '')), "is empty"),
    ("8 csv with a header and no rows", lambda t, r: csv_train(_csv(t / 'h.csv', 'timestamp,a,is_anomaly\n')), "header but no data rows"),
    ("8 predict csv with a header and no rows", lambda t, r: predict(r.csv, "data.path=" + str(_csv(t / 'h.csv', 'timestamp,a,b,c\n'))), "header but no data rows"),
    ("8 window longer than the training part", lambda t, r: train("data.train_length=300", "data.window=400"), "300 training steps leave 0 after"),
    ("10 zero steps", lambda t, r: train("trainer.max_steps=0"), "trainer.max_steps must be a positive integer"),
]


@pytest.mark.parametrize("name, build, needle", CASES, ids=[c[0] for c in CASES])
def test_bad_input_gives_one_clear_error(name, build, needle, untouched, tmp_path, capsys):
    code = main(build(tmp_path, untouched))
    err = capsys.readouterr().err
    assert code == 2, err
    _one_error(err, needle)
    assert "train loss" not in err and "fit without gradients" not in err  # every part of the config is checked before training
    assert not (tmp_path / "runs").exists()  # no run folder holding only a log is left behind


def _one_error(err: str, needle: str) -> None:
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and err.rstrip().splitlines()[-1] == errors[0], err
    assert needle in errors[0], errors[0]
    assert "Traceback" not in err


def _scores_nan(t: Path) -> Path:
    np.save(t / "labels.npy", np.r_[np.zeros(50), np.ones(10)])
    np.save(t / "scores.npy", np.r_[np.zeros(30), np.nan, np.zeros(29)])
    return t


METRIC_CASES = [
    ("8 NaN in the scores without validation scores", lambda t: ["--labels", str(_scores_nan(t) / "labels.npy"), "--scores", str(t / "scores.npy")], "--scores"),
    ("8 NaN in the labels", lambda t: ["--labels", str(_scores_nan(t) / "scores.npy"), "--scores", str(t / "labels.npy")], "--labels"),
]


@pytest.mark.parametrize("name, build, needle", METRIC_CASES, ids=[c[0] for c in METRIC_CASES])
def test_bad_metric_input_names_the_file(name, build, needle, tmp_path, capsys):
    assert metric_cli.main(build(tmp_path)) == 2
    _one_error(capsys.readouterr().err, needle)


def _calibration(run_dir: Path) -> dict:
    return json.loads((run_dir / "calibration.json").read_text())


def _scores(folder: Path) -> pd.DataFrame:
    return pd.read_csv(folder / "scores.csv")


def _predict_twice(t: Path, r) -> list[str]:
    """new.csv, then new.npy: the first prediction must survive the second."""
    frame = pd.read_csv(write_series(t / "new.csv"))
    np.save(t / "new.npy", frame[["a", "b", "c"]].to_numpy())
    assert main(predict(r.csv, f"data.path={t / 'new.csv'}")) == 0
    return predict(r.csv, f"data.path={t / 'new.npy'}")


def _both_predictions_kept(t: Path, r) -> None:
    csv, npy = _scores(r.csv / "predict" / "new.csv"), _scores(r.csv / "predict" / "new.npy")
    assert len(csv) == len(npy) == 600 and csv["timestamp"].iloc[0] == "2024-01-01 00:00:00"
    np.testing.assert_allclose(csv["score"], npy["score"], rtol=1e-6)
    shutil.rmtree(r.csv / "predict")  # the earlier run as it was


def _same_scores_as_in_order(t: Path, r) -> None:
    out = r.csv / "predict"
    assert main(predict(r.csv, f"data.path={write_series(t / 'abc.csv')}")) == 0
    np.testing.assert_array_equal(_scores(out / "cba.csv")["score"], _scores(out / "abc.csv")["score"])
    shutil.rmtree(out)


def _in_predict(name: str, rows: int, run: str = "csv"):
    """Check: ``rows`` scores in the prediction ``name`` of run ``run`` (an earlier run's, or one under tmp), then remove it."""
    def check(t: Path, r) -> None:
        folder = getattr(r, run, t / run) / "predict"
        assert len(_scores(folder / name)) == rows
        shutil.rmtree(folder)

    return check


def _train_on_c_and_a(t: Path, r) -> list[str]:
    assert main(csv_train(write_series(t / "train.csv"), "data.feature_columns=[c,a]", f"work_dir={t / 'fc'}")) == 0
    return predict(t / "fc", f"data.path={write_series(t / 'new.csv')}")


def _trained_in(name: str):
    def check(t: Path, r) -> None:
        assert (t / name / "results.json").is_file()

    return check


_trained = _trained_in("run")


def _features_abc(t: Path, r) -> None:
    assert _calibration(t / "run")["columns"]["features"] == ["a", "b", "c"]


def _scaler_none(t: Path, r) -> None:
    assert load(t / "run" / "config.py")["data"]["scaler"] == "none"


# (id, builder(tmp, earlier runs) -> argv, text a WARNING line must contain or None, check(tmp, earlier runs))
HANDLED = [
    ("1 predict matches columns by name", lambda t, r: predict(r.csv, f"data.path={write_series(t / 'cba.csv', columns=('c', 'b', 'a'))}"), None, _same_scores_as_in_order),
    ("1 predict the training csv itself", lambda t, r: predict(r.csv, f"data.path={write_series(t / 'train.csv')}"), None, _in_predict("train.csv", 600)),
    ("1 predict with the run's delimiter", lambda t, r: predict(r.semicolon, f"data.path={write_series(t / 'sc.csv', sep=';')}"), None, _in_predict("sc.csv", 600, run="semicolon")),
    ("1 predict uses the run's data.feature_columns", _train_on_c_and_a, "['b'] are not features of the run", _in_predict("new.csv", 600, run="fc")),
    ("1 predict leaves extra columns out", lambda t, r: predict(r.csv, f"data.path={write_series(t / 'ix.csv', index=True)}"), "left out", _in_predict("ix.csv", 600)),
    ("2 one step back in time (a clock glitch)", lambda t, r: csv_train(write_series(t / 'g.csv', glitch=True), f"work_dir={t / 'run'}"), "1 step(s) back in time (first at row 12", _trained),
    ("2 repeated timestamps", lambda t, r: csv_train(write_series(t / 'r.csv', repeat=True), f"work_dir={t / 'run'}"), "1 repeated timestamp(s)", _trained),
    ("3 a pandas index column is not a feature", lambda t, r: csv_train(write_series(t / 'i.csv', index=True), f"work_dir={t / 'run'}"), "pandas index", _features_abc),
    ("6 a work_dir that looks like a number", lambda t, r: train("work_dir=123"), None, _trained_in("123")),
    ("6 (issue 14) data.scaler=none as typed", lambda t, r: train("data.scaler=none", f"work_dir={t / 'run'}"), None, _scaler_none),
    ("9 predict new.csv, then new.npy", _predict_twice, None, _both_predictions_kept),
    ("13 no anomaly in the test labels", lambda t, r: train("data.type=_arrays", f"data.file={write_arrays(t / 'a.npz')}", f"work_dir={t / 'run'}"), "hold no anomaly", _trained),
    ("13 data.max_points cuts the anomalies off", lambda t, r: train("data.type=_arrays", f"data.file={write_arrays(t / 'a.npz', labels=np.r_[np.zeros(250), np.ones(10), np.zeros(40)])}",
                                                                      "data.max_points=200", f"work_dir={t / 'run'}"), "data.max_points=200 cut", _trained),
]


@pytest.mark.parametrize("name, build, needle, check", HANDLED, ids=[c[0] for c in HANDLED])
def test_once_silently_wrong_input_is_handled(name, build, needle, check, untouched, tmp_path, capsys):
    code = main(build(tmp_path, untouched))
    err = capsys.readouterr().err
    assert code == 0, err
    if needle is not None:
        assert any(" WARNING " in line and needle in line for line in err.splitlines()), err
    check(tmp_path, untouched)


def test_constant_channels_are_handled_not_an_error(tmp_path):
    assert main(train("data.type=_arrays", f"data.file={write_arrays(tmp_path / 'a.npz', constant=True)}", f"work_dir={tmp_path / 'run'}")) == 0
    assert (tmp_path / "run" / "results.json").is_file()


def test_debug_shows_the_traceback(tmp_path):
    from util.errors import ConfigError

    with pytest.raises(ConfigError, match="epohcs"):
        main(["--debug", *train("trainer.epohcs=2")])


def _interrupt_after(epochs: int, monkeypatch):
    """Ctrl-C at the end of epoch ``epochs + 1``, before its checkpoint; returns the real method."""
    original = trainer.base.Trainer._end_epoch

    def end_epoch(self, *args):
        if self.epoch + 1 > epochs:
            raise KeyboardInterrupt
        original(self, *args)

    monkeypatch.setattr(trainer.base.Trainer, "_end_epoch", end_epoch)
    return original


def test_ctrl_c_names_the_run_folder_and_the_resume_command(tmp_path, monkeypatch, capsys):
    original = _interrupt_after(1, monkeypatch)
    assert main(train("trainer.epochs=3", "trainer.patience=5")) == 130
    run_dir = next(Path("runs/dense_ae_synthetic").iterdir())
    last = capsys.readouterr().err.rstrip().splitlines()[-1]
    assert last == f"interrupted: continue the run with: python run.py -c {run_dir / 'config.py'} -m train trainer.resume=true work_dir={run_dir}"
    monkeypatch.setattr(trainer.base.Trainer, "_end_epoch", original)
    assert main(["-c", str(run_dir / "config.py"), "-m", "train", "trainer.resume=true", f"work_dir={run_dir}"]) == 0  # the advice works


def test_ctrl_c_before_the_first_checkpoint_leaves_no_folder(tmp_path, monkeypatch, capsys):
    _interrupt_after(0, monkeypatch)
    assert main(train()) == 130
    assert "no checkpoint was written yet, so the run folder" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


def test_flop_table_is_printed_once_and_fvcore_warns_nothing(monkeypatch, capsys):
    """fvcore scripts its losses on import (a torch FutureWarning): import it afresh and listen."""
    for module in [m for m in sys.modules if m == "fvcore" or m.startswith("fvcore.")]:
        monkeypatch.delitem(sys.modules, module)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main(["-c", CFG, "-m", "profile", *TINY]) == 0
    captured = capsys.readouterr()
    assert (captured.out + captured.err).count("| module ") == 1
    assert not [w for w in caught if issubclass(w.category, FutureWarning)], [str(w.message) for w in caught]
