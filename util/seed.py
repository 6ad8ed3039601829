"""Seeding, RNG state capture and the deterministic-algorithms switch, so that two runs with one
seed give the same numbers."""
from __future__ import annotations

import os
import random

import numpy as np
import torch

CUBLAS_WORKSPACE = ":4096:8"  # what cuBLAS needs to be deterministic (CUDA >= 10.2)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and PyTorch (all devices)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def set_deterministic(enabled: bool) -> None:
    """``enabled``: make PyTorch use deterministic kernels only (an op that has none raises),
    turn off cuDNN autotuning and give cuBLAS a fixed workspace (``CUBLAS_WORKSPACE_CONFIG``,
    unless already set). Call before the first CUDA operation. ``False`` leaves the process's
    settings as they are."""
    if not enabled:
        return
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE)
    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.benchmark = False


def rng_state() -> dict:
    """Every RNG state a training step consumes, for checkpoints."""
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Restore what ``rng_state`` captured. The generator states may sit on any device (a
    checkpoint loaded with ``map_location="cuda"``): PyTorch takes them only as CPU byte tensors."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])
