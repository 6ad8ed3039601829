"""The one training loop every detector uses: optimiser, scheduler, clipping, AMP on CUDA,
validation-based early stopping and best-checkpoint selection (never on test data),
crash-safe checkpoints with RNG state, resume, TensorBoard scalars and progress bars.

Under torchrun (world size > 1) the detector's loss runs through ``DistributedDataParallel``,
each rank trains on its share of every global batch (``util.distributed.ShardedBatchSampler``),
and only rank 0 writes checkpoints, TensorBoard events and log lines."""
from __future__ import annotations

import copy
import math
import time
from pathlib import Path
from typing import Any

import torch
from tensorboardX import SummaryWriter
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from model.detectors.base import Detector
from trainer.optim import kernel_name, load_optimizer_state
from trainer.run_folder import BEST, LAST, RunFolder
from util import distributed as dist
from util.checkpoint import load_checkpoint, save_checkpoint
from util.device import move_batch
from util.errors import CheckpointError, ConfigError, UserError
from util.logging import get_logger
from util.registry import OPTIMIZERS, SCHEDULERS, TRAINERS
from util.seed import rng_state, set_rng_state

SELECTIONS = ("val_loss", "last")
PROBE_STEPS = 2  # timed steps (after one untimed warm-up step) behind the time estimate: ~3 steps of cost
CPU_WARN_HOURS = 3.0  # a CPU run projected past this many hours gets a warning


class NonFiniteLossError(UserError):
    """Training produced a NaN or infinite loss."""


class _LossModule(nn.Module):
    """``forward`` is the detector's loss, so DDP's gradient hooks see the whole objective."""

    def __init__(self, detector: Detector) -> None:
        super().__init__()
        self.detector = detector

    def forward(self, batch: dict) -> dict:
        return self.detector.loss(batch)


class _NullWriter:
    """Stands in for the TensorBoard writer on ranks other than 0."""

    def add_scalar(self, *args: Any) -> None:
        """Discard."""

    def close(self) -> None:
        """Nothing to close."""


