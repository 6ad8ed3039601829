"""The generic trainer: loss falls, checkpoints hold everything, resume is exact (whatever the
device and optimiser kernel), deterministic mode trains, and the run's time is projected up front
without changing it."""
import logging
import os

import numpy as np
import pytest
import torch
from torch import nn

import trainer.base as base
from data.timeseries.base import TimeSeriesSource
from data.timeseries.entity import Entity
from model.detectors.base import Detector
from trainer.base import NonFiniteLossError, Trainer
from trainer.optim import kernel_name
from trainer.run_folder import BEST, LAST
from util.checkpoint import load_checkpoint
from util.logging import LOGGER_NAME
from util.registry import DATASETS, DETECTORS
from util.seed import seed_everything, set_deterministic


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

    def feature_contributions(self, batch):
        return (self(batch)["recon"] - batch["x"]) ** 2


def build(run_dir, seed=0, device="cpu", **kwargs):
    data = Sines(window=20, batch_size=16, val_fraction=0.2).prepare()
    seed_everything(seed)
    detector = DETECTORS.build(dict(type="_test_ae"), **data.model_kwargs).to(device)
    options = dict(epochs=3, patience=10, optimizer=dict(type="adam", lr=1e-2), progress=False) | kwargs
    return Trainer(detector=detector, data=data, run_dir=run_dir, device=torch.device(device), seed=0, **options)


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


def test_max_steps_stops_early(tmp_path, ssmad_log):
    ssmad_log.set_level(logging.INFO, logger=LOGGER_NAME)
    trainer = build(tmp_path, max_steps=3)
    trainer.fit()
    assert trainer.step == 3 and load_checkpoint(tmp_path / LAST)["finished"]
    assert "time estimate" not in ssmad_log.text  # a run as short as the timing is not estimated


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


@pytest.mark.filterwarnings("ignore:.*meta parameter")  # loading weights into a data-less model is a no-op, as meant
def test_resume_reads_the_rng_states_onto_the_cpu_whatever_the_model_device(tmp_path):
    """Issue 22: the checkpoint was loaded with map_location=<model device>, so on CUDA the RNG
    states became CUDA tensors and torch.set_rng_state refused them. A model on the meta device
    (data-less, but a device other than the CPU) reproduces that on a CPU-only machine."""
    build(tmp_path, epochs=1).fit()
    saved = load_checkpoint(tmp_path / LAST)["rng"]["torch"]
    resumed = build(tmp_path, epochs=2, resume=True, device="meta")
    torch.manual_seed(123)
    resumed._restore(tmp_path / LAST)
    assert torch.equal(torch.get_rng_state(), saved) and resumed.epoch == 1


@pytest.mark.parametrize("first, then", [("fused", "loop"), ("loop", "fused")])
def test_a_checkpoint_resumes_under_the_other_optimiser_kernel(tmp_path, first, then):
    kernels = {"fused": dict(fused=True), "loop": dict(fused=False, foreach=False)}
    optimizer = lambda kernel: dict(type="adam", lr=1e-2) | kernels[kernel]  # noqa: E731
    build(tmp_path / "cut", epochs=1, optimizer=optimizer(first)).fit()
    resumed = build(tmp_path / "cut", epochs=2, resume=True, optimizer=optimizer(then))
    resumed.fit()
    assert kernel_name(resumed.optimizer) == then
    build(tmp_path / "full", epochs=2, optimizer=optimizer(then)).fit()
    reference = load_checkpoint(tmp_path / "full" / LAST)["model"]
    for key, value in load_checkpoint(tmp_path / "cut" / LAST)["model"].items():
        torch.testing.assert_close(value, reference[key], rtol=1e-4, atol=1e-5)  # the kernels differ in rounding only


@pytest.fixture
def restore_determinism():
    """Put the process-wide switches ``set_deterministic`` turns back as they were."""
    saved = torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.benchmark, os.environ.get("CUBLAS_WORKSPACE_CONFIG")
    yield
    torch.use_deterministic_algorithms(saved[0])
    torch.backends.cudnn.benchmark = saved[1]
    if saved[2] is None:
        os.environ.pop("CUBLAS_WORKSPACE_CONFIG", None)
    else:
        os.environ["CUBLAS_WORKSPACE_CONFIG"] = saved[2]


def test_deterministic_mode_sets_the_switches_and_a_cpu_run_still_trains(tmp_path, restore_determinism):
    from util.config import load

    assert load("configs/kambaad/kambaad_synthetic.py", ["deterministic=true"])["deterministic"] is True
    os.environ.pop("CUBLAS_WORKSPACE_CONFIG", None)
    torch.backends.cudnn.benchmark = True
    set_deterministic(True)
    assert torch.are_deterministic_algorithms_enabled() and not torch.backends.cudnn.benchmark
    assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
    trainer = build(tmp_path, epochs=1)
    before = trainer._validate()
    trainer.fit()
    assert trainer.best_val < before


def test_cpu_config_must_name_a_file():
    from util.config import load
    from util.errors import ConfigError

    with pytest.raises(ConfigError, match="cpu_config='configs/nope.py' is not a config file"):
        load("configs/kambaad/kambaad_synthetic.py", ["cpu_config=configs/nope.py"])
    assert load("configs/kambaad/kambaad_synthetic.py", ["cpu_config=configs/kambaad/kambaad_smd.py"])["cpu_config"] == "configs/kambaad/kambaad_smd.py"


def test_the_time_estimate_comes_before_the_first_step_and_changes_nothing(tmp_path, ssmad_log, monkeypatch):
    ssmad_log.set_level(logging.INFO, logger=LOGGER_NAME)
    trainer = build(tmp_path / "estimated", epochs=2)
    real_step, lines_before_first_step = trainer._train_step, []
    monkeypatch.setattr(trainer, "_train_step", lambda batch: lines_before_first_step.append(ssmad_log.text) or real_step(batch))
    trainer.fit()
    assert "time estimate (cpu" in lines_before_first_step[0] and "optimiser" in lines_before_first_step[0]
    assert "projected to take" not in ssmad_log.text

    plain = build(tmp_path / "plain", epochs=2)
    monkeypatch.setattr(plain, "_log_time_estimate", lambda: None)
    plain.fit()
    estimated, reference = (load_checkpoint(tmp_path / run / LAST) for run in ("estimated", "plain"))
    for key, value in reference["model"].items():
        assert torch.equal(estimated["model"][key], value)  # same weights, RNG stream and optimiser state
    assert torch.equal(estimated["rng"]["torch"], reference["rng"]["torch"])


def test_a_long_cpu_run_is_warned_about_once_naming_the_cpu_config(tmp_path, ssmad_log, monkeypatch):
    ssmad_log.set_level(logging.INFO, logger=LOGGER_NAME)
    ticks = iter(range(0, 10**9, 600))  # every clock reading 10 minutes after the last: a very slow step
    monkeypatch.setattr(base, "_clock", lambda device: float(next(ticks)))
    build(tmp_path, epochs=1, cpu_config="configs/kambaad/kambaad_smd_cpu.py").fit()
    warnings = list({id(r): r.getMessage() for r in ssmad_log.records if r.levelname == "WARNING"}.values())  # caplog may see a record twice
    assert len(warnings) == 1 and "projected to take" in warnings[0] and "h on the CPU (more than 3 h)" in warnings[0]
    assert "python run.py -c configs/kambaad/kambaad_smd_cpu.py -m train" in warnings[0]
