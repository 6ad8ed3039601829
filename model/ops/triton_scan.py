"""The selective scan as Triton kernels: a CUDA backend that needs no C++/CUDA compiler.

Semantics, shapes and dtypes are those of ``model.ops.selective_scan.selective_scan`` (mamba-ssm's
``selective_scan_fn``); see that module's docstring for the recurrence.

Design, and why:
  * One program per (batch, block of ``BLOCK_D`` channels of one B/C group) walks time sequentially,
    holding its ``BLOCK_D x d_state`` states in registers. A sequential loop does the minimum
    arithmetic (one exp per state and step) and needs no numerically delicate cumulative products;
    the GPU's parallelism comes from batch x channel blocks, and the block size is shrunk until the
    grid covers the GPU's SMs. Keeping each block inside one group lets a program load one
    ``d_state`` vector of B and C per step for all its channels.
  * Inputs are read through their strides (no copies): the Mamba block hands over channel-minor views
    of its projections, where a step's ``BLOCK_D`` channels are adjacent in memory, and ``out`` and
    the per-step gradients are written channel-minor for the same reason.
  * Forward keeps only the state at every chunk boundary (``_chunk_length``: about sqrt(L) steps, so
    checkpoints and the backward's scratch are both about ``batch * d_inner * d_state * sqrt(L)``
    floats instead of ``... * L``). Backward walks the chunks from the last: it recomputes a chunk's
    states from its checkpoint into a per-program scratch in global memory (written and read back by
    the same program, so mostly served from L2), then runs the adjoint recurrence backwards through the chunk.
    The pre-gate output needed by the z gradient is recomputed the same way rather than stored.
  * No atomics, so results are bit-reproducible: gradients that sum over channels (B, C) or over
    batch and time (A, D, delta_bias) are written as per-program partial sums and reduced with torch.
  * All state and accumulation is float32; u, delta, z, B, C may be float32, bfloat16 or float16,
    and each gradient comes back in its input's dtype.
  * The op is a ``torch.library.custom_op`` (``ssmad::selective_scan_triton``, backward
    ``ssmad::selective_scan_triton_backward``) with fake implementations, so ``torch.compile`` traces
    it as one opaque node without a graph break.
  * Triton decides between compiling and interpreting (``TRITON_INTERPRET=1``, which runs kernels on
    CPU tensors, for tests) when ``triton.jit`` wraps a function, and wraps its own library functions
    (``tl.sum``, ``tl.zeros``, ...) when ``triton.language`` is imported: the variable must be set
    before the process imports triton. A mode that differs between triton and this module is caught
    with a clear error rather than Triton's "Cannot call @triton.jit'd outside of the scope of a kernel".
"""
import math
from typing import Optional

import torch
from torch import Tensor

from util.errors import ConfigError

try:  # optional: only the parts that need Triton are disabled without it
    import triton
    import triton.language as tl
except ImportError as _error:  # pragma: no cover - depends on the environment
    triton = tl = None
    _IMPORT_ERROR: Optional[str] = f"triton is not importable ({_error}); pip install triton"
else:
    _IMPORT_ERROR = None

# Most states (BLOCK_D x padded d_state) one program holds on a GPU, at about four per thread: ptxas
# (sm_90) then fits the forward in ~90 registers and the backward, which keeps about eight such tiles
# live (states, previous states, adjoint, decay, A and its gradient, ...), in ~170-210 without
# spilling; at eight per thread the backward spilled.
MAX_TILE = 1024
STATES_PER_THREAD = 4
# Under the interpreter every Triton op is one numpy call, so fewer, wider programs are much faster.
MAX_BLOCK_D_INTERPRETED = 256
SUPPORTED_DTYPES = (torch.float32, torch.bfloat16, torch.float16)


def triton_available() -> str | None:
    """None when the Triton backend can run here; otherwise one line saying why not."""
    if _IMPORT_ERROR is not None:
        return _IMPORT_ERROR
    if _MODE_ERROR is not None:
        return _MODE_ERROR
    if _INTERPRETED:
        return None
    if not torch.cuda.is_available():
        return "no CUDA device (the Triton kernels need one, or Triton's interpreter: TRITON_INTERPRET=1 set before triton is imported)"
    try:
        triton.runtime.driver.active.get_current_target()
    except Exception as error:  # noqa: BLE001 - any driver failure means "not usable", with its reason
        return f"Triton has no working GPU driver here ({error})"
    return None


