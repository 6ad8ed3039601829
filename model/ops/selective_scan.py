"""The selective scan of Mamba (S6) and its causal depthwise convolution, with several backends.

Semantics follow ``mamba_ssm.ops.selective_scan_interface.selective_scan_fn``. With
``delta <- softplus(delta + delta_bias)`` (each step optional), for every channel ``d`` and state ``n``::

    h[t] = exp(delta[t] * A[d, n]) * h[t-1] + delta[t] * B[n, t] * u[t]      (h[-1] = 0)
    y[t] = sum_n C[n, t] * h[t, n] + D[d] * u[t];   out = y * silu(z)  when z is given

Backends:
  * ``torch_ref``     -- a step-by-step loop with autograd; obviously right (the test oracle).
  * ``cpp``           -- the CPU fast path: a fused C++/OpenMP loop (``csrc/selective_scan_cpu.cpp``,
    compiled on first use by ``model.ops.compiled``) that vectorises over blocks of 16 adjacent
    channels, keeps each block's states in registers/L1 and applies bias, softplus, D and the gate
    on the way; forward keeps the state every ``CHECKPOINT_ELEMENTS // d_state`` steps, backward
    recomputes each chunk and runs the adjoint recurrence (``model.ops.cpp_scan``: custom ops that
    ``torch.compile`` keeps in its graph). About two exp() per state value for
    forward + backward, on torch's threads (``torch.set_num_threads``).
  * ``torch_loop``    -- pure PyTorch, the CPU fallback: time-major blocks of about
    ``BLOCK_ELEMENTS`` state values are discretised at once, the recurrence is one in-place
    multiply-add per step, and a hand-written backward recomputes each block's states and runs
    the adjoint recurrence the same way (~3 tensor ops per step where ``torch_ref`` does ~20).
  * ``torch_chunked`` -- pure PyTorch and parallel in time: inside every chunk the recurrence is
    solved at once with cumulative sums of the log decays (all chunks in parallel); only the carry
    from chunk to chunk is a Python loop. It suits devices that like few, large kernels; on CPU it
    does about twice the arithmetic of a loop, and large ``|delta * A|`` (d_state 64 with Mamba's
    ``A = -(1..d_state)``) forces short chunks.
  * ``mamba_ssm``     -- mamba-ssm's CUDA kernels (``model.ops.cuda_kernels`` imports them, checks
    them once per device and calls them). Not bit-reproducible: its backward uses atomic adds.
  * ``triton``        -- the Triton kernels of ``model.ops.triton_scan`` (CUDA, no compiler needed).
``auto`` picks, on CUDA, ``mamba_ssm`` when it imports, passes its self-check and deterministic mode
(``torch.use_deterministic_algorithms``) is off, else ``triton`` when available, else
``torch_chunked``; on CPU ``cpp`` when it builds (else ``torch_loop``, after one log line saying
why). ``backend_report`` says which and why, for the run log. benchmarks/scan.py measures them side
by side against the floor of one exp() pass over the states.

``causal_conv1d`` runs causal-conv1d's CUDA kernel where it takes the input (see
``cuda_kernels.conv_kernel``), else the PyTorch conv. Under ``flop_counting`` both the scan and the
conv run PyTorch code fvcore can count, so FLOP counts do not depend on the device.
"""
from __future__ import annotations

import contextlib
import warnings
from typing import Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from model.ops import cuda_kernels
from model.ops.compiled import scan_kernels_built
from model.ops.cpp_scan import cpp_selective_scan
from model.ops.reference_scan import grouped, scan_reference
from util.errors import ConfigError

BACKENDS = ("auto", "torch_ref", "cpp", "torch_loop", "torch_chunked", "mamba_ssm", "triton")

# Largest chunk; the chunk actually used may be smaller so that exp() cannot overflow (see _chunk_size).
MAX_CHUNK = 64
# Bound on |log decay| kept by either factor of exp(S_t - S_s) = exp(S_t - m) * exp(m - S_s):
# e^60 ~ 1e26 leaves float32 (max ~e^88) room for the inputs and a 64-term cumulative sum.
_SAFE_EXPONENT = {torch.float32: 60.0, torch.float64: 600.0}
# exp(x) below exp(_UNDERFLOW) is flushed to 0: e^(-80 + 60) is under float32's rounding (see _exp_or_zero).
_UNDERFLOW = {torch.float32: -80.0, torch.float64: -700.0}

