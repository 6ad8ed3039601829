"""The ``cpp`` selective-scan backend as ``torch.library`` custom ops.

The fused C++ loop (``csrc/selective_scan_cpu.cpp``, built by ``model.ops.compiled``) does bias,
softplus, D and the gate inside. It is wrapped in two custom ops, ``ssmad::cpp_scan_forward`` and
``ssmad::cpp_scan_backward``, with fake (shape-only) implementations and an autograd formula, so
``torch.compile`` keeps the scan inside its graph instead of breaking it there, and the layout
changes around the kernel stay ordinary traced tensor code.

The kernel vectorises over blocks of adjacent channels, so it reads ``(batch, L, d_inner)`` tensors
with channel stride 1 and B/C as ``(batch, groups, L, d_state)``. Forward keeps the state every
``chunk`` steps (``CHECKPOINT_ELEMENTS // d_state``) and y before the gate; backward recomputes the
states in between.
"""
from __future__ import annotations

import torch
from torch import Tensor

from model.ops.compiled import scan_kernels

# The state is kept every CHECKPOINT_ELEMENTS // d_state steps for backward, which recomputes the
# steps in between into buffers of CHECKPOINT_ELEMENTS x 16 channels (64 KB each in float32,
# L2-resident); the checkpoints take 1/64 of the memory of all states at d_state 16.
CHECKPOINT_ELEMENTS = 1024
# The kernel's vector: 64 bytes of adjacent channels (16 float32 or 8 float64).
_VECTOR_BYTES = 64


def _empty_if_none(t: Tensor | None, like: Tensor) -> Tensor:
    return like.new_empty(0) if t is None else t


@torch.library.custom_op("ssmad::cpp_scan_forward", mutates_args=(), device_types="cpu")
def _forward(
    u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor,
    D: Tensor | None, z: Tensor | None, delta_bias: Tensor | None,
    softplus: bool, chunk: int, keep: bool,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """(out, y before the gate, last state, checkpoints); y and checkpoints are empty unless ``keep``."""
    return tuple(scan_kernels().forward(u, delta, A, B, C, D, z, delta_bias, softplus, chunk, keep))


@_forward.register_fake
def _forward_shapes(u, delta, A, B, C, D, z, delta_bias, softplus, chunk, keep):  # noqa: ANN001, ANN202
    batch, length, d_inner = u.shape
    n, groups = A.shape[1], B.shape[1]
    lanes = _VECTOR_BYTES // u.element_size()
    blocks = batch * groups * -(-(d_inner // groups) // lanes)
    checkpoints = blocks * max(-(-length // chunk) - 1, 0) if keep else 0
    return (
        u.new_empty(batch, length, d_inner),
        u.new_empty(batch if keep and z is not None else 0, length, d_inner),
        u.new_empty(batch, d_inner, n),
        u.new_empty(checkpoints, n, lanes),
    )


@torch.library.custom_op("ssmad::cpp_scan_backward", mutates_args=(), device_types="cpu")
def _backward(
    u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor,
    D: Tensor | None, z: Tensor | None, delta_bias: Tensor | None,
    softplus: bool, chunk: int, checkpoints: Tensor, y: Tensor, grad_out: Tensor, grad_last: Tensor,
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
    """Gradients of (u, delta, A, B, C, D, z, delta_bias); those of absent inputs come back empty."""
    grads = scan_kernels().backward(u, delta, A, B, C, D, z, delta_bias, softplus, chunk, checkpoints, y, grad_out, grad_last)
    return tuple(u.new_empty(0) if g is None else g for g in grads)


@_backward.register_fake
def _backward_shapes(u, delta, A, B, C, D, z, delta_bias, softplus, chunk, checkpoints, y, grad_out, grad_last):  # noqa: ANN001, ANN202
    optional = (D, z, delta_bias)
    return (
        torch.empty_like(u), torch.empty_like(delta), torch.empty_like(A), torch.empty_like(B), torch.empty_like(C),
        *(u.new_empty(0) if t is None else torch.empty_like(t) for t in optional),
    )


def _save(ctx, inputs: tuple, output: tuple) -> None:  # noqa: ANN001
    u, delta, A, B, C, D, z, delta_bias, softplus, chunk, _ = inputs
    _, y, _, checkpoints = output
    ctx.save_for_backward(u, delta, A, B, C, D, z, delta_bias, checkpoints, y)
    ctx.softplus, ctx.chunk = softplus, chunk
    ctx.present = (D is not None, z is not None, delta_bias is not None)


def _grads(ctx, grad_out: Tensor | None, grad_y, grad_last: Tensor | None, grad_checkpoints):  # noqa: ANN001, ANN202
    u, delta, A, B, C, D, z, delta_bias, checkpoints, y = ctx.saved_tensors
    grad_out = torch.zeros_like(u) if grad_out is None else grad_out.contiguous()
    grad_last = u.new_zeros(u.shape[0], u.shape[2], A.shape[1]) if grad_last is None else grad_last.contiguous()
    grads = torch.ops.ssmad.cpp_scan_backward(
        u, delta, A, B, C, D, z, delta_bias, ctx.softplus, ctx.chunk, checkpoints, y, grad_out, grad_last
    )
    grad_u, grad_delta, grad_A, grad_B, grad_C, *optional = grads
    optional = [g if present else None for g, present in zip(optional, ctx.present)]
    return (grad_u, grad_delta, grad_A, grad_B, grad_C, *optional, None, None, None)


_forward.register_autograd(_grads, setup_context=_save)


def _channels_last(x: Tensor) -> Tensor:
    """A ``(batch, d_inner, L)`` tensor as a ``(batch, L, d_inner)`` view with channel stride 1 (a copy only if needed)."""
    x = x.transpose(1, 2)
    return x if x.stride(2) == 1 or x.shape[2] == 1 else x.contiguous()


def cpp_selective_scan(
    u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor,
    D: Tensor | None, z: Tensor | None, delta_bias: Tensor | None, softplus: bool,
) -> tuple[Tensor, Tensor]:
    """``selective_scan`` on the C++ kernel: ``(out (batch, d_inner, L), last state (batch, d_inner, d_state))``.

    Inputs as ``selective_scan``'s, already in the compute dtype (float32 or float64); B and C
    ``(batch, d_state, L)`` or ``(batch, groups, d_state, L)``.
    """
    B4, C4 = (M.unsqueeze(1) if M.dim() == 3 else M for M in (B, C))
    if u.shape[1] % B4.shape[1]:
        raise ValueError(f"d_inner={u.shape[1]} is not divisible by the {B4.shape[1]} groups of B/C")
    Bt, Ct = (M.transpose(-1, -2).contiguous() for M in (B4, C4))
    zt = None if z is None else _channels_last(z)
    A, D, delta_bias = (None if p is None else p.contiguous() for p in (A, D, delta_bias))
    tensors = (u, delta, A, B, C, D, z, delta_bias)
    keep = torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)
    chunk = max(1, CHECKPOINT_ELEMENTS // A.shape[1])
    out, _, last, _ = torch.ops.ssmad.cpp_scan_forward(
        _channels_last(u), _channels_last(delta), A, Bt, Ct, D, zt, delta_bias, softplus, chunk, keep
    )
    return out.transpose(1, 2), last
