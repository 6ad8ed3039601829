"""The run's compute threads: the trainer's matrix products and the cpp scan share one pool, and each
DataLoader worker gets a core of its own."""
from __future__ import annotations

import torch

from util.threads import compute_threads, configure_threads


def test_default_is_the_cores_less_one_per_loader_worker(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert compute_threads(None, loader_workers=0, cores=8) == 8
    assert compute_threads(None, loader_workers=2, cores=8) == 6
    assert compute_threads(None, loader_workers=4, cores=2) == 1


def test_an_explicit_count_or_omp_num_threads_wins(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "3")  # as torchrun sets it for each of its processes
    assert compute_threads(None, loader_workers=0, cores=8) == 3
    assert compute_threads(2, loader_workers=1, cores=8) == 2


def test_configure_sets_torchs_pool():
    before = torch.get_num_threads()
    try:
        assert configure_threads(1, loader_workers=0) == 1
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