# Time is processed in blocks of about this many state values (batch * d_inner * steps * d_state):
# 256K float32 values (1 MB) keep the scratch tensors in cache and reusable by the allocator
# (measured on CPU: 2x faster than 8 MB blocks for small d_inner * d_state; the loop backend was
# 1.5-2x slower with 1M or 4M values per block).
BLOCK_ELEMENTS = 2**18

_flop_counting = False


def mamba_ssm_available() -> bool:
    """True when the ``mamba_ssm`` CUDA kernels can be imported (whether they run: ``backend_report``)."""
    return cuda_kernels.mamba_ssm_scan_fn() is not None


def _check_name(backend: str) -> None:
    if backend not in BACKENDS:
        raise ConfigError(f"Unknown scan backend '{backend}'. Choose one of: {', '.join(BACKENDS)}.")


def resolve_backend(backend: str, device: torch.device) -> str:
    """The backend ``selective_scan`` uses for tensors on ``device``; a ConfigError when an explicit
    choice cannot run there."""
    _check_name(backend)
    if backend == "auto":
        if cuda_kernels.on_cuda(device):
            return cuda_kernels.auto_cuda(device)[0]
        if device.type == "cpu":
            return "cpp" if scan_kernels_built() else "torch_loop"
        return "torch_chunked"
    if backend == "cpp" and device.type != "cpu":
        raise ConfigError(f"scan_backend='cpp' runs on CPU tensors only, these are on {device}; use scan_backend='auto'.")
    if backend == "cpp" and not scan_kernels_built():
        raise ConfigError(
            "scan_backend='cpp' needs the C++ kernel, which could not be built here (see the log line above); "
            "install a C++ compiler and ninja (pip install -r requirements.txt), or use scan_backend='auto'."
        )
    if backend == "mamba_ssm":
        _check_mamba_ssm(device)
    if backend == "triton" and (reason := cuda_kernels.triton_reason()) is not None:
        raise ConfigError(f"scan_backend='triton' cannot run here: {reason}. Use scan_backend='auto'.")
    return backend


def _check_mamba_ssm(device: torch.device) -> None:
    """A ConfigError naming the reason and the fix when an explicit ``mamba_ssm`` cannot run on ``device``."""
    if not cuda_kernels.on_cuda(device):
        raise ConfigError(
            f"scan_backend='mamba_ssm' needs the mamba-ssm package and CUDA tensors, these are on {device}; "
            "use scan_backend='auto'."
        )
    if (reason := cuda_kernels.mamba_ssm_reason(device)) is not None:
        raise ConfigError(
            f"scan_backend='mamba_ssm' cannot run here: mamba-ssm {reason}. Install a build with its CUDA "
            "scan (pip install -r requirements-cuda.txt; versions after 2.3.2 need MAMBA_KEEP_CUDA_BUILD=TRUE "
            "at install) or use scan_backend='auto'."
        )
    if torch.are_deterministic_algorithms_enabled():
        raise ConfigError(
            "scan_backend='mamba_ssm' is not deterministic (its backward uses atomic adds) and deterministic "
            "mode is on; use scan_backend='auto', which then picks a deterministic backend."
        )


def backend_report(device: torch.device, backend: str = "auto") -> str:
    """The backend ``selective_scan`` runs for ``backend`` on ``device`` and why, one line for the run
    log: ``mamba_ssm (kernels imported, self-check passed)``, ``triton (mamba_ssm: not installed)``."""
    name = resolve_backend(backend, device)
    if backend != "auto":
        why = "set in the config"
    elif cuda_kernels.on_cuda(device):
        why = cuda_kernels.auto_cuda(device)[1]
    elif device.type == "cpu":
        why = "C++ kernel built" if name == "cpp" else "C++ kernel not built, see the log line above"
    else:
        why = f"no kernel for {device.type}"
    return f"{name} ({why})"


def conv_report(device: torch.device) -> str:
    """What ``causal_conv1d`` runs on ``device``, one line for the run log."""
    if not cuda_kernels.on_cuda(device):
        return "PyTorch conv"
    if (reason := cuda_kernels.conv_unusable()) is not None:
        return f"PyTorch conv ({reason})"
    return "causal_conv1d kernel (PyTorch conv for widths outside 2-4)"