def selective_scan_triton(
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
) -> Tensor | tuple[Tensor, Tensor]:
    """Selective scan with the Triton kernels; arguments and results as ``selective_scan``.

    ``out`` comes back as a ``(batch, d_inner, L)`` view of a channel-minor ``(batch, L, d_inner)``
    tensor; the last state is float32. Gradients flow to every tensor input, including through the
    last state.
    """
    _check_inputs(u, delta, A, B, C, D, z, delta_bias)
    tensors = (u, delta, A, B, C, D, z, delta_bias)
    keep = torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)
    out, last, _ = torch.ops.ssmad.selective_scan_triton(u, delta, A, B, C, D, z, delta_bias, delta_softplus, keep)
    return (out, last) if return_last_state else out


def _check_inputs(
    u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor | None, z: Tensor | None, delta_bias: Tensor | None
) -> None:
    """Raise a clear error for anything the kernels cannot take."""
    if _IMPORT_ERROR is not None:
        raise ConfigError(f"scan_backend='triton' is unavailable: {_IMPORT_ERROR}.")
    if _MODE_ERROR is not None:
        raise ConfigError(f"scan_backend='triton' is unavailable: {_MODE_ERROR}.")
    if u.dim() != 3:
        raise ValueError(f"selective_scan_triton: u must be (batch, d_inner, L), got {tuple(u.shape)}")
    batch, d_inner, length = u.shape
    for name, t in (("delta", delta), ("z", z)):
        if t is not None and t.shape != u.shape:
            raise ValueError(f"selective_scan_triton: {name} has shape {tuple(t.shape)}, u has {tuple(u.shape)}")
    if A.dim() != 2 or A.shape[0] != d_inner:
        raise ValueError(f"selective_scan_triton: A must be (d_inner={d_inner}, d_state), got {tuple(A.shape)}")
    for name, M in (("B", B), ("C", C)):
        grouped = M.dim() == 4
        if M.dim() not in (3, 4) or M.shape[0] != batch or M.shape[-2] != A.shape[1] or M.shape[-1] != length:
            raise ValueError(
                f"selective_scan_triton: {name} must be (batch, d_state, L) or (batch, groups, d_state, L) "
                f"with batch={batch}, d_state={A.shape[1]}, L={length}; got {tuple(M.shape)}"
            )
        if grouped and d_inner % M.shape[1]:
            raise ValueError(f"selective_scan_triton: d_inner={d_inner} is not divisible by the {M.shape[1]} groups of {name}")
    if B.shape != C.shape:
        raise ValueError(f"selective_scan_triton: B {tuple(B.shape)} and C {tuple(C.shape)} must have one shape")
    for name, p in (("D", D), ("delta_bias", delta_bias)):
        if p is not None and p.shape != (d_inner,):
            raise ValueError(f"selective_scan_triton: {name} must be ({d_inner},), got {tuple(p.shape)}")
    for name, t in (("u", u), ("delta", delta), ("B", B), ("C", C), ("z", z)):
        if t is not None and t.dtype not in SUPPORTED_DTYPES:
            raise TypeError(f"selective_scan_triton: {name} is {t.dtype}; the kernels take float32, bfloat16 or float16")
    devices = {t.device for t in (u, delta, A, B, C, D, z, delta_bias) if t is not None}
    if len(devices) > 1:
        raise ValueError(f"selective_scan_triton: inputs are on several devices: {sorted(map(str, devices))}")
    if u.device.type == "cpu" and not _INTERPRETED:
        raise ConfigError(
            "selective_scan_triton got CPU tensors, which Triton runs only in its interpreter: start the "
            "process with the environment variable TRITON_INTERPRET=1 (set before triton is imported; "
            "slow, meant for tests), or move the tensors to a CUDA device."
        )


def _chunk_length(length: int) -> int:
    """Steps between checkpoints: the power of two nearest above sqrt(L), in [8, 64].

    Checkpoints cost ``L / chunk`` states per channel and live from forward to backward; the backward's
    scratch costs ``chunk`` and lives only during it, so about sqrt(L) balances the two.
    """
    return min(64, max(8, triton.next_power_of_2(math.isqrt(max(length - 1, 0)) + 1)))


