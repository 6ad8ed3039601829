"""Registered optimisers and learning-rate schedulers, built from the trainer config."""
from __future__ import annotations

from typing import Iterable

import torch

from util.registry import OPTIMIZERS, SCHEDULERS


@OPTIMIZERS.register("adam")
def adam(params: Iterable, lr: float = 1e-3, weight_decay: float = 0.0, betas: tuple = (0.9, 0.999)) -> torch.optim.Optimizer:
    """Adam (L2 weight decay)."""
    return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, betas=tuple(betas))


@OPTIMIZERS.register("adamw")
def adamw(params: Iterable, lr: float = 1e-3, weight_decay: float = 1e-2, betas: tuple = (0.9, 0.999)) -> torch.optim.Optimizer:
    """AdamW (decoupled weight decay)."""
    return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, betas=tuple(betas))


@OPTIMIZERS.register("sgd")
def sgd(params: Iterable, lr: float = 1e-2, momentum: float = 0.9, weight_decay: float = 0.0) -> torch.optim.Optimizer:
    """SGD with momentum."""
    return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)


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