@contextlib.contextmanager
def flop_counting() -> Iterator[None]:
    """Route ``selective_scan`` through ``SelectiveScanForFlops`` so a jit trace names the op.

    fvcore sees the scan as ``prim::PythonOp.SelectiveScanForFlops`` and counts it with
    ``FVCORE_HANDLES``; outside this context the normal backends run.
    """
    global _flop_counting
    previous, _flop_counting = _flop_counting, True
    try:
        yield
    finally:
        _flop_counting = previous


def selective_scan(
    u: Tensor,
    delta: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    D: Tensor | None = None,
    z: Tensor | None = None,
    delta_bias: Tensor | None = None,
    delta_softplus: bool = False,
    return_last_state: bool = False,
    backend: str = "auto",
) -> Tensor | tuple[Tensor, Tensor]:
    """Selective scan (Mamba's S6).

    Args:
        u, delta: ``(batch, d_inner, L)``.
        A: ``(d_inner, d_state)``, real (negative for a stable system).
        B, C: ``(batch, d_state, L)`` or grouped ``(batch, groups, d_state, L)``; group ``g`` serves
            channels ``g * d_inner/groups ... (g+1) * d_inner/groups - 1``.
        D: ``(d_inner,)`` skip weight. z: ``(batch, d_inner, L)`` gate, ``out * silu(z)``.
        delta_bias: ``(d_inner,)`` added to delta; ``delta_softplus`` applies softplus afterwards.
        backend: one of ``BACKENDS``.

    Returns:
        ``out`` of shape ``(batch, d_inner, L)`` in the dtype of ``u``, and with
        ``return_last_state`` also the final state ``(batch, d_inner, d_state)`` (float32/64).
    """
    if _flop_counting:  # every device runs SelectiveScanForFlops below: nothing to resolve
        _check_name(backend)
        name = "torch_chunked"
    else:
        name = resolve_backend(backend, u.device)
    if backend == "auto" and name in ("mamba_ssm", "triton") and not cuda_kernels.takes(name, u, A):
        name = "torch_chunked"
    if name == "mamba_ssm":
        return cuda_kernels.mamba_ssm_scan(u, delta, A, B, C, D, z, delta_bias, delta_softplus, return_last_state)
    if name == "triton":
        scan = cuda_kernels.triton_scan_fn()
        return scan(u, delta, A, B, C, D=D, z=z, delta_bias=delta_bias, delta_softplus=delta_softplus, return_last_state=return_last_state)
    dtype_in = u.dtype
    compute = torch.float64 if u.dtype == torch.float64 else torch.float32
    if name == "cpp" and not _flop_counting:
        inputs = (None if t is None else t.to(compute) for t in (u, delta, A, B, C, D, z, delta_bias))
        out, last = cpp_selective_scan(*inputs, delta_softplus)
        out = out.to(dtype_in)
        return (out, last) if return_last_state else out
    u, delta, A, B, C = (t.to(compute) for t in (u, delta, A, B, C))
    if delta_bias is not None:
        delta = delta + delta_bias.to(compute)[:, None]
    if delta_softplus:
        delta = F.softplus(delta)
    if _flop_counting:
        y, last = SelectiveScanForFlops.apply(u, delta, A, B, C)
    elif name == "torch_ref":
        y, last = scan_reference(u, delta, A, B, C)
    elif name == "torch_loop":
        y, last = _LoopScan.apply(u, delta, A, B, C)
    else:
        y, last = _ChunkedScan.apply(u, delta, A, B, C)
    if D is not None:
        y = y + u * D.to(compute)[:, None]
    if z is not None:
        y = y * F.silu(z.to(compute))
    out = y.to(dtype_in)
    return (out, last) if return_last_state else out


def _per_channel(u: Tensor, M: Tensor) -> Tensor:
    """B or C laid out for ``(batch, d_inner, L, d_state)`` arithmetic.

    One group: a broadcastable view ``(batch, 1, L, d_state)``; several: expanded to every channel.
    """
    per_group, M4 = grouped(u, M)
    M4 = M4.transpose(-1, -2)  # (batch, groups, L, d_state)
    if M4.shape[1] == 1:
        return M4
    return M4.repeat_interleave(per_group, dim=1)