def _launch_config(batch: int, groups: int, per_group: int, d_state: int, device: torch.device) -> tuple[int, int, int]:
    """``(BLOCK_D, BLOCK_N, num_warps)`` for a launch.

    BLOCK_N pads d_state to a power of two. On a GPU a program's tile is at most ``MAX_TILE`` states,
    BLOCK_D is halved while the grid has fewer than two programs per SM (a sequential scan has no
    other parallelism to offer), down to 4 channels, and the warps give each thread about
    ``STATES_PER_THREAD`` states.
    """
    block_n = triton.next_power_of_2(d_state)
    if _INTERPRETED:
        return min(triton.next_power_of_2(per_group), MAX_BLOCK_D_INTERPRETED), block_n, 1
    block_d = min(triton.next_power_of_2(per_group), max(1, MAX_TILE // block_n))
    sms = torch.cuda.get_device_properties(device).multi_processor_count
    while block_d > 4 and batch * groups * triton.cdiv(per_group, block_d) < 2 * sms:
        block_d //= 2
    return block_d, block_n, max(1, min(8, block_d * block_n // (32 * STATES_PER_THREAD)))


def _channel_minor(batch: int, d_inner: int, length: int, dtype: torch.dtype, device: torch.device) -> Tensor:
    """An empty ``(batch, d_inner, L)`` tensor laid out as ``(batch, L, d_inner)``: one step's channels adjacent."""
    return torch.empty(batch, length, d_inner, dtype=dtype, device=device).transpose(1, 2)


def _grouped(M: Tensor) -> Tensor:
    """B or C as a ``(batch, groups, d_state, L)`` view."""
    return M.unsqueeze(1) if M.dim() == 3 else M


def _strides3(t: Tensor | None) -> tuple[int, int, int]:
    """Strides of a ``(batch, d_inner, L)`` tensor, zeros for an absent one (never read then)."""
    return (0, 0, 0) if t is None else t.stride()


if triton is not None:
    from triton.runtime.interpreter import InterpretedFunction

    @triton.jit
    def _channel_block(blocks_per_group, per_group, d_state, BLOCK_D: tl.constexpr, BLOCK_N: tl.constexpr):
        """This program's batch ``b``, group ``g``, block inside the group, channels ``d`` and states ``n``, with masks."""
        b = tl.program_id(0).to(tl.int64)
        pid = tl.program_id(1)
        g = pid // blocks_per_group
        block = pid % blocks_per_group
        local = block * BLOCK_D + tl.arange(0, BLOCK_D)
        mask_d = local < per_group
        d = (g * per_group + local).to(tl.int64)
        n = tl.arange(0, BLOCK_N)
        mask_n = n < d_state
        return b, pid, g, block, d, mask_d, n, mask_n

    @triton.jit
    def _channel_parameters(A_ptr, D_ptr, bias_ptr, sA_d, sA_n, d, mask_d, n, mask_n, HAS_D: tl.constexpr, HAS_BIAS: tl.constexpr):
        """The block's ``A`` tile and its ``D`` and delta bias (zeros where absent), in float32."""
        A = tl.load(A_ptr + d[:, None] * sA_d + n[None, :] * sA_n, mask=mask_d[:, None] & mask_n[None, :], other=0.0).to(tl.float32)
        D = tl.load(D_ptr + d, mask=mask_d & HAS_D, other=0.0).to(tl.float32)
        bias = tl.load(bias_ptr + d, mask=mask_d & HAS_BIAS, other=0.0).to(tl.float32)
        return A, D, bias

    @triton.jit
    def _softplus(x):
        """softplus with log1p(exp(-|x|)) as log(w) * e / (w - 1): exact even where 1 + e rounds to 1."""
        e = tl.exp(-tl.abs(x))
        w = 1.0 + e
        log1p = tl.where(w == 1.0, e, tl.log(w) * e / (w - 1.0))
        return tl.where(x > 20.0, x, tl.maximum(x, 0.0) + log1p)

    @triton.jit
    def _load_delta(dt_row, t, sdt_t, bias, mask_d, HAS_BIAS: tl.constexpr, SOFTPLUS: tl.constexpr):
        """(delta + bias before softplus, the step's delta) of step ``t``, in float32."""
        dt_in = tl.load(dt_row + t * sdt_t, mask=mask_d, other=0.0).to(tl.float32)
        if HAS_BIAS:
            dt_in += bias
        dt = dt_in
        if SOFTPLUS:
            dt = _softplus(dt_in)
        return dt_in, dt

    @triton.jit
    def _forward_kernel(
        u_ptr, delta_ptr, A_ptr, B_ptr, C_ptr, D_ptr, z_ptr, bias_ptr, out_ptr, last_ptr, ckpt_ptr,
        length, d_inner, d_state, per_group, blocks_per_group, chunk,
        su_b, su_d, su_t, sdt_b, sdt_d, sdt_t, sz_b, sz_d, sz_t, so_b, so_d, so_t,
        sA_d, sA_n, sB_b, sB_g, sB_n, sB_t, sC_b, sC_g, sC_n, sC_t,
        HAS_D: tl.constexpr, HAS_Z: tl.constexpr, HAS_BIAS: tl.constexpr, SOFTPLUS: tl.constexpr,
        KEEP: tl.constexpr, BLOCK_D: tl.constexpr, BLOCK_N: tl.constexpr,
    ):
        """Scan one (batch, channel block); store out, the last state and (KEEP) chunk-boundary states."""
        b, pid, g, block, d, mask_d, n, mask_n = _channel_block(blocks_per_group, per_group, d_state, BLOCK_D, BLOCK_N)
        mask_dn = mask_d[:, None] & mask_n[None, :]
        A, D, bias = _channel_parameters(A_ptr, D_ptr, bias_ptr, sA_d, sA_n, d, mask_d, n, mask_n, HAS_D, HAS_BIAS)
        u_row = u_ptr + b * su_b + d * su_d
        dt_row = delta_ptr + b * sdt_b + d * sdt_d
        z_row = z_ptr + b * sz_b + d * sz_d
        out_row = out_ptr + b * so_b + d * so_d
        B_row = B_ptr + b * sB_b + g * sB_g + n * sB_n
        C_row = C_ptr + b * sC_b + g * sC_g + n * sC_n
        state_offsets = d[:, None] * d_state + n[None, :]
        h = tl.zeros((BLOCK_D, BLOCK_N), dtype=tl.float32)
        n_chunks = tl.cdiv(length, chunk)
        for k in range(n_chunks):
            if KEEP:
                if k > 0:  # the state entering chunk k
                    tl.store(ckpt_ptr + ((b * (n_chunks - 1) + k - 1) * d_inner) * d_state + state_offsets, h, mask=mask_dn)
            for t in range(k * chunk, tl.minimum((k + 1) * chunk, length)):
                u_t = tl.load(u_row + t * su_t, mask=mask_d, other=0.0).to(tl.float32)
                _, dt = _load_delta(dt_row, t, sdt_t, bias, mask_d, HAS_BIAS, SOFTPLUS)
                B_t = tl.load(B_row + t * sB_t, mask=mask_n, other=0.0).to(tl.float32)
                C_t = tl.load(C_row + t * sC_t, mask=mask_n, other=0.0).to(tl.float32)
                h = tl.exp(dt[:, None] * A) * h + (dt * u_t)[:, None] * B_t[None, :]
                y = tl.sum(h * C_t[None, :], axis=1)
                if HAS_D:
                    y += D * u_t
                if HAS_Z:
                    z_t = tl.load(z_row + t * sz_t, mask=mask_d, other=0.0).to(tl.float32)
                    y *= z_t / (1.0 + tl.exp(-z_t))
                tl.store(out_row + t * so_t, y.to(out_ptr.dtype.element_ty), mask=mask_d)
        tl.store(last_ptr + b * d_inner * d_state + state_offsets, h, mask=mask_dn)

    @triton.jit
    def _backward_kernel(
        u_ptr, delta_ptr, A_ptr, B_ptr, C_ptr, D_ptr, z_ptr, bias_ptr, ckpt_ptr, gout_ptr, glast_ptr,
        du_ptr, ddelta_ptr, dz_ptr, dA_ptr, dD_ptr, dbias_ptr, dB_ptr, dC_ptr, scratch_ptr,
        length, d_inner, d_state, per_group, blocks_per_group, groups, chunk,
        su_b, su_d, su_t, sdt_b, sdt_d, sdt_t, sz_b, sz_d, sz_t, sg_b, sg_d, sg_t,
        sdu_b, sdu_d, sdu_t, sddt_b, sddt_d, sddt_t, sdz_b, sdz_d, sdz_t,
        sA_d, sA_n, sB_b, sB_g, sB_n, sB_t, sC_b, sC_g, sC_n, sC_t,
        HAS_D: tl.constexpr, HAS_Z: tl.constexpr, HAS_BIAS: tl.constexpr, SOFTPLUS: tl.constexpr,
        HAS_GLAST: tl.constexpr, BLOCK_D: tl.constexpr, BLOCK_N: tl.constexpr,
    ):
        """Gradients of one (batch, channel block), chunk by chunk from the end.

        Per chunk: recompute the states from the chunk's checkpoint into scratch slots 1..T (slot 0
        holds the checkpoint), then walk back with the adjoint ``lam[t] = dL/dh[t]``, which enters
        step t as ``exp(delta[t+1] A) lam[t+1]`` and gains ``g_y[t] C[t]``. B and C gradients are
        this block's sums over its channels, per step; A, D and bias gradients its sums over time.
        """
        b, pid, g, block, d, mask_d, n, mask_n = _channel_block(blocks_per_group, per_group, d_state, BLOCK_D, BLOCK_N)
        mask_dn = mask_d[:, None] & mask_n[None, :]
        A, D, bias = _channel_parameters(A_ptr, D_ptr, bias_ptr, sA_d, sA_n, d, mask_d, n, mask_n, HAS_D, HAS_BIAS)
        u_row = u_ptr + b * su_b + d * su_d
        dt_row = delta_ptr + b * sdt_b + d * sdt_d
        z_row = z_ptr + b * sz_b + d * sz_d
        g_row = gout_ptr + b * sg_b + d * sg_d
        du_row = du_ptr + b * sdu_b + d * sdu_d
        ddt_row = ddelta_ptr + b * sddt_b + d * sddt_d
        dz_row = dz_ptr + b * sdz_b + d * sdz_d
        B_row = B_ptr + b * sB_b + g * sB_g + n * sB_n
        C_row = C_ptr + b * sC_b + g * sC_g + n * sC_n
        # partial B/C gradients: (batch, groups, blocks_per_group, L, d_state), one row per program
        partial_row = ((b * groups + g) * blocks_per_group + block) * length * d_state + n
        state_offsets = d[:, None] * d_state + n[None, :]
        tile = tl.arange(0, BLOCK_D)[:, None] * BLOCK_N + n[None, :]
        scratch = scratch_ptr + (b * tl.num_programs(1) + pid) * (chunk + 1) * BLOCK_D * BLOCK_N + tile
        if HAS_GLAST:
            lam = tl.load(glast_ptr + b * d_inner * d_state + state_offsets, mask=mask_dn, other=0.0).to(tl.float32)
        else:
            lam = tl.zeros((BLOCK_D, BLOCK_N), dtype=tl.float32)
        dA_acc = tl.zeros((BLOCK_D, BLOCK_N), dtype=tl.float32)
        dD_acc = tl.zeros((BLOCK_D,), dtype=tl.float32)
        dbias_acc = tl.zeros((BLOCK_D,), dtype=tl.float32)
        n_chunks = tl.cdiv(length, chunk)
        for kk in range(n_chunks):
            k = n_chunks - 1 - kk
            t0 = k * chunk
            t1 = tl.minimum(t0 + chunk, length)
            ckpt = ckpt_ptr + ((b * (n_chunks - 1) + k - 1) * d_inner) * d_state + state_offsets
            h = tl.load(ckpt, mask=mask_dn & (k > 0), other=0.0)
            tl.store(scratch, h)
            for t in range(t0, t1):
                u_t = tl.load(u_row + t * su_t, mask=mask_d, other=0.0).to(tl.float32)
                _, dt = _load_delta(dt_row, t, sdt_t, bias, mask_d, HAS_BIAS, SOFTPLUS)
                B_t = tl.load(B_row + t * sB_t, mask=mask_n, other=0.0).to(tl.float32)
                h = tl.exp(dt[:, None] * A) * h + (dt * u_t)[:, None] * B_t[None, :]
                tl.store(scratch + (t - t0 + 1) * BLOCK_D * BLOCK_N, h)
            tl.debug_barrier()
            for tt in range(t1 - t0):
                t = t1 - 1 - tt
                h_prev = tl.load(scratch + (t - t0) * BLOCK_D * BLOCK_N)
                u_t = tl.load(u_row + t * su_t, mask=mask_d, other=0.0).to(tl.float32)
                dt_in, dt = _load_delta(dt_row, t, sdt_t, bias, mask_d, HAS_BIAS, SOFTPLUS)
                B_t = tl.load(B_row + t * sB_t, mask=mask_n, other=0.0).to(tl.float32)
                C_t = tl.load(C_row + t * sC_t, mask=mask_n, other=0.0).to(tl.float32)
                g_y = tl.load(g_row + t * sg_t, mask=mask_d, other=0.0).to(tl.float32)
                if HAS_Z:
                    y = tl.sum(h * C_t[None, :], axis=1)
                    if HAS_D:
                        y += D * u_t
                    z_t = tl.load(z_row + t * sz_t, mask=mask_d, other=0.0).to(tl.float32)
                    sig = 1.0 / (1.0 + tl.exp(-z_t))
                    dz = g_y * y * sig * (1.0 + z_t * (1.0 - sig))
                    tl.store(dz_row + t * sdz_t, dz.to(dz_ptr.dtype.element_ty), mask=mask_d)
                    g_y = g_y * z_t * sig
                tl.store(dC_ptr + partial_row + t * d_state, tl.sum(g_y[:, None] * h, axis=0), mask=mask_n)
                lam += g_y[:, None] * C_t[None, :]
                decay = tl.exp(dt[:, None] * A)
                dlog_decay = lam * decay * h_prev
                dA_acc += dlog_decay * dt[:, None]
                lam_B = tl.sum(lam * B_t[None, :], axis=1)
                tl.store(dB_ptr + partial_row + t * d_state, tl.sum(lam * (dt * u_t)[:, None], axis=0), mask=mask_n)
                du = dt * lam_B
                if HAS_D:
                    du += D * g_y
                    dD_acc += g_y * u_t
                ddt = tl.sum(dlog_decay * A, axis=1) + u_t * lam_B
                if SOFTPLUS:
                    ddt = ddt / (1.0 + tl.exp(-dt_in))
                dbias_acc += ddt
                tl.store(du_row + t * sdu_t, du.to(du_ptr.dtype.element_ty), mask=mask_d)
                tl.store(ddt_row + t * sddt_t, ddt.to(ddelta_ptr.dtype.element_ty), mask=mask_d)
                lam = lam * decay
                h = h_prev
            tl.debug_barrier()  # the next chunk reuses the scratch
        tl.store(dA_ptr + b * d_inner * d_state + state_offsets, dA_acc, mask=mask_dn)
        if HAS_D:
            tl.store(dD_ptr + b * d_inner + d, dD_acc, mask=mask_d)
        if HAS_BIAS:
            tl.store(dbias_ptr + b * d_inner + d, dbias_acc, mask=mask_d)

    _INTERPRETED = isinstance(_forward_kernel, InterpretedFunction)
    _MODE_ERROR: Optional[str] = (
        None
        if isinstance(tl.sum, InterpretedFunction) == _INTERPRETED
        else "TRITON_INTERPRET changed between importing triton and model.ops.triton_scan; "
        "set it (or not) before the process imports either"
    )
else:  # pragma: no cover - depends on the environment
    _INTERPRETED, _MODE_ERROR = False, None


def _forward_outputs(u: Tensor, A: Tensor, keep_checkpoints: bool) -> tuple[Tensor, Tensor, Tensor]:
    """Empty ``out`` (channel-minor), last state and checkpoints ``(batch, n_chunks - 1, d_inner, d_state)``."""
    batch, d_inner, length = u.shape
    d_state = A.shape[1]
    out = _channel_minor(batch, d_inner, length, u.dtype, u.device)
    last = u.new_empty(batch, d_inner, d_state, dtype=torch.float32)
    n_checkpoints = max(triton.cdiv(length, _chunk_length(length)) - 1, 0) if keep_checkpoints else 0
    checkpoints = u.new_empty(batch, n_checkpoints, d_inner, d_state, dtype=torch.float32)
    return out, last, checkpoints


@torch.library.custom_op("ssmad::selective_scan_triton", mutates_args=())
def _scan_op(
    u: Tensor,
    delta: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    D: Optional[Tensor],
    z: Optional[Tensor],
    delta_bias: Optional[Tensor],
    delta_softplus: bool,
    keep_checkpoints: bool,
) -> tuple[Tensor, Tensor, Tensor]:
    """``(out, last_state, checkpoints)``; checkpoints are empty unless ``keep_checkpoints`` (backward needs them)."""
    _check_inputs(u, delta, A, B, C, D, z, delta_bias)
    out, last, checkpoints = _forward_outputs(u, A, keep_checkpoints)
    batch, d_inner, length = u.shape
    d_state = A.shape[1]
    B4, C4 = _grouped(B), _grouped(C)
    groups = B4.shape[1]
    per_group = d_inner // groups
    block_d, block_n, num_warps = _launch_config(batch, groups, per_group, d_state, u.device)
    blocks_per_group = triton.cdiv(per_group, block_d)
    D_, bias = (A if p is None else p.contiguous() for p in (D, delta_bias))  # A: a placeholder never read
    _forward_kernel[(batch, groups * blocks_per_group)](
        u, delta, A, B4, C4, D_, u if z is None else z, bias, out, last, checkpoints if keep_checkpoints else last,
        length, d_inner, d_state, per_group, blocks_per_group, _chunk_length(length),
        *u.stride(), *delta.stride(), *_strides3(z), *out.stride(), *A.stride(), *B4.stride(), *C4.stride(),
        HAS_D=D is not None, HAS_Z=z is not None, HAS_BIAS=delta_bias is not None, SOFTPLUS=delta_softplus,
        KEEP=keep_checkpoints, BLOCK_D=block_d, BLOCK_N=block_n, num_warps=num_warps,
    )
    return out, last, checkpoints


@_scan_op.register_fake
def _scan_op_fake(u, delta, A, B, C, D, z, delta_bias, delta_softplus, keep_checkpoints):
    return _forward_outputs(u, A, keep_checkpoints)


def _backward_outputs(
    u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor | None, z: Tensor | None, delta_bias: Tensor | None
) -> tuple[Tensor, Tensor, Tensor]:
    """Empty gradients for u, delta and z (channel-minor, or ``(0,)`` for an absent z) in their inputs' dtypes."""
    batch, d_inner, length = u.shape
    du = _channel_minor(batch, d_inner, length, u.dtype, u.device)
    ddelta = _channel_minor(batch, d_inner, length, delta.dtype, u.device)
    dz = u.new_empty(0) if z is None else _channel_minor(batch, d_inner, length, z.dtype, u.device)
    return du, ddelta, dz


def _reduced_gradients(
    A: Tensor, B: Tensor, C: Tensor, D: Tensor | None, delta_bias: Tensor | None
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """Empty gradients for A, B, C, D and delta_bias (``(0,)`` when absent), contiguous, in their inputs' dtypes."""
    dD = A.new_empty(0) if D is None else torch.empty_like(D, memory_format=torch.contiguous_format)
    dbias = A.new_empty(0) if delta_bias is None else torch.empty_like(delta_bias, memory_format=torch.contiguous_format)
    contiguous = dict(memory_format=torch.contiguous_format)
    return torch.empty_like(A, **contiguous), torch.empty_like(B, **contiguous), torch.empty_like(C, **contiguous), dD, dbias


@torch.library.custom_op("ssmad::selective_scan_triton_backward", mutates_args=())
def _scan_backward_op(
    u: Tensor,
    delta: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    D: Optional[Tensor],
    z: Optional[Tensor],
    delta_bias: Optional[Tensor],
    delta_softplus: bool,
    checkpoints: Tensor,
    grad_out: Tensor,
    grad_last: Optional[Tensor],
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
    """Gradients ``(u, delta, A, B, C, D, z, delta_bias)``; ``(0,)`` tensors for absent inputs."""
    du, ddelta, dz = _backward_outputs(u, delta, A, B, C, D, z, delta_bias)
    batch, d_inner, length = u.shape
    d_state = A.shape[1]
    B4, C4 = _grouped(B), _grouped(C)
    groups = B4.shape[1]
    per_group = d_inner // groups
    block_d, block_n, num_warps = _launch_config(batch, groups, per_group, d_state, u.device)
    blocks_per_group = triton.cdiv(per_group, block_d)
    chunk = _chunk_length(length)
    f32 = dict(dtype=torch.float32, device=u.device)
    dA_part = torch.empty(batch, d_inner, d_state, **f32)
    dD_part = torch.empty(batch, d_inner if D is not None else 0, **f32)
    dbias_part = torch.empty(batch, d_inner if delta_bias is not None else 0, **f32)
    dB_part = torch.empty(batch, groups, blocks_per_group, length, d_state, **f32)
    dC_part = torch.empty_like(dB_part)
    scratch = torch.empty(batch * groups * blocks_per_group, chunk + 1, block_d, block_n, **f32)
    D_, bias = (A if p is None else p.contiguous() for p in (D, delta_bias))  # A: a placeholder never read
    z_, dz_ = (u, du) if z is None else (z, dz)
    last_grad = dA_part if grad_last is None else grad_last.contiguous()
    _backward_kernel[(batch, groups * blocks_per_group)](
        u, delta, A, B4, C4, D_, z_, bias, checkpoints, grad_out, last_grad,
        du, ddelta, dz_, dA_part, dD_part if D is not None else dA_part, dbias_part if delta_bias is not None else dA_part,
        dB_part, dC_part, scratch,
        length, d_inner, d_state, per_group, blocks_per_group, groups, chunk,
        *u.stride(), *delta.stride(), *z_.stride(), *grad_out.stride(),
        *du.stride(), *ddelta.stride(), *dz_.stride(), *A.stride(), *B4.stride(), *C4.stride(),
        HAS_D=D is not None, HAS_Z=z is not None, HAS_BIAS=delta_bias is not None, SOFTPLUS=delta_softplus,
        HAS_GLAST=grad_last is not None, BLOCK_D=block_d, BLOCK_N=block_n, num_warps=num_warps,
    )
    dA, dB, dC, dD, dbias = _reduced_gradients(A, B, C, D, delta_bias)
    dA.copy_(dA_part.sum(0))
    dB.copy_(dB_part.sum(2).transpose(-1, -2).reshape(B.shape))
    dC.copy_(dC_part.sum(2).transpose(-1, -2).reshape(C.shape))
    if D is not None:
        dD.copy_(dD_part.sum(0))
    if delta_bias is not None:
        dbias.copy_(dbias_part.sum(0))
    return du, ddelta, dA, dB, dC, dD, dz, dbias


@_scan_backward_op.register_fake
def _scan_backward_op_fake(u, delta, A, B, C, D, z, delta_bias, delta_softplus, checkpoints, grad_out, grad_last):
    du, ddelta, dz = _backward_outputs(u, delta, A, B, C, D, z, delta_bias)
    dA, dB, dC, dD, dbias = _reduced_gradients(A, B, C, D, delta_bias)
    return du, ddelta, dA, dB, dC, dD, dz, dbias


def _setup_context(ctx, inputs: tuple, output: tuple[Tensor, Tensor, Tensor]) -> None:
    u, delta, A, B, C, D, z, delta_bias, delta_softplus, _ = inputs
    ctx.save_for_backward(u, delta, A, B, C, D, z, delta_bias, output[2])
    ctx.delta_softplus = delta_softplus
    ctx.mark_non_differentiable(output[2])
    ctx.set_materialize_grads(False)  # an unused output costs no zero tensor; the kernel skips it


def _backward(ctx, grad_out: Tensor | None, grad_last: Tensor | None, _grad_checkpoints: Tensor | None) -> tuple:
    u, delta, A, B, C, D, z, delta_bias, checkpoints = ctx.saved_tensors
    if grad_out is None:
        grad_out = torch.zeros_like(u)
    du, ddelta, dA, dB, dC, dD, dz, dbias = torch.ops.ssmad.selective_scan_triton_backward(
        u, delta, A, B, C, D, z, delta_bias, ctx.delta_softplus, checkpoints, grad_out, grad_last
    )
    absent = (D is None, z is None, delta_bias is None)
    dD, dz, dbias = (None if gone else g for gone, g in zip(absent, (dD, dz, dbias)))
    return du, ddelta, dA, dB, dC, dD, dz, dbias, None, None


_scan_op.register_autograd(_backward, setup_context=_setup_context)


__all__ = ["selective_scan_triton", "triton_available"]
