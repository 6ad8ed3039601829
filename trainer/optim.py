"""Registered optimisers and learning-rate schedulers, built from the trainer config.

Every optimiser runs its update with the fastest kernel the installed PyTorch has for the
parameters' device and dtypes: ``fused`` (one kernel over all parameters; CUDA, and the CPU
from PyTorch 2.4), else ``foreach`` (batched per-op kernels; CUDA), else the per-parameter
loop. On one CPU thread fused Adam made a KambaAD-SMD step's update ~7x cheaper (docs/performance.md).
A ``fused`` or ``foreach`` set in the optimiser config is used as given.
"""
from __future__ import annotations

import inspect
from typing import Any, Iterable

import torch
from torch.optim.optimizer import _default_to_fused_or_foreach

from util.errors import ConfigError
from util.registry import OPTIMIZERS, SCHEDULERS

KERNEL_KEYS = ("fused", "foreach")


def _tensors(params: list) -> list[torch.Tensor]:
    """The parameter tensors of a list of tensors or of parameter groups."""
    return [p for item in params for p in (item["params"] if isinstance(item, dict) else [item])]


def fused_supported(params: list[torch.Tensor]) -> bool:
    """Whether this PyTorch has fused optimiser kernels for every parameter's device and dtype."""
    return _default_to_fused_or_foreach(params, differentiable=False, use_fused=True)[0]


def foreach_supported(params: list[torch.Tensor]) -> bool:
    """Whether this PyTorch has (fast) foreach kernels for every parameter's device (not the CPU)."""
    return _default_to_fused_or_foreach(params, differentiable=False, use_fused=False)[1]


def kernel_options(cls: type[torch.optim.Optimizer], params: list, fused: bool | None, foreach: bool | None) -> dict[str, bool | None]:
    """``fused`` / ``foreach`` arguments for the PyTorch optimiser ``cls``: the user's when either is
    set, else fused where supported, else foreach where supported, else neither (the per-parameter loop)."""
    tensors = _tensors(params)
    has_fused = "fused" in inspect.signature(cls).parameters
    if fused and not (has_fused and fused_supported(tensors)):
        devices = sorted({f"{p.device.type} {p.dtype}" for p in tensors})
        raise ConfigError(
            f"trainer.optimizer.fused=true: this PyTorch ({torch.__version__}) has no fused {cls.__name__} for parameters "
            f"on {', '.join(devices)}. Set trainer.optimizer.fused=none to let ssmad pick the kernel."
        )
    if fused is not None or foreach is not None:
        return {"fused": fused, "foreach": foreach}
    if has_fused and fused_supported(tensors):
        return {"fused": True, "foreach": False}
    return {"fused": False, "foreach": foreach_supported(tensors)}


def kernel_name(optimizer: torch.optim.Optimizer) -> str:
    """Which update kernel ``optimizer`` runs: fused, foreach or loop."""
    group = optimizer.param_groups[0]
    return "fused" if group.get("fused") else "foreach" if group.get("foreach") else "loop"


def _build(cls: type[torch.optim.Optimizer], params: Iterable, fused: bool | None, foreach: bool | None, **kwargs: Any) -> torch.optim.Optimizer:
    params = list(params)
    return cls(params, **kwargs, **kernel_options(cls, params, fused, foreach))


def load_optimizer_state(optimizer: torch.optim.Optimizer, state: dict) -> None:
    """``optimizer.load_state_dict(state)``, keeping this optimiser's kernel choice: a checkpoint
    written with the loop resumes fused and vice versa (PyTorch would take the saved choice and
    place the step counters for it)."""
    current = [{k: group[k] for k in KERNEL_KEYS if k in group} for group in optimizer.param_groups]
    state = {**state, "param_groups": [saved | now for saved, now in zip(state["param_groups"], current)]}
    optimizer.load_state_dict(state)


@OPTIMIZERS.register("adam")
def adam(params: Iterable, lr: float = 1e-3, weight_decay: float = 0.0, betas: tuple = (0.9, 0.999),
         fused: bool | None = None, foreach: bool | None = None) -> torch.optim.Optimizer:
    """Adam (L2 weight decay); ``fused`` / ``foreach``: None picks the fastest kernel."""
    return _build(torch.optim.Adam, params, fused, foreach, lr=lr, weight_decay=weight_decay, betas=tuple(betas))


@OPTIMIZERS.register("adamw")
def adamw(params: Iterable, lr: float = 1e-3, weight_decay: float = 1e-2, betas: tuple = (0.9, 0.999),
          fused: bool | None = None, foreach: bool | None = None) -> torch.optim.Optimizer:
    """AdamW (decoupled weight decay); ``fused`` / ``foreach``: None picks the fastest kernel."""
    return _build(torch.optim.AdamW, params, fused, foreach, lr=lr, weight_decay=weight_decay, betas=tuple(betas))


@OPTIMIZERS.register("sgd")
def sgd(params: Iterable, lr: float = 1e-2, momentum: float = 0.9, weight_decay: float = 0.0,
        fused: bool | None = None, foreach: bool | None = None) -> torch.optim.Optimizer:
    """SGD with momentum; ``fused`` / ``foreach``: None picks the fastest kernel."""
    return _build(torch.optim.SGD, params, fused, foreach, lr=lr, momentum=momentum, weight_decay=weight_decay)


@SCHEDULERS.register("none")
def constant(optimizer: torch.optim.Optimizer, epochs: int) -> torch.optim.lr_scheduler.LRScheduler:
    """Keep the learning rate constant."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: 1.0)


@SCHEDULERS.register("cosine")
def cosine(optimizer: torch.optim.Optimizer, epochs: int, min_lr: float = 0.0) -> torch.optim.lr_scheduler.LRScheduler:
    """Cosine annealing over the configured epochs (stepped once per epoch)."""
    return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(epochs, 1), eta_min=min_lr)


@SCHEDULERS.register("step")
def step(optimizer: torch.optim.Optimizer, epochs: int, step_size: int = 1, gamma: float = 0.5) -> torch.optim.lr_scheduler.LRScheduler:
    """Multiply the learning rate by ``gamma`` every ``step_size`` epochs (Anomaly Transformer halves it each epoch)."""
    return torch.optim.lr_scheduler.StepLR(optimizer, step_size=step_size, gamma=gamma)
