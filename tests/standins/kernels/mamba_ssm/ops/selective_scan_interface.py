"""Stand-in for ``mamba_ssm.ops.selective_scan_interface`` (mamba-ssm 2.3.2.post1) that runs on CPU.

``selective_scan_fn`` has the upstream signature and does what upstream does around its kernel: the
Python interface's normalisations (contiguous last dims, 3-D B/C as one group), the checks of
``selective_scan_fwd`` / ``selective_scan_bwd`` in ``csrc/selective_scan/selective_scan.cpp`` (input
dtypes equal to u's, float32 A, D and delta_bias, shapes, strides, d_state <= 256), and a backward
that ignores the last state's gradient, as upstream documents. It computes with ssmad's ``torch_ref``.
Also checked: d_inner divisible by the groups (upstream's kernel silently mis-indexes otherwise).
Not modelled: complex A and constant (2-D) B/C; "is_cuda" becomes "on u's device".
Like upstream, the module imports causal-conv1d guarded against ImportError only.
``CALLS`` counts the forward and backward calls.
"""
import torch

from model.ops.selective_scan import selective_scan

try:
    from causal_conv1d import causal_conv1d_fn
except ImportError:
    causal_conv1d_fn = None

CALLS = {"forward": 0, "backward": 0}
_INPUT_TYPES = (torch.float32, torch.float16, torch.bfloat16)


def _check(condition: bool, message: str) -> None:
    if not condition:  # TORCH_CHECK raises RuntimeError (c10::Error)
        raise RuntimeError(f"selective_scan stand-in: {message}")


def _last_dim_ok(t):
    return t.stride(-1) == 1 or t.shape[-1] == 1


def _check_inputs(u, delta, A, B, C, D, z, delta_bias, dout=None):
    """The checks selective_scan_fwd (and, with ``dout``, selective_scan_bwd) make."""
    input_type = u.dtype
    _check(input_type in _INPUT_TYPES, f"u is {input_type}: float32, float16 or bfloat16 only")
    _check(A.dtype == torch.float32, f"A is {A.dtype}: float32 only (complex A is not modelled)")
    _check(B.dim() >= 3 and C.dim() >= 3, "constant (2-D) B/C are not modelled")
    for name, t in (("delta", delta), ("B", B), ("C", C), ("z", z), ("dout", dout)):
        if t is not None:
            _check(t.dtype == input_type, f"{name} is {t.dtype}, must be u's dtype {input_type}")
    tensors = [t for t in (delta, A, B, C, D, z, delta_bias, dout) if t is not None]
    _check(all(t.device == u.device for t in tensors), "every tensor must be on u's device")
    _check(u.dim() == 3, f"u must be (batch, dim, seqlen), got {tuple(u.shape)}")
    batch, dim, seqlen = u.shape
    dstate, groups = A.shape[-1], B.shape[1]
    _check(dstate <= 256, "selective_scan only supports state dimension <= 256")
    _check(_last_dim_ok(u) and _last_dim_ok(delta), "u and delta need stride(-1) == 1")
    for name, t, shape in (("delta", delta, (batch, dim, seqlen)), ("A", A, (dim, dstate)),
                           ("B", B, (batch, groups, dstate, seqlen)), ("C", C, (batch, groups, dstate, seqlen)),
                           ("z", z, (batch, dim, seqlen)), ("dout", dout, (batch, dim, seqlen))):
        if t is not None:
            _check(tuple(t.shape) == shape, f"{name} must have shape {shape}, got {tuple(t.shape)}")
            _check(name == "A" or _last_dim_ok(t), f"{name} needs stride(-1) == 1")
    _check(dim % groups == 0, f"dim {dim} is not divisible by the {groups} groups of B/C")
    for name, t in (("D", D), ("delta_bias", delta_bias)):
        if t is not None:
            _check(t.dtype == torch.float32, f"{name} is {t.dtype}: float32 only")
            _check(tuple(t.shape) == (dim,) and _last_dim_ok(t), f"{name} must be a contiguous ({dim},) tensor")


class SelectiveScanFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False, return_last_state=False):
        if u.stride(-1) != 1:
            u = u.contiguous()
        if delta.stride(-1) != 1:
            delta = delta.contiguous()
        if D is not None:
            D = D.contiguous()
        if B.stride(-1) != 1:
            B = B.contiguous()
        if C.stride(-1) != 1:
            C = C.contiguous()
        if z is not None and z.stride(-1) != 1:
            z = z.contiguous()
        ctx.squeeze_B, ctx.squeeze_C = B.dim() == 3, C.dim() == 3
        B = B.unsqueeze(1) if B.dim() == 3 else B
        C = C.unsqueeze(1) if C.dim() == 3 else C
        _check_inputs(u, delta, A, B, C, D, z, delta_bias)
        CALLS["forward"] += 1
        leaves = [None if t is None else t.detach().requires_grad_() for t in (u, delta, A, B, C, D, z, delta_bias)]
        with torch.enable_grad(), torch.autocast(u.device.type, enabled=False):
            out, last = selective_scan(*leaves, delta_softplus=delta_softplus, return_last_state=True, backend="torch_ref")
        ctx.graph, ctx.checked = (out, leaves), (u, delta, A, B, C, D, z, delta_bias)
        out = out.detach()
        return (out, last.detach()) if return_last_state else out

    @staticmethod
    def backward(ctx, dout, *args):  # args: the last state's gradient, ignored (upstream's design)
        if dout.stride(-1) != 1:
            dout = dout.contiguous()
        _check_inputs(*ctx.checked, dout=dout)
        CALLS["backward"] += 1
        out, leaves = ctx.graph
        found = iter(torch.autograd.grad(out, [t for t in leaves if t is not None], dout))
        du, ddelta, dA, dB, dC, dD, dz, ddelta_bias = (None if t is None else next(found) for t in leaves)
        dB = dB.squeeze(1) if ctx.squeeze_B else dB
        dC = dC.squeeze(1) if ctx.squeeze_C else dC
        return du, ddelta, dA, dB, dC, dD, dz, ddelta_bias, None, None


def selective_scan_fn(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False, return_last_state=False):
    """if return_last_state is True, returns (out, last_state); the last state's gradient is not
    considered in the backward pass (as upstream)."""
    return SelectiveScanFn.apply(u, delta, A, B, C, D, z, delta_bias, delta_softplus, return_last_state)
