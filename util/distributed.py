"""torch.distributed helpers for runs launched with ``torchrun --nproc_per_node N run.py ...``.

One process per rank; ``init_from_env`` reads torchrun's environment variables and picks the
backend (``nccl`` on CUDA, ``gloo`` on CPU). Without torchrun (``WORLD_SIZE`` unset or 1) every
helper degrades to the single-process answer, so callers never branch on "is it distributed".
"""
from __future__ import annotations

import math
import os
from typing import Any, Iterator

import torch
import torch.distributed as dist

from util.errors import ConfigError


def init_from_env(device: torch.device) -> torch.device:
    """Join the process group torchrun describes; returns this rank's device.

    On CUDA each rank uses ``cuda:LOCAL_RANK``; on CPU the device is unchanged.
    """
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or dist.is_initialized():
        return device
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        if device.index >= torch.cuda.device_count():
            raise ConfigError(
                f"LOCAL_RANK {device.index} has no GPU ({torch.cuda.device_count()} visible); "
                "lower torchrun --nproc_per_node to the number of GPUs, or use device=cpu."
            )
        torch.cuda.set_device(device)
    dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return device


def world_size() -> int:
    """Number of processes (1 without torchrun)."""
    return dist.get_world_size() if dist.is_initialized() else 1


def rank() -> int:
    """This process's rank (0 without torchrun)."""
    return dist.get_rank() if dist.is_initialized() else 0


def is_main() -> bool:
    """True on the process that logs and writes files (rank 0)."""
    return rank() == 0


def barrier() -> None:
    """Wait for every rank (no-op in a single process)."""
    if world_size() > 1:
        dist.barrier()


def all_gather_object(obj: Any) -> list[Any]:
    """Every rank's ``obj``, in rank order (``[obj]`` in a single process)."""
    if world_size() == 1:
        return [obj]
    out: list[Any] = [None] * world_size()
    dist.all_gather_object(out, obj)
    return out


def broadcast_object(obj: Any) -> Any:
    """Rank 0's ``obj`` on every rank."""
    if world_size() == 1:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """Element-wise sum over ranks (a copy; the input is unchanged in a single process)."""
    out = tensor.clone()
    if world_size() > 1:
        dist.all_reduce(out, op=dist.ReduceOp.SUM)
    return out


def shutdown() -> None:
    """Leave the process group, if one was joined."""
    if dist.is_initialized():
        dist.destroy_process_group()


class ShardedBatchSampler:
    """Training batches: this rank's share of each global batch of one seeded shuffle.

    The global order is ``torch.randperm(n)`` from a generator seeded with ``seed``, cut into
    global batches of ``batch_size``; each global batch is split into ``num_replicas`` near-equal
    contiguous parts and rank ``r`` gets part ``r`` (a single process gets whole batches). So N
    processes see exactly the batches one process sees, and DDP's gradient average (with losses
    weighted by part size, see ``trainer.base``) equals the single-process gradient. A plain
    ``DistributedSampler`` would change both the order and the effective batch size.

    Every rank yields the same number of batches (DDP needs it). Where a final global batch has
    fewer windows than ranks, a rank with an empty part repeats the batch's first window.
    """

    def __init__(self, n: int, batch_size: int, seed: int, rank: int, num_replicas: int) -> None:
        self.n, self.batch_size, self.seed = n, batch_size, seed
        self.rank, self.num_replicas = rank, num_replicas

    def __len__(self) -> int:
        return math.ceil(self.n / self.batch_size)

    def __iter__(self) -> Iterator[list[int]]:
        order = torch.randperm(self.n, generator=torch.Generator().manual_seed(self.seed))
        for global_batch in order.split(self.batch_size):
            part = global_batch.tensor_split(self.num_replicas)[self.rank]
            yield (part if len(part) else global_batch[:1]).tolist()
