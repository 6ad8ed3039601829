"""The optional CUDA kernels behind ``model.ops.selective_scan``: what is usable, and calls that fit them.

* mamba-ssm's ``selective_scan_fn`` and causal-conv1d's ``causal_conv1d_fn`` are imported on first
  need on a CUDA device (a CPU-only process never imports them). Any exception at import means "not
  usable", with the reason kept: causal-conv1d >= 1.5.2 raises AttributeError on torch < 2.4, and
  mamba-ssm's import then fails too. A package that is installed but fails this way is logged once.
* mamba-ssm is used only after a self-check on the device (``_self_check``): mamba-ssm after 2.3.2
  builds its CUDA scan only on request, so the package imports and the first scan raises.
* ``auto_cuda`` is the choice of ``scan_backend='auto'`` for CUDA tensors: ``mamba_ssm`` (imported,
  self-check passed, deterministic mode off), else ``triton`` (``model.ops.triton_scan``), else
  ``torch_chunked``. mamba-ssm's backward accumulates with atomic adds, so its gradients are not
  bit-reproducible; with ``torch.use_deterministic_algorithms(True)`` ``auto`` never picks it.
* ``conv_kernel`` routes the causal conv: the kernel where it takes the input, else None (the caller
  runs the PyTorch conv).

``on_cuda`` decides whether a device takes this branch; tests replace it to run the branch on CPU
tensors through stand-in packages (tests/standins).
"""
from __future__ import annotations

import functools
import importlib
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from model.ops.reference_scan import scan_reference
from util.logging import get_logger

# Input dtypes both kernels take (mamba-ssm's and causal-conv1d's dispatch; model.ops.triton_scan's).
KERNEL_DTYPES = (torch.float32, torch.bfloat16, torch.float16)
# mamba-ssm's kernel refuses larger states.
MAX_D_STATE = 256
# Self-check tolerance: float32 kernels against the float32 reference on a 9-step scan.
_CHECK_TOLERANCE = dict(atol=1e-4, rtol=1e-3)


def on_cuda(device: torch.device) -> bool:
    """Whether tensors on ``device`` take the CUDA branch (tests patch this to force it on CPU)."""
    return device.type == "cuda"


@functools.lru_cache(maxsize=None)
def _import(module: str, name: str) -> tuple[Callable | None, str | None]:
    """``(module.name, None)``, or ``(None, why not)`` after any exception at import."""
    try:
        return getattr(importlib.import_module(module), name), None
    except Exception as exc:  # noqa: BLE001 - e.g. AttributeError from torch.library on an old torch
        if isinstance(exc, ModuleNotFoundError) and exc.name == module.split(".")[0]:
            return None, "not installed"
        return None, f"import failed: {_one_line(exc)}"


def _one_line(exc: BaseException) -> str:
    """``Type: message`` on one line (a message's later lines often hold the fix)."""
    message = " ".join(line.strip() for line in str(exc).splitlines() if line.strip())
    return f"{type(exc).__name__}: {message[:300]}" if message else type(exc).__name__


@functools.lru_cache(maxsize=None)
def _log_once(level: str, message: str) -> None:
    getattr(get_logger(), level)(message)


def _package(module: str, name: str) -> Callable | None:
    """The imported function, or None; a package that is installed but fails to import is logged once."""
    function, reason = _import(module, name)
    if reason not in (None, "not installed"):
        _log_once("warning", f"{module.split('.')[0]} is installed but unusable ({reason}); CUDA runs without it.")
    return function


def mamba_ssm_scan_fn() -> Callable | None:
    """mamba-ssm's ``selective_scan_fn`` when it imports, else None."""
    return _package("mamba_ssm.ops.selective_scan_interface", "selective_scan_fn")


def causal_conv1d_fn() -> Callable | None:
    """causal-conv1d's ``causal_conv1d_fn`` when it imports, else None."""
    return _package("causal_conv1d", "causal_conv1d_fn")


def _device_key(device: torch.device) -> torch.device:
    """``cuda`` with its index (the current device when none is given), so each GPU is checked once."""
    if device.type == "cuda" and device.index is None and torch.cuda.is_available():
        return torch.device("cuda", torch.cuda.current_device())
    return device


