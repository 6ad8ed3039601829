"""The selective scan as a plain step-by-step loop: the reference every backend is tested against
(``selective_scan(..., backend="torch_ref")``) and the one mamba-ssm's kernels are checked against
before use (``cuda_kernels``)."""
from __future__ import annotations

import torch
from torch import Tensor


def grouped(u: Tensor, B: Tensor) -> tuple[int, Tensor]:
    """B or C as ``(batch, groups, d_state, L)``, and the number of channels per group."""
    B4 = B.unsqueeze(1) if B.dim() == 3 else B
    d_inner, groups = u.shape[1], B4.shape[1]
    if d_inner % groups:
        raise ValueError(f"d_inner={d_inner} is not divisible by the {groups} groups of B/C")
    return d_inner // groups, B4


def scan_reference(u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor) -> tuple[Tensor, Tensor]:
    """Sequential loop over time; returns ``y`` (without D, z) and the last state.

    Each step is computed from per-step slices (``unbind``), so backward stays linear in L.
    """
    per_group, B4 = grouped(u, B)
    _, C4 = grouped(u, C)
    h = u.new_zeros(u.shape[0], B4.shape[1], per_group, A.shape[1])
    A = A.reshape(B4.shape[1], per_group, A.shape[1])
    ys = []
    steps = zip(*(t.unbind(-1) for t in (u, delta, B4, C4)))
    for u_t, delta_t, B_t, C_t in steps:
        u_t, delta_t = (v.reshape(h.shape[:3]) for v in (u_t, delta_t))  # (batch, groups, per_group)
        h = torch.exp(delta_t.unsqueeze(-1) * A) * h + (delta_t * u_t).unsqueeze(-1) * B_t.unsqueeze(2)
        ys.append((h * C_t.unsqueeze(2)).sum(-1).flatten(1))
    return torch.stack(ys, dim=-1), h.flatten(1, 2)