def _reduce_to_groups(grad: Tensor, M: Tensor) -> Tensor:
    """Sum a per-channel gradient ``(batch, d_inner, L, d_state)`` back to the shape of ``M``."""
    batch, d_inner, length, d_state = grad.shape
    groups = 1 if M.dim() == 3 else M.shape[1]
    return grad.reshape(batch, groups, d_inner // groups, length, d_state).sum(2).transpose(-1, -2).reshape(M.shape)


def _chunk_size(delta: Tensor, A: Tensor) -> int:
    """Largest power-of-two chunk (<= MAX_CHUNK) whose log-decay range keeps exp() finite.

    Inside a chunk the states use exp(S_t - m) * exp(m - S_s) with S = A * cumsum(delta) and m the
    middle of S's range over the chunk, so both factors stay below exp(range / 2); that range over
    ``T`` steps is at most ``(T - 1) * max|delta| * max|A|``.
    """
    rate = float((delta.detach().abs().amax(dim=(0, 2)) * A.detach().abs().amax(dim=1)).max())
    limit = 2.0 * _SAFE_EXPONENT[delta.dtype]
    chunk = MAX_CHUNK
    while chunk > 1 and (chunk - 1) * rate > limit:
        chunk //= 2
    return chunk


def linear_recurrence(rate: Tensor, A: Tensor, drive: Tensor, chunk: int, h0: Tensor | None = None) -> Tensor:
    """All states of ``h[t] = exp(rate[t] * A) * h[t-1] + drive[t]``, with ``h[-1] = h0`` (or 0).

    Shapes: ``rate`` ``(batch, d, L)``, ``A`` ``(d, N)``, ``drive`` ``(batch, d, L, N)``, ``h0``
    ``(batch, d, N)``; returns ``(batch, d, L, N)``. Chunked: inside each chunk the cumulative log
    decay is ``cumsum(rate) * A`` (a cumulative sum over the small ``rate`` only) and the states are
    ``exp(S_t - m) * cumsum_s(exp(m - S_s) * drive_s)`` with ``m`` the middle of the chunk's range of
    ``S``; only the carry from chunk to chunk is a loop.
    """
    batch, d, length, n = drive.shape
    n_chunks = -(-length // chunk)
    pad = n_chunks * chunk - length
    if pad:  # trailing steps with decay 1 and no drive do not change earlier states
        rate, drive = F.pad(rate, (0, pad)), F.pad(drive, (0, 0, 0, pad))
    A_ = A[:, None, None, :]  # (d, 1, 1, N) against (batch, d, n_chunks, chunk, N)
    with torch.no_grad():  # scratch buffers are updated in place; gradients come from _ChunkedScan
        c = rate.reshape(batch, d, n_chunks, chunk).cumsum(-1)
        mid = 0.5 * (c.amax(-1, keepdim=True) + c.amin(-1, keepdim=True))
        decay = ((c - mid).unsqueeze(-1) * A_).exp_()  # exp(S_t - m), within e^±_SAFE_EXPONENT
        h = torch.div(drive.reshape(batch, d, n_chunks, chunk, n), decay).cumsum_(-2)
        if n_chunks > 1 or h0 is not None:
            exp_mid = _exp_or_zero(mid.unsqueeze(-1) * A_)  # (batch, d, n_chunks, 1, N): exp(S_t) = decay_t * exp(m)
            chunk_decay = _exp_or_zero(c[..., -1:] * A[:, None, :])  # (batch, d, n_chunks, N)
            chunk_end = decay[..., -1, :] * h[..., -1, :]
            carry = torch.zeros_like(chunk_end[..., 0, :]) if h0 is None else h0
            carried = [carry]
            for k in range(n_chunks - 1):
                carry = chunk_decay[..., k, :] * carry + chunk_end[..., k, :]
                carried.append(carry)
            h.addcmul_(exp_mid, torch.stack(carried, dim=-2).unsqueeze(-2))
        h.mul_(decay)
    return h.reshape(batch, d, n_chunks * chunk, n)[..., :length, :]


def _exp_or_zero(x: Tensor) -> Tensor:
    """``exp(x)`` with results below ``exp(_UNDERFLOW)`` set to exactly 0.

    Such factors only ever multiply terms bounded by ``exp(_SAFE_EXPONENT)``, so dropping them changes
    results by less than the dtype's rounding, and it keeps subnormal numbers (which make CPU
    arithmetic ~10x slower) out of the states.
    """
    return torch.where(x < _UNDERFLOW[x.dtype], torch.zeros_like(x), x.exp())


def _block_length(u: Tensor, d_state: int, chunk: int) -> int:
    """Steps per block: a whole number of chunks holding about ``BLOCK_ELEMENTS`` state values."""
    per_step = u.shape[0] * u.shape[1] * d_state
    return max(chunk, BLOCK_ELEMENTS // per_step // chunk * chunk)


def _block_states(
    u: Tensor, delta: Tensor, A: Tensor, B: Tensor, span: slice, chunk: int, h0: Tensor | None
) -> tuple[Tensor, Tensor]:
    """Drives and states ``(batch, d_inner, steps, d_state)`` of the time steps in ``span``."""
    drive = (delta[..., span] * u[..., span]).unsqueeze(-1) * _per_channel(u[..., span], B[..., span])
    return drive, linear_recurrence(delta[..., span], A, drive, chunk, h0)


def _time_major(u: Tensor, M: Tensor) -> Tensor:
    """B or C as a contiguous ``(L, batch, groups, 1, d_state)`` tensor (broadcasts over a group's channels)."""
    _, M4 = grouped(u, M)
    return M4.permute(3, 0, 1, 2).unsqueeze(3).contiguous()


def _chain_(states: Sequence[Tensor], factors: Sequence[Tensor], start: Tensor | None) -> None:
    """In place, in order: ``states[i] += factors[i] * states[i - 1]``, with ``states[-1] = start`` (None: 0)."""
    previous = start
    for state, factor in zip(states, factors):
        if previous is not None:
            state.addcmul_(factor, previous)
        previous = state


class _LoopScan(torch.autograd.Function):
    """The ``torch_loop`` backend: a sequential scan over time-major blocks, hand-written backward.

    Inputs as in ``selective_scan`` after bias/softplus; returns ``(y, last_state)`` without D, z.
    Internally every tensor is ``(L, batch, groups, channels per group, ...)`` so that one step is
    one contiguous slice. Only the state at each block start is kept for backward.
    """

    @staticmethod
    def _layout(u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor) -> tuple[Tensor, ...]:
        """u, delta ``(L, b, g, p, 1)``, A ``(g, p, N)``, B, C ``(L, b, g, 1, N)`` and the time spans of the blocks."""
        batch, d_inner, length = u.shape
        per_group, _ = grouped(u, B)
        Bt, Ct = _time_major(u, B), _time_major(u, C)
        groups, d_state = Bt.shape[2], Bt.shape[-1]
        ut, dt = (x.permute(2, 0, 1).reshape(length, batch, groups, per_group, 1) for x in (u, delta))
        steps = max(1, BLOCK_ELEMENTS // (batch * d_inner * d_state))
        spans = [slice(t0, min(t0 + steps, length)) for t0 in range(0, length, steps)]
        return ut, dt, A.view(groups, per_group, d_state), Bt, Ct, spans

    @staticmethod
    def _states(ut: Tensor, dt: Tensor, A: Tensor, Bt: Tensor, span: slice, h0: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
        """Decays ``exp(delta * A)``, drive factors ``delta * u`` and states of the steps in ``span``."""
        decay = (dt[span] * A).exp_()
        delta_u = dt[span] * ut[span]
        h = delta_u * Bt[span]  # the drives; the recurrence turns them into states in place
        _chain_(h.unbind(0), decay.unbind(0), h0)
        return decay, delta_u, h

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor) -> tuple[Tensor, Tensor]:
        batch, d_inner, length = u.shape
        ut, dt, A_, Bt, Ct, spans = _LoopScan._layout(u, delta, A, B, C)
        y = u.new_empty(length, *ut.shape[1:4])
        keep_starts = any(ctx.needs_input_grad)  # scoring under no_grad keeps nothing
        h0, starts = None, []  # starts[k]: the state entering block k + 1
        for k, span in enumerate(spans):
            _, _, h = _LoopScan._states(ut, dt, A_, Bt, span, h0)
            torch.sum(h * Ct[span], dim=-1, out=y[span])
            h0 = h[-1]
            if keep_starts and k < len(spans) - 1:
                starts.append(h0.clone())
        ctx.save_for_backward(u, delta, A, B, C, *starts)
        ctx.spans = spans
        return y.permute(1, 2, 3, 0).reshape(batch, d_inner, length), h0.view(batch, d_inner, -1)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: torch.autograd.function.FunctionCtx, grad_y: Tensor | None, grad_last: Tensor | None) -> tuple[Tensor | None, ...]:
        u, delta, A, B, C, *starts = ctx.saved_tensors
        ut, dt, A_, Bt, Ct, spans = _LoopScan._layout(u, delta, A, B, C)
        if grad_y is None:
            grad_y = torch.zeros_like(u)
        gy = grad_y.permute(2, 0, 1).reshape(dt.shape)
        grad_u, grad_delta = torch.empty_like(ut), torch.empty_like(dt)
        grad_B, grad_C = torch.empty_like(Bt), torch.empty_like(Ct)
        grad_A = torch.zeros_like(A_)
        # dL/dh flowing into the last step of the current block from later steps
        carry = None if grad_last is None else grad_last.reshape(ut.shape[1:4] + A_.shape[-1:])
        for k in reversed(range(len(spans))):
            span, h0 = spans[k], (starts[k - 1] if k else None)
            decay, delta_u, h = _LoopScan._states(ut, dt, A_, Bt, span, h0)
            lam = gy[span] * Ct[span]  # dL/dh[t] through y[t]; the adjoint recurrence adds later steps
            lams, decays = lam.unbind(0), decay.unbind(0)
            if carry is not None:
                lams[-1].add_(carry)
            _chain_(lams[-2::-1], decays[:0:-1], lams[-1])
            carry = decays[0] * lams[0]
            lam_B = (lam * Bt[span]).sum(-1, keepdim=True)
            grad_u[span] = dt[span] * lam_B
            grad_B[span] = (lam * delta_u).sum(3, keepdim=True)
            grad_C[span] = (h * gy[span]).sum(3, keepdim=True)
            # d/d(log decay[t]) = lam[t] * decay[t] * h[t-1]
            grad_log_decay = decay
            grad_log_decay[1:].mul_(h[:-1])
            if h0 is None:
                grad_log_decay[0].zero_()
            else:
                grad_log_decay[0].mul_(h0)
            grad_log_decay.mul_(lam)
            grad_delta[span] = ut[span] * lam_B + (grad_log_decay * A_).sum(-1, keepdim=True)
            grad_A += (grad_log_decay * dt[span]).sum(dim=(0, 1))
        return (
            _from_time_major(grad_u, -1, u.shape),
            _from_time_major(grad_delta, -1, delta.shape),
            grad_A.view(A.shape),
            _from_time_major(grad_B, 3, B.shape),
            _from_time_major(grad_C, 3, C.shape),
        )


def _from_time_major(grad: Tensor, singleton: int, shape: torch.Size) -> Tensor:
    """A ``(L, batch, groups, ...)`` gradient with one singleton dim, back to its input's ``shape``."""
    return grad.squeeze(singleton).permute(1, 2, 3, 0).reshape(shape)


class _ChunkedScan(torch.autograd.Function):
    """Chunked scan with a hand-written backward that recomputes the states (low memory).

    Inputs as in ``selective_scan`` after bias/softplus; returns ``(y, last_state)`` without D, z.
    Time is processed in blocks (see ``BLOCK_ELEMENTS``); only the state at each block start is
    kept for backward, which recomputes each block's states and runs the adjoint recurrence
    ``lam[t] = dL/dh[t] + exp(delta[t+1] * A) * lam[t+1]`` backwards, block by block.
    """

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor) -> tuple[Tensor, Tensor]:
        chunk = _chunk_size(delta, A)
        block = _block_length(u, A.shape[1], chunk)
        spans = [slice(t0, min(t0 + block, u.shape[-1])) for t0 in range(0, u.shape[-1], block)]
        h0, starts, ys = None, [], []
        for span in spans:
            _, h = _block_states(u, delta, A, B, span, chunk, h0)
            ys.append((h * _per_channel(u[..., span], C[..., span])).sum(-1))
            h0 = h[..., -1, :].clone()
            starts.append(h0)
        ctx.save_for_backward(u, delta, A, B, C, *starts[:-1])
        ctx.chunk, ctx.spans = chunk, spans
        return torch.cat(ys, dim=-1), h0

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: torch.autograd.function.FunctionCtx, grad_y: Tensor | None, grad_last: Tensor | None) -> tuple[Tensor | None, ...]:
        u, delta, A, B, C, *starts = ctx.saved_tensors
        if grad_y is None:
            grad_y = torch.zeros_like(u)
        grads: dict[str, list[Tensor]] = {"u": [], "delta": [], "B": [], "C": []}
        grad_A = torch.zeros_like(A)
        lam_next = grad_last  # adjoint state just after the current block
        for k in reversed(range(len(ctx.spans))):
            span = ctx.spans[k]
            drive, h = _block_states(u, delta, A, B, span, ctx.chunk, starts[k - 1] if k else None)
            grad_h = grad_y[..., span].unsqueeze(-1) * _per_channel(u[..., span], C[..., span])
            shifted = delta[..., span.start + 1 : span.stop + 1]  # the decay of step t+1 acts on lam[t+1]
            shifted = F.pad(shifted, (0, span.stop - span.start - shifted.shape[-1]))
            lam = linear_recurrence(shifted.flip(-1), A, grad_h.flip(-2), ctx.chunk, lam_next).flip(-2)
            lam_next = lam[..., 0, :].clone()
            # d/d(log a_t) of a_t * h[t-1] is a_t * h[t-1] = h[t] - drive[t]
            grad_log_decay = lam * (h - drive)
            u_s, delta_s = u[..., span], delta[..., span]
            lam_B = (lam * _per_channel(u_s, B[..., span])).sum(-1)
            grads["u"].append(delta_s * lam_B)
            grads["delta"].append((grad_log_decay * A[:, None, :]).sum(-1) + u_s * lam_B)
            grad_A += (grad_log_decay * delta_s.unsqueeze(-1)).sum(dim=(0, 2))
            grads["B"].append(_reduce_to_groups(lam * (delta_s * u_s).unsqueeze(-1), B[..., span]))
            grads["C"].append(_reduce_to_groups(h * grad_y[..., span].unsqueeze(-1), C[..., span]))
        grad_u, grad_delta, grad_B, grad_C = (torch.cat(grads[key][::-1], dim=-1) for key in ("u", "delta", "B", "C"))
        return grad_u, grad_delta, grad_A, grad_B, grad_C


class SelectiveScanForFlops(_ChunkedScan):
    """The chunked scan under its own name, so fvcore can attribute the scan's FLOPs (see FVCORE_HANDLES)."""

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor) -> tuple[Tensor, Tensor]:
        with warnings.catch_warnings():  # the tracer records this op as one node; its shape logic is internal
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            return _ChunkedScan.forward(ctx, u, delta, A, B, C)


