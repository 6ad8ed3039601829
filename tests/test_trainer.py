"""The generic trainer: loss falls, checkpoints hold everything, resume is exact."""
import numpy as np
import pytest
import torch
from torch import nn

from data.timeseries.base import Entity, TimeSeriesSource
from model.detectors.base import Detector
from trainer.base import BEST, LAST, NonFiniteLossError, Trainer
from util.checkpoint import load_checkpoint
from util.registry import DATASETS, DETECTORS
from util.seed import seed_everything


@DATASETS.register("_test_sines")
class Sines(TimeSeriesSource):
    """Three noisy sines; the test half has a level shift."""

    def read(self):
        rng = np.random.default_rng(0)
        t = np.arange(600)[:, None]
        series = np.sin(t / np.array([5.0, 9.0, 13.0])) + 0.05 * rng.standard_normal((600, 3))
        labels = np.zeros(300, int)
        labels[150:160] = 1
        test = series[300:].copy()
        test[150:160] += 3.0
        return [Entity("sines", series[:300], test, labels)]


@DETECTORS.register("_test_ae")
class TinyAE(Detector):
    """Window autoencoder with dropout (so RNG state matters for resume)."""

    def __init__(self, n_features: int, window: int, loss: dict | None = None) -> None:
        super().__init__(loss or dict(type="mse"))
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(n_features * window, 16), nn.Dropout(0.2), nn.ReLU(), nn.Linear(16, n_features * window))

    def forward(self, batch):
        x = batch["x"]
        return {"recon": self.net(x).view_as(x)}

    def score(self, batch):
        return ((self(batch)["recon"] - batch["x"]) ** 2).mean(-1)


def build(run_dir, seed=0, **kwargs):
    data = Sines(window=20, batch_size=16, val_fraction=0.2).prepare()
    seed_everything(seed)
    detector = DETECTORS.build(dict(type="_test_ae"), **data.model_kwargs)
    options = dict(epochs=3, patience=10, optimizer=dict(type="adam", lr=1e-2), progress=False) | kwargs
    return Trainer(detector=detector, data=data, run_dir=run_dir, device=torch.device("cpu"), seed=0, **options)


def test_loss_falls_and_both_checkpoints_are_written(tmp_path):
    trainer = build(tmp_path, epochs=4)
    first = trainer._validate()
    trainer.fit()
    assert (tmp_path / BEST).is_file() and (tmp_path / LAST).is_file()
    state = load_checkpoint(tmp_path / LAST)
    assert state["epoch"] == 4 and state["finished"]
    assert {"model", "optimizer", "scheduler", "rng", "step"} <= set(state)
    assert state["best_val"] < first
    assert any((tmp_path / "tensorboard").iterdir())


def test_resume_after_interruption_gives_identical_weights(tmp_path, monkeypatch):
    build(tmp_path / "full").fit()
    reference = load_checkpoint(tmp_path / "full" / LAST)["model"]

    interrupted = build(tmp_path / "cut")
    real_step, calls = interrupted._train_step, []

    def crash_in_second_epoch(batch):
        calls.append(1)
        if interrupted.epoch == 1 and len(calls) > 20:
            raise KeyboardInterrupt  # stands in for kill -9 in the middle of epoch 2
        return real_step(batch)

    monkeypatch.setattr(interrupted, "_train_step", crash_in_second_epoch)
    with pytest.raises(KeyboardInterrupt):
        interrupted.fit()
    assert load_checkpoint(tmp_path / "cut" / LAST)["epoch"] == 1

    resumed = build(tmp_path / "cut", seed=123, resume=True)  # different init: weights must come from the checkpoint
    resumed.fit()
    final = load_checkpoint(tmp_path / "cut" / LAST)["model"]
    for key, value in reference.items():
        torch.testing.assert_close(final[key], value, rtol=0, atol=0)


def test_max_steps_stops_early(tmp_path):
    trainer = build(tmp_path, max_steps=3)
    trainer.fit()
    assert trainer.step == 3 and load_checkpoint(tmp_path / LAST)["finished"]


def test_non_finite_loss_names_the_step_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    trainer = build(tmp_path, epochs=2)
    trainer.fit()
    before = (tmp_path / LAST).read_bytes()
    again = build(tmp_path, epochs=4, resume=True)
    monkeypatch.setattr(again.detector, "loss", lambda batch: {"loss": torch.tensor(float("nan"), requires_grad=True)})
    with pytest.raises(NonFiniteLossError, match="epoch 3, step"):
        again.fit()
    assert (tmp_path / LAST).read_bytes() == before


def test_select_last_keeps_the_final_epoch_without_early_stopping(tmp_path, monkeypatch):
    trainer = build(tmp_path, epochs=3, patience=1, select="last")
    monkeypatch.setattr(trainer, "_validate", lambda: 0.0)  # a loss that never improves, like DCdetector's
    trainer.fit()
    assert load_checkpoint(tmp_path / BEST)["epoch"] == 3


def test_unknown_selection_is_a_config_error(tmp_path):
    from util.errors import ConfigError

    with pytest.raises(ConfigError, match="trainer.select"):
        build(tmp_path, select="best")
