"""Bad inputs (loaders, configs, command-line overrides, checkpoints, predict files): each ends with
exit code 2 and one ``error:`` paragraph naming the file or key, no traceback, and earlier run
folders byte-for-byte unchanged."""
import hashlib
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from data.timeseries.base import Entity, TimeSeriesSource
from run import main
from util.registry import DATASETS

REPO = Path(__file__).resolve().parents[1]
CFG = str(REPO / "configs/baselines/dense_ae_synthetic.py")
SMAP_CFG = str(REPO / "configs/baselines/dense_ae_smap.py")
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


@pytest.fixture(scope="module")
def prev(tmp_path_factory):
    """An earlier, finished run that no failing command may touch."""
    run_dir = tmp_path_factory.mktemp("earlier") / "run"
    assert main(["-c", CFG, "-m", "train", f"work_dir={run_dir}", *TINY]) == 0
    return run_dir


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


def predict(prev_dir, *extra):
    return ["-c", CFG, "-m", "predict", f"checkpoint={prev_dir}", *TINY, *extra]


# (id, builder(tmp, prev) -> argv, text the message must contain)
CASES = [
    # config files and command-line overrides
    ("missing config file", lambda t, p: ["-c", "configs/nope.py", "-m", "train"], "nope.py"),
    ("misspelled key", lambda t, p: train("trainer.epohcs=2"), "Did you mean 'epochs'"),
    ("wrong value type", lambda t, p: train("trainer.epochs=two"), "trainer.epochs"),
    ("override without =", lambda t, p: train("trainer.epochs"), "key=value"),
    ("unknown detector", lambda t, p: train("model.type=dense_aee"), "dense_aee"),
    ("unknown dataset", lambda t, p: train("data.type=synthetik"), "synthetik"),
    ("unknown component key", lambda t, p: train("model.hiden=[4]"), "hiden"),
    ("unknown threshold rule", lambda t, p: train("evaluation.threshold.type=magic"), "magic"),
    ("unknown scaler", lambda t, p: train("data.scaler=robust"), "data.scaler"),
    ("unknown nan policy", lambda t, p: train("data.nan_policy=drop"), "data.nan_policy"),
    ("window longer than the series", lambda t, p: train("data.window=5000"), "window"),
    ("window zero", lambda t, p: train("data.window=0"), "data.window"),
    ("unknown device", lambda t, p: train("device=tpu9"), "device"),
    ("unknown protocol", lambda t, p: train("evaluation.protocol=cheating"), "evaluation.protocol"),
    ("unknown entity mode", lambda t, p: train("entity_mode=both"), "entity_mode"),
    ("output folder under a file", lambda t, p: train(f"work_dir={_csv(t / 'f.txt', 'x')}/run"), "Cannot write the run folder"),
    ("read-only output folder", lambda t, p: train("work_dir=/proc/ssmad-run"), "Cannot write the run folder"),
    ("earlier run without resume", lambda t, p: train(f"work_dir={p}"), "already holds a training run"),
    ("resume with another config", lambda t, p: train(f"work_dir={p}", "trainer.resume=true", "data.window=30"), "data.window"),
    # checkpoints
    ("test without a checkpoint", lambda t, p: ["-c", CFG, "-m", "test", f"work_dir={t}", *TINY], "Checkpoint not found"),
    ("corrupt checkpoint", lambda t, p: ["-c", CFG, "-m", "test", f"checkpoint={_flip_bytes(p / 'ckpt_best.pth', t / 'c.pth')}", *TINY], "corrupt"),
    ("foreign checkpoint", lambda t, p: (torch.save({"w": 1}, t / "f.pth"), ["-c", CFG, "-m", "test", f"checkpoint={t / 'f.pth'}", *TINY])[1], "not an ssmad checkpoint"),
    ("checkpoint of another model", lambda t, p: ["-c", CFG, "-m", "test", f"work_dir={p}", *TINY, "model.bottleneck=4"], "different model config"),
    ("checkpoint of other data", lambda t, p: ["-c", CFG, "-m", "test", f"work_dir={p}", *TINY, "data.n_features=4"], "does not fit"),
    # dataset files (SMAP telemanom layout, and a raw-array source for label checks)
    ("missing data root", lambda t, p: train(f"data.root={t / 'none'}", cfg=SMAP_CFG), "data not found under"),
    ("csv with the wrong delimiter", lambda t, p: train(f"data.root={write_telemanom(t / 'd', sep=';')}", cfg=SMAP_CFG), "labeled_anomalies.csv"),
    ("malformed anomaly sequences", lambda t, p: train(f"data.root={write_telemanom(t / 'd', sequences='[[1, 2')}", cfg=SMAP_CFG), "anomaly_sequences"),
    ("empty series", lambda t, p: train(f"data.root={write_telemanom(t / 'd', train=np.zeros((0, 2)))}", cfg=SMAP_CFG), "empty"),
    ("NaN in training data", lambda t, p: train(f"data.root={write_telemanom(t / 'd', train=np.full((300, 2), np.nan))}", cfg=SMAP_CFG), "nan_policy"),
    ("inf in test data", lambda t, p: train(f"data.root={write_telemanom(t / 'd', test=np.full((300, 2), np.inf))}", cfg=SMAP_CFG), "NaN/inf"),
    ("train/test width mismatch", lambda t, p: train(f"data.root={write_telemanom(t / 'd', test=np.zeros((300, 3)))}", cfg=SMAP_CFG), "features"),
    ("unknown entity", lambda t, p: train(f"data.root={write_telemanom(t / 'd')}", "data.entities=['Z-9']", cfg=SMAP_CFG), "Z-9"),
    ("labels not 0/1", lambda t, p: train("data.type=_arrays", f"data.file={write_arrays(t / 'a.npz', labels=np.full(300, 2))}"), "0/1"),
    ("label length mismatch", lambda t, p: train("data.type=_arrays", f"data.file={write_arrays(t / 'a.npz', labels=np.zeros(299, int))}"), "299 test labels"),
    # new data for -m predict
    ("predict without a file", lambda t, p: predict(p), "data.path"),
    ("predict missing file", lambda t, p: predict(p, f"data.path={t / 'none.csv'}"), "none.csv"),
    ("predict empty csv", lambda t, p: predict(p, f"data.path={_csv(t / 'e.csv', '')}"), "e.csv"),
    ("predict wrong delimiter", lambda t, p: predict(p, f"data.path={_csv(t / 's.csv', _table(sep=';'))}"), "comma-separated"),
    ("predict wrong column count", lambda t, p: predict(p, f"data.path={_csv(t / 'w.csv', _table(n_features=3))}"), "expects 8"),
    ("predict NaN", lambda t, p: predict(p, f"data.path={_csv(t / 'n.csv', _table(nan=True))}"), "NaN/inf"),
    ("predict series shorter than the window", lambda t, p: predict(p, f"data.path={_csv(t / 'x.csv', _table(rows=5))}"), "window"),
    ("predict unsupported file type", lambda t, p: predict(p, f"data.path={_csv(t / 'x.xlsx', 'a')}"), "unsupported"),
]


@pytest.mark.parametrize("name, build, needle", CASES, ids=[c[0] for c in CASES])
def test_bad_input_gives_one_clear_error(name, build, needle, prev, tmp_path, capsys):
    before = snapshot(prev)
    code = main(build(tmp_path, prev))
    err = capsys.readouterr().err
    assert code == 2, err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and err.rstrip().splitlines()[-1] == errors[0], err
    assert needle in errors[0], errors[0]
    assert "Traceback" not in err
    assert snapshot(prev) == before


def test_constant_channels_are_handled_not_an_error(tmp_path):
    assert main(train("data.type=_arrays", f"data.file={write_arrays(tmp_path / 'a.npz', constant=True)}", f"work_dir={tmp_path / 'run'}")) == 0
    assert (tmp_path / "run" / "results.json").is_file()


def test_debug_shows_the_traceback(tmp_path):
    from util.errors import ConfigError

    with pytest.raises(ConfigError, match="epohcs"):
        main(["--debug", *train("trainer.epohcs=2")])
