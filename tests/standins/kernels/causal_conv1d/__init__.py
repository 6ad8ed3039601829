"""Stand-in for causal-conv1d (Dao-AILab, 1.4.0 to 1.7.0) that runs on CPU, for contract tests.

``causal_conv1d_fn`` has the upstream signature and does what upstream does before its kernel: the
Python interface's normalisations (``causal_conv1d_interface.py``; ``seq_idx.contiguous()`` included,
so a string there fails as it does upstream), then the checks of the C++ entry points
(``csrc/causal_conv1d.cpp``: dtypes, shapes, layouts, channel-last ``dim % 8`` and strides, width
2..4, bias and seq_idx). It then computes with the PyTorch conv in float32 (as the kernel
accumulates) and returns ``x``'s dtype; the weight and bias gradients come back float32, as upstream.
Not modelled: initial/final states (ssmad does not use them); "is_cuda" becomes "on x's device".
``CALLS`` counts the forward and backward calls.
"""
import torch
import torch.nn.functional as F

CALLS = {"forward": 0, "backward": 0}
_TYPES = (torch.float32, torch.float16, torch.bfloat16)


def _check(condition: bool, message: str) -> None:
    if not condition:  # TORCH_CHECK raises RuntimeError (c10::Error)
        raise RuntimeError(f"causal_conv1d stand-in: {message}")


def _check_common(x, weight, bias, seq_idx, dout=None):
    """The checks both C++ entry points make; returns whether the channel-last kernel runs."""
    _check(x.dtype in _TYPES and weight.dtype in _TYPES, f"x {x.dtype} / weight {weight.dtype}: float32, float16 or bfloat16 only")
    tensors = [t for t in (weight, bias, seq_idx, dout) if t is not None]
    _check(all(t.device == x.device for t in tensors), "every tensor must be on x's device")
    _check(x.dim() == 3, f"x must be (batch, dim, seqlen), got {tuple(x.shape)}")
    batch, dim, seqlen = x.shape
    width = weight.shape[-1]
    _check(weight.dim() == 2 and weight.shape[0] == dim, f"weight must have shape (dim, width) = ({dim}, {width}), got {tuple(weight.shape)}")
    _check(width >= 2 and width <= 4, "causal_conv1d only supports width between 2 and 4")
    _check(x.stride(2) == 1 or x.stride(1) == 1, f"x strides {x.stride()}: stride(2) or stride(1) must be 1")
    channel_last = x.stride(1) == 1 and x.stride(2) > 1
    if channel_last:
        _check(dim % 8 == 0, "causal_conv1d only supports channel dimension divisible by 8 for now")
        _check(x.stride(2) % 8 == 0 and x.stride(0) % 8 == 0, "channel last layout requires x.stride(0) and x.stride(2) to be multiples of 8")
    if dout is not None:
        _check(dout.shape == x.shape, f"dout must have shape {tuple(x.shape)}")
        if channel_last:
            _check(dout.stride(2) % 8 == 0 and dout.stride(0) % 8 == 0, "channel last layout requires dout strides multiples of 8")
    if bias is not None:
        _check(bias.dtype == weight.dtype, f"bias dtype {bias.dtype} must equal the weight's {weight.dtype}")
        _check(bias.stride(-1) == 1 and bias.shape == (dim,), f"bias must be a contiguous ({dim},) tensor")
    if seq_idx is not None:
        _check(channel_last, "seq_idx is only supported for channel last layout")
        _check(seq_idx.dtype == torch.int32 and seq_idx.is_contiguous(), "seq_idx must be contiguous int32")
        _check(seq_idx.shape == (batch, seqlen), f"seq_idx must have shape ({batch}, {seqlen})")
    return channel_last


def _reference(x, weight, bias, silu):
    """The causal depthwise conv in float32, autocast off (a kernel does not autocast)."""
    with torch.autocast(x.device.type, enabled=False):
        out = F.conv1d(F.pad(x.float(), (weight.shape[-1] - 1, 0)), weight.float().unsqueeze(1),
                       None if bias is None else bias.float(), groups=x.shape[1])
        return F.silu(out) if silu else out


class CausalConv1dFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias=None, seq_idx=None, initial_states=None, return_final_states=False,
                final_states_out=None, activation=None):
        if activation not in [None, "silu", "swish"]:
            raise NotImplementedError("activation must be None, silu, or swish")
        if x.stride(2) != 1 and x.stride(1) != 1:
            x = x.contiguous()
        bias = bias.contiguous() if bias is not None else None
        seq_idx = seq_idx.contiguous() if seq_idx is not None else None
        if initial_states is not None or return_final_states or final_states_out is not None:
            raise NotImplementedError("causal_conv1d stand-in: initial and final states are not modelled")
        _check_common(x, weight, bias, seq_idx)
        CALLS["forward"] += 1
        ctx.save_for_backward(x, weight, bias)
        ctx.silu = activation in ["silu", "swish"]
        return _reference(x, weight, bias, ctx.silu).to(x.dtype)

    @staticmethod
    def backward(ctx, dout, *args):
        x, weight, bias = ctx.saved_tensors
        if dout.stride(2) != 1 and dout.stride(1) != 1:
            dout = dout.contiguous()
        channel_last = x.stride(1) == 1 and x.stride(2) > 1
        if not channel_last and dout.stride(2) != 1:
            dout = dout.contiguous()
        if channel_last and dout.stride(1) != 1:
            dout = dout.transpose(-1, -2).contiguous().transpose(-1, -2)
        _check(dout.dtype == x.dtype, f"dout dtype {dout.dtype} must equal x's {x.dtype}")
        _check_common(x, weight, bias, None, dout)
        CALLS["backward"] += 1
        with torch.enable_grad():
            leaves = [None if t is None else t.detach().float().requires_grad_() for t in (x, weight, bias)]
            out = _reference(*leaves, ctx.silu)
            grads = torch.autograd.grad(out, [t for t in leaves if t is not None], dout.float())
        dx, dweight, *dbias = grads
        return dx.to(x.dtype), dweight, dbias[0] if bias is not None else None, None, None, None, None, None


def causal_conv1d_fn(x, weight, bias=None, seq_idx=None, initial_states=None, return_final_states=False,
                     final_states_out=None, activation=None):
    """x: (batch, dim, seqlen), weight: (dim, width), bias: (dim,); out: (batch, dim, seqlen)."""
    return CausalConv1dFn.apply(x, weight, bias, seq_idx, initial_states, return_final_states, final_states_out, activation)