@TRAINERS.register("base")
class Trainer:
    """Fits a detector on the training split and keeps the checkpoint with the best validation loss.

    Args:
        detector, data, run_dir, device, seed, model_cfg: supplied by ``run.py``.
        cpu_config: the config's documented CPU alternative (top-level ``cpu_config``), named in
            the warning when a CPU run is projected past ``CPU_WARN_HOURS``; supplied by ``run.py``.
        epochs: maximum number of epochs.
        max_steps: stop after this many optimiser steps in total (None: no limit).
        optimizer / scheduler: registry configs (``dict(type="adam", lr=...)``).
        grad_clip: maximum gradient norm (None: no clipping).
        amp: bfloat16 autocast; only used on CUDA.
        compile: run the training loss through ``torch.compile`` (graphs that fail to compile run
            eagerly). Pays off only for long runs: compiling a small KambaAD took ~3 min on a
            2-core CPU, then a training step was ~1.5x faster.
        patience: epochs without validation improvement before stopping.
        select: which epoch ``ckpt_best.pth`` keeps: ``val_loss`` (lowest validation loss, with
            early stopping) or ``last`` (the final epoch, no early stopping) for objectives whose
            value carries no signal, such as DCdetector's stop-gradient contrastive loss (always 0).
        resume: continue from ``run_dir/ckpt_last.pth`` when it exists.
        log_every: TensorBoard step-scalar interval.
        progress: show tqdm progress bars.
    """

    runtime_args = ("detector", "data", "run_dir", "device", "seed", "model_cfg", "cpu_config")

    def __init__(
        self,
        detector: Detector,
        data: Any,
        run_dir: Path,
        device: torch.device,
        seed: int = 0,
        model_cfg: dict | None = None,
        cpu_config: str | None = None,
        epochs: int = 10,
        max_steps: int | None = None,
        optimizer: dict | None = None,
        scheduler: dict | None = None,
        grad_clip: float | None = None,
        amp: bool = False,
        compile: bool = False,
        patience: int = 3,
        select: str = "val_loss",
        resume: bool = False,
        log_every: int = 20,
        progress: bool = True,
    ) -> None:
        self.detector, self.data, self.run_dir, self.device = detector, data, Path(run_dir), device
        self.seed, self.model_cfg, self.cpu_config = seed, model_cfg or {}, cpu_config
        self.epochs, self.max_steps, self.grad_clip = epochs, max_steps, grad_clip
        self.amp = amp and device.type == "cuda"
        if not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 1:
            raise ConfigError(f"trainer.epochs must be a positive integer, got {epochs!r}; to evaluate a trained run without training, use -m test.")
        if max_steps is not None and (not isinstance(max_steps, int) or isinstance(max_steps, bool) or max_steps < 1):
            raise ConfigError(f"trainer.max_steps must be a positive integer or None (no limit), got {max_steps!r}.")
        if select not in SELECTIONS:
            raise ConfigError(f"trainer.select='{select}' is unknown; use one of {', '.join(SELECTIONS)}.")
        self.patience, self.select, self.resume, self.log_every = patience, select, resume, log_every
        self.progress = progress and dist.is_main()
        self.log = get_logger()
        params = [p for p in detector.parameters() if p.requires_grad]
        self.optimizer = OPTIMIZERS.build(optimizer or dict(type="adam"), params=params) if detector.trainable and params else None
        self.scheduler = (
            SCHEDULERS.build(scheduler or dict(type="none"), optimizer=self.optimizer, epochs=epochs) if self.optimizer else None
        )
        self.epoch, self.step, self.best_val, self.bad_epochs, self.finished = 0, 0, math.inf, 0, False
        self.loss_fn: nn.Module = _LossModule(detector)
        if compile:
            self.loss_fn = compile_with_fallback(self.loss_fn)
        if dist.world_size() > 1 and self.optimizer is not None:
            self.loss_fn = DistributedDataParallel(self.loss_fn, device_ids=[device] if device.type == "cuda" else None)

    # ------------------------------------------------------------------ public
    def fit(self) -> None:
        """Train, validating after each epoch; leaves ``ckpt_last.pth`` and ``ckpt_best.pth``."""
        if not self.detector.trainable or self.optimizer is None:
            self._fit_offline()
            return
        if self.resume and (self.run_dir / LAST).is_file():
            self._restore(self.run_dir / LAST)
        if self.finished:
            self.log.info("Training had already finished (epoch %d); nothing to resume.", self.epoch)
            return
        if dist.is_main():
            self._log_time_estimate()
        writer = SummaryWriter(str(RunFolder(self.run_dir).tensorboard)) if dist.is_main() else _NullWriter()
        try:
            while self.epoch < self.epochs and not self.finished:
                train_loss = self._train_epoch(writer)
                val_loss = self._validate()
                self._end_epoch(train_loss, val_loss, writer)
        finally:
            writer.close()

    # ----------------------------------------------------------------- helpers
    def _fit_offline(self) -> None:
        self.log.info("%s is fit without gradients on the training split.", type(self.detector).__name__)
        self.detector.fit_offline(self.data.train_series())
        self.finished = True
        state = self._state()
        self._save(state, BEST)
        self._save(state, LAST)

    def _epoch_loader(self) -> Any:
        """This rank's training loader for the current epoch (shuffled by seed and epoch)."""
        return self.data.train_loader(seed=self.seed * 100_003 + self.epoch, rank=dist.rank(), num_replicas=dist.world_size())

    def _log_time_estimate(self) -> None:
        """Before the first step, log the projected time per epoch and for the run (the epochs and
        ``max_steps`` left), from steps timed on copies of the detector and optimiser: the run's own
        weights, optimiser state and RNG streams stay exactly as they were. Warn once when a CPU run
        is projected past ``CPU_WARN_HOURS``, naming the config's ``cpu_config`` when it has one.
        Validation is counted at the training forward's cost; evaluation after training is not
        counted. A run of no more steps than the timing itself is not estimated."""
        loader = self._epoch_loader()
        per_epoch = len(loader)
        steps = (self.epochs - self.epoch) * per_epoch
        if self.max_steps is not None:
            steps = min(steps, self.max_steps - self.step)
        if steps <= PROBE_STEPS + 1:
            return
        rng = rng_state()
        try:
            forward, backward, update = self._time_steps(next(iter(loader)))
        except (RuntimeError, TypeError) as exc:  # a detector that cannot be deep-copied, no memory for the copy
            self.log.info("No time estimate: timing steps on a copy of the detector failed (%s).", exc)
            return
        finally:
            set_rng_state(rng)
        val = self.data.val_loader()
        val_batches = len(val) if val is not None else 0
        step = forward + backward + update
        epoch_time = per_epoch * step + val_batches * forward
        epochs = math.ceil(steps / per_epoch)
        total = steps * step + epochs * val_batches * forward
        n_threads = torch.get_num_threads()
        threads = f", {n_threads} thread{'' if n_threads == 1 else 's'}" if self.device.type == "cpu" else ""
        self.log.info(
            "time estimate (%s%s, %s %s): %.3g s/step (forward %.3g, backward %.3g, optimiser %.3g) x %s steps + %s validation "
            "batches = %s/epoch; this run: %d epoch%s, %s steps = %s%s",
            self.device, threads, type(self.optimizer).__name__, kernel_name(self.optimizer), step, forward, backward, update,
            f"{per_epoch:,}", f"{val_batches:,}", _duration(epoch_time), epochs, "" if epochs == 1 else "s", f"{steps:,}",
            _duration(total), " at most (early stopping may end it sooner)" if self.select == "val_loss" and epochs > self.patience else "",
        )
        if self.device.type == "cpu" and total > CPU_WARN_HOURS * 3600:
            advice = "train on a GPU (device=cuda), or shorten it (trainer.epochs, trainer.max_steps)"
            if self.cpu_config:
                advice = f"this config has a CPU alternative: python run.py -c {self.cpu_config} -m train; or {advice}"
            self.log.warning("This run is projected to take %s on the CPU (more than %g h): %s.", _duration(total), CPU_WARN_HOURS, advice)

    def _time_steps(self, batch: dict) -> tuple[float, float, float]:
        """Seconds of (forward, backward, optimiser update) of one training step on ``batch``: the
        mean of ``PROBE_STEPS`` steps after a warm-up step, run eagerly (no torch.compile, no DDP)
        on deep copies of the detector and optimiser. Consumes RNG draws: the caller restores them."""
        detector, optimizer = copy.deepcopy((self.detector, self.optimizer))
        loss_fn = _LossModule(detector).train()
        batch = move_batch(batch, self.device)
        totals = [0.0, 0.0, 0.0]
        for index in range(PROBE_STEPS + 1):
            start = _clock(self.device)
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp):
                loss = loss_fn(batch)["loss"]
            forward = _clock(self.device)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            backward = _clock(self.device)
            if self.grad_clip:
                torch.nn.utils.clip_grad_norm_(detector.parameters(), self.grad_clip)
            optimizer.step()
            end = _clock(self.device)
            if index:
                for i, seconds in enumerate((forward - start, backward - forward, end - backward)):
                    totals[i] += seconds / PROBE_STEPS
        return totals[0], totals[1], totals[2]

    def _train_epoch(self, writer: SummaryWriter) -> float:
        self.detector.train()
        loader = self._epoch_loader()
        total, count = 0.0, 0
        bar = tqdm(loader, desc=f"epoch {self.epoch + 1}/{self.epochs}", disable=not self.progress, dynamic_ncols=True)
        for batch in bar:
            outputs = self._train_step(move_batch(batch, self.device))
            total, count = total + outputs["loss"], count + 1
            bar.set_postfix(loss=f"{outputs['loss']:.4g}")
            if self.step % self.log_every == 0:
                for name, value in outputs.items():
                    writer.add_scalar(f"train/{name}", value, self.step)
            if self.max_steps is not None and self.step >= self.max_steps:
                break
        bar.close()
        return total / max(count, 1)

    def _train_step(self, batch: dict) -> dict[str, float]:
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp):
            outputs = self.loss_fn(batch)
        loss = outputs["loss"]
        weight, global_loss = self._rank_weight(loss, batch)
        if not torch.isfinite(global_loss):
            raise NonFiniteLossError(
                f"The training loss became {global_loss.item()} at epoch {self.epoch + 1}, step {self.step + 1}. "
                + (f"The last good checkpoint is kept in {self.run_dir}. " if (self.run_dir / LAST).is_file() else "No checkpoint had been written yet. ")
                + "Lower trainer.optimizer.lr, set "
                "trainer.grad_clip=1.0, or check the data for extreme values."
            )
        self.optimizer.zero_grad(set_to_none=True)
        (loss * weight).backward()
        if self.grad_clip:
            torch.nn.utils.clip_grad_norm_(self.detector.parameters(), self.grad_clip)
        self.optimizer.step()
        self.step += 1
        scalars = {k: float(v.detach()) for k, v in outputs.items() if torch.is_tensor(v) and v.numel() == 1}
        return scalars | {"loss": float(global_loss)}

    def _rank_weight(self, loss: torch.Tensor, batch: dict) -> tuple[float, torch.Tensor]:
        """(weight of this rank's loss, mean loss over the global batch).

        Under DDP the weight is this rank's share of the global batch times the world size, so
        that DDP's gradient average equals the gradient of the global-batch mean loss; the mean
        loss is the same on every rank (logs, finiteness check). A single process: (1, loss).
        """
        if dist.world_size() == 1:
            return 1.0, loss.detach()
        local = next(v for v in batch.values() if torch.is_tensor(v)).shape[0]
        totals = dist.all_reduce_sum(torch.stack([loss.detach().float() * local, torch.tensor(float(local), device=loss.device)]))
        return local * dist.world_size() / float(totals[1]), totals[0] / totals[1]

    @torch.no_grad()
    def _validate(self) -> float | None:
        loader = self.data.val_loader()
        if loader is None:
            return None
        self.detector.eval()
        total, count = 0.0, 0
        for batch in loader:
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp):
                total += float(self.detector.loss(move_batch(batch, self.device))["loss"])
            count += 1
        return total / max(count, 1)

    def _end_epoch(self, train_loss: float, val_loss: float | None, writer: SummaryWriter) -> None:
        self.epoch += 1
        writer.add_scalar("epoch/train_loss", train_loss, self.epoch)
        criterion = train_loss if val_loss is None else val_loss
        if val_loss is not None:
            writer.add_scalar("epoch/val_loss", val_loss, self.epoch)
        writer.add_scalar("epoch/lr", self.optimizer.param_groups[0]["lr"], self.epoch)
        improved = self.select == "last" or criterion < self.best_val
        if improved:
            self.best_val, self.bad_epochs = criterion, 0
        else:
            self.bad_epochs += 1
        self.scheduler.step()
        self.finished = self._should_stop()
        if improved:
            self._save(self._state(), BEST)
        self._save(self._state(), LAST)
        self.log.info(
            "epoch %d/%d  train loss %.5g  val loss %s%s",
            self.epoch, self.epochs, train_loss,
            "n/a (val_fraction=0: selecting on train loss)" if val_loss is None else f"{val_loss:.5g}",
            "  (best)" if improved else f"  (no improvement for {self.bad_epochs})",
        )

    def _should_stop(self) -> bool:
        return (
            self.epoch >= self.epochs
            or self.bad_epochs >= self.patience
            or (self.max_steps is not None and self.step >= self.max_steps)
        )

    def _save(self, state: dict, name: str) -> None:
        """Rank 0 writes; every rank waits, so no rank reads a checkpoint before it exists."""
        if dist.is_main():
            save_checkpoint(state, self.run_dir / name)
        dist.barrier()

    def _state(self) -> dict:
        return {
            "model": self.detector.state_dict(),
            "optimizer": self.optimizer.state_dict() if self.optimizer else None,
            "scheduler": self.scheduler.state_dict() if self.scheduler else None,
            "epoch": self.epoch,
            "step": self.step,
            "best_val": self.best_val,
            "bad_epochs": self.bad_epochs,
            "finished": self.finished,
            "rng": rng_state(),
            "model_cfg": self.model_cfg,
        }

    def _restore(self, path: Path) -> None:
        # Read onto the CPU: load_state_dict copies weights and optimiser state to the model's
        # device, and the RNG states must stay CPU byte tensors (map_location="cuda" broke resume).
        state = load_checkpoint(path, map_location="cpu")
        restore_weights(self.detector, state, self.model_cfg, path)
        load_optimizer_state(self.optimizer, state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.epoch, self.step = state["epoch"], state["step"]
        self.best_val, self.bad_epochs = state["best_val"], state["bad_epochs"]
        self.finished = self._should_stop()  # from the current limits: a resume may raise trainer.epochs
        set_rng_state(state["rng"])
        self.log.info("Resumed from %s at epoch %d (step %d).", path, self.epoch, self.step)


def _clock(device: torch.device) -> float:
    """``time.perf_counter()`` once ``device`` has finished its queued work."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter()


def _duration(seconds: float) -> str:
    """``42 s``, ``12.5 min`` or ``3.2 h``."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"


def restore_weights(detector: Detector, state: dict, model_cfg: dict, path: Path) -> None:
    """Load a checkpoint's weights, refusing one trained with a different model config.

    Keys in the detector's ``score_only_keys`` may differ: they change the score, not the weights.
    """
    saved = state.get("model_cfg")
    diff = sorted(
        k for k in set(saved or {}) | set(model_cfg or {})
        if saved and model_cfg and saved.get(k) != model_cfg.get(k) and k not in detector.score_only_keys
    )
    if diff:
        raise CheckpointError(
            f"Checkpoint {path} was trained with a different model config (differs at: {', '.join(diff)}). "
            f"Test with the run's own config: python run.py -c {RunFolder(path.parent).config} -m test work_dir={path.parent}"
        )
    try:
        detector.load_state_dict(state["model"])
    except (RuntimeError, KeyError) as exc:
        raise CheckpointError(f"Checkpoint {path} does not fit this model: {exc}") from exc


def compile_with_fallback(module: nn.Module) -> nn.Module:
    """``torch.compile(module)``, with graphs that fail to compile running eagerly."""
    import torch._dynamo

    torch._dynamo.config.suppress_errors = True
    return torch.compile(module)