def _scan_flops(inputs: list, outputs: list) -> int:
    """FLOPs of one selective scan, VMamba's convention: ``9 * batch * L * d_inner * d_state``.

    Per state element and step: discretise A (exp of a product, 2), B*u*delta (3), the recurrence
    multiply-add (2) and the C contraction multiply-add (2). The D skip and the z gate are elementwise
    ops that fvcore counts (or ignores) on their own.
    """
    batch, d_inner, length = inputs[0].type().sizes()
    d_state = inputs[2].type().sizes()[1]
    return 9 * batch * length * d_inner * d_state


FVCORE_HANDLES = {"prim::PythonOp.SelectiveScanForFlops": _scan_flops}


def causal_conv1d(x: Tensor, weight: Tensor, bias: Tensor | None = None, activation: str | None = None) -> Tensor:
    """Depthwise causal convolution over time: ``(batch, channels, L)`` -> same shape.

    ``weight`` is ``(channels, width)``; ``activation`` is None, "silu" or "swish". On CUDA the
    causal-conv1d kernel runs where it takes the input (``cuda_kernels.conv_kernel``); under
    ``flop_counting`` the PyTorch conv always runs, as fvcore counts it and not the kernel.
    """
    if activation not in (None, "silu", "swish"):
        raise ValueError(f"causal_conv1d activation must be None, 'silu' or 'swish', got {activation!r}")
    if not _flop_counting and (out := cuda_kernels.conv_kernel(x, weight, bias, activation)) is not None:
        return out
    width = weight.shape[-1]
    out = F.conv1d(F.pad(x, (width - 1, 0)), weight.unsqueeze(1), bias, groups=x.shape[1])
    return F.silu(out) if activation is not None else out


__all__ = [
    "BACKENDS",
    "FVCORE_HANDLES",
    "SelectiveScanForFlops",
    "backend_report",
    "causal_conv1d",
    "conv_report",
    "flop_counting",
    "linear_recurrence",
    "mamba_ssm_available",
    "resolve_backend",
    "selective_scan",
]