def mamba_ssm_scan(
    u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor | None, z: Tensor | None,
    delta_bias: Tensor | None, delta_softplus: bool, return_last_state: bool,
) -> Tensor | tuple[Tensor, Tensor]:
    """mamba-ssm's scan, called by keyword with the dtypes its kernel checks: ``delta, B, C, z`` in the
    dtype of ``u``, ``A, D, delta_bias`` float32. Shapes as ``selective_scan``."""
    f32 = torch.float32
    return mamba_ssm_scan_fn()(
        u=u, delta=_to(delta, u.dtype), A=_to(A, f32), B=_to(B, u.dtype), C=_to(C, u.dtype),
        D=_to(D, f32), z=_to(z, u.dtype), delta_bias=_to(delta_bias, f32),
        delta_softplus=delta_softplus, return_last_state=return_last_state,
    )


def _to(t: Tensor | None, dtype: torch.dtype) -> Tensor | None:
    return None if t is None else t.to(dtype)


def _reference_scan(
    u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor, z: Tensor, delta_bias: Tensor,
    delta_softplus: bool, return_last_state: bool,
) -> tuple[Tensor, Tensor]:
    """The self-check's case (bias, softplus, D and gate, last state returned) on the step-by-step reference."""
    assert delta_softplus and return_last_state
    y, last = scan_reference(u, F.softplus(delta + delta_bias[:, None]), A, B, C)
    return (y + u * D[:, None]) * F.silu(z), last


@functools.lru_cache(maxsize=None)
def _self_check(device: torch.device) -> str | None:
    """None when mamba-ssm's scan matches ``torch_ref`` on ``device`` (a tiny float32 scan, plain and
    grouped B/C, forward and every input gradient); otherwise why not."""
    gen = torch.Generator().manual_seed(0)
    failures = []
    for bc_shape in ((2, 3, 9), (2, 2, 3, 9)):
        results = []
        try:
            # whatever the caller runs under (no_grad, inference_mode, autocast): a float32 scan with gradients
            with torch.inference_mode(False), torch.enable_grad(), torch.autocast(device.type, enabled=False):
                cpu = dict(
                    u=torch.randn(2, 4, 9, generator=gen), delta=torch.randn(2, 4, 9, generator=gen),
                    A=-torch.rand(4, 3, generator=gen) - 0.5, B=torch.randn(*bc_shape, generator=gen),
                    C=torch.randn(*bc_shape, generator=gen), D=torch.randn(4, generator=gen),
                    z=torch.randn(2, 4, 9, generator=gen), delta_bias=torch.randn(4, generator=gen),
                )
                for scan in (mamba_ssm_scan, _reference_scan):
                    inputs = {k: v.to(device).requires_grad_() for k, v in cpu.items()}
                    out, last = scan(**inputs, delta_softplus=True, return_last_state=True)
                    # no last-state term: mamba-ssm's backward ignores that gradient by design
                    grads = torch.autograd.grad((out * out.detach().cos()).sum(), list(inputs.values()))
                    results.append({"out": out, "last state": last, **{f"grad {k}": g for k, g in zip(inputs, grads)}})
            got, want = results  # compared in here too: a kernel's CUDA error surfaces at the first sync
            failures += [name for name in want if not torch.allclose(got[name].float(), want[name].float(), **_CHECK_TOLERANCE)]
        except Exception as exc:  # noqa: BLE001 - any failure means "do not use it", with the reason
            return f"self-check failed: {_one_line(exc)}"
    return f"self-check mismatch against torch_ref in {', '.join(dict.fromkeys(failures))}" if failures else None


def mamba_ssm_reason(device: torch.device) -> str | None:
    """None when mamba-ssm's scan is usable on ``device`` (imports, self-check passed); else why not."""
    if mamba_ssm_scan_fn() is None:
        return _import("mamba_ssm.ops.selective_scan_interface", "selective_scan_fn")[1]
    return _self_check(_device_key(device))


