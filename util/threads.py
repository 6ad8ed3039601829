"""How many threads a run computes with: one pool for all of it.

PyTorch's intra-op pool runs the matrix products and, through ``at::parallel_for``, the ``cpp``
selective scan's channel blocks, so the two take turns on the same threads instead of competing.
DataLoader workers are separate processes (PyTorch gives each one thread); each one gets a core of
its own, taken from the pool, so loading and computing do not fight over cores either.
"""
from __future__ import annotations

import os

import torch


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity where the OS reports it)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def compute_threads(num_threads: int | None, loader_workers: int, cores: int | None = None) -> int:
    """``num_threads`` when set; else ``OMP_NUM_THREADS`` when set (torchrun sets it per process);
    else the available cores less one per DataLoader worker, at least one."""
    if num_threads:
        return int(num_threads)
    if os.environ.get("OMP_NUM_THREADS", "").isdigit() and int(os.environ["OMP_NUM_THREADS"]) > 0:
        return int(os.environ["OMP_NUM_THREADS"])
    return max(1, (cores or available_cores()) - loader_workers)


def configure_threads(num_threads: int | None, loader_workers: int) -> int:
    """Set this process's compute threads (see ``compute_threads``); returns the count."""
    threads = compute_threads(num_threads, loader_workers)
    torch.set_num_threads(threads)
    return threads