@functools.lru_cache(maxsize=None)
def triton_reason() -> str | None:
    """None when ``model.ops.triton_scan`` says its kernels can run; else why not."""
    try:
        from model.ops import triton_scan
    except Exception as exc:  # noqa: BLE001 - the module is optional; any failure means "unavailable"
        return f"model.ops.triton_scan not importable: {_one_line(exc)}"
    return triton_scan.triton_available()


def triton_scan_fn() -> Callable:
    """``selective_scan_triton`` (call only after ``triton_reason()`` returned None)."""
    from model.ops.triton_scan import selective_scan_triton

    return selective_scan_triton


def auto_cuda(device: torch.device) -> tuple[str, str]:
    """``scan_backend='auto'`` for CUDA tensors on ``device``: (backend, why), logged once per device and answer."""
    if torch.are_deterministic_algorithms_enabled():
        mamba = "not used in deterministic mode, its backward uses atomic adds"
    else:
        mamba = mamba_ssm_reason(device)
    if mamba is None:
        choice = ("mamba_ssm", "kernels imported, self-check passed")
    else:
        triton = triton_reason()
        choice = ("triton", f"mamba_ssm: {mamba}") if triton is None else ("torch_chunked", f"mamba_ssm: {mamba}; triton: {triton}")
    _log_once("info", f"selective scan on {_device_key(device)}: {choice[0]} ({choice[1]})")
    return choice


def takes(name: str, u: Tensor, A: Tensor) -> bool:
    """Whether kernel backend ``name`` takes these inputs (``auto`` sends the rest to ``torch_chunked``):
    float32/bfloat16/float16 only, and at most ``MAX_D_STATE`` states for mamba-ssm."""
    return u.dtype in KERNEL_DTYPES and (name != "mamba_ssm" or A.shape[-1] <= MAX_D_STATE)


def conv_unusable() -> str | None:
    """Why causal-conv1d's kernel is not used for any input (None: it is, where it takes the input)."""
    if causal_conv1d_fn() is None:
        return f"causal_conv1d: {_import('causal_conv1d', 'causal_conv1d_fn')[1]}"
    if torch.are_deterministic_algorithms_enabled():
        return "deterministic mode: causal-conv1d before 1.6 sums its weight gradient with atomic adds"
    return None


def conv_kernel(x: Tensor, weight: Tensor, bias: Tensor | None, activation: str | None) -> Tensor | None:
    """causal-conv1d's result for ``x`` ``(batch, dim, L)``, ``weight`` ``(dim, width)``; None where the
    caller runs the PyTorch conv instead: not on CUDA, ``conv_unusable``, a width outside 2-4 (no
    kernel exists for it) or a dtype the kernel does not take."""
    if not on_cuda(x.device) or conv_unusable() is not None:
        return None
    if not 2 <= weight.shape[-1] <= 4 or x.dtype not in KERNEL_DTYPES or weight.dtype not in KERNEL_DTYPES:
        return None
    if x.stride(1) == 1 and x.stride(2) > 1 and not _channel_last_ok(x):
        # The channel-last kernel (taken when x.stride(1) == 1, as for a chunk of a transposed
        # projection) needs dim and the batch and time strides divisible by 8; the channel-first one
        # has no such limit, and one contiguous copy of x costs less than the PyTorch conv's padded copy.
        x = x.contiguous()
    return causal_conv1d_fn()(x=x, weight=weight, bias=_to(bias, weight.dtype), activation=activation)


def _channel_last_ok(x: Tensor) -> bool:
    return x.shape[1] % 8 == 0 and x.stride(0) % 8 == 0 and x.stride(2) % 8 == 0


_CACHED = (_import, _log_once, _self_check, triton_reason)


def reset() -> None:
    """Forget imports, self-checks and logged lines (tests that swap the stand-in packages)."""
    for cached in _CACHED:
        cached.cache_clear()


__all__ = [
    "KERNEL_DTYPES", "MAX_D_STATE", "auto_cuda", "causal_conv1d_fn", "conv_kernel", "conv_unusable", "mamba_ssm_reason",
    "mamba_ssm_scan", "mamba_ssm_scan_fn", "on_cuda", "reset", "takes", "triton_reason", "triton_scan_fn",
]
