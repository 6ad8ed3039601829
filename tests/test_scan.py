"""The selective scan: every backend matches the sequential reference, forwards and backwards.

The ``cpp`` backend (the C++ kernel, built on first use) is tested wherever the set-up command was
followed; with ``SSMAD_NO_CPP=1`` its tests skip (tests/test_scan_build.py covers the fallback). The
CUDA backends run here where a GPU has them; tests/test_cuda_contract.py covers their routing on CPU.
"""
from __future__ import annotations

import os

import pytest
import torch
import torch.nn.functional as F

import model.ops.selective_scan as scan_module
from model.ops import cpp_scan, cuda_kernels
from model.ops.compiled import DISABLE_VARIABLE
from model.ops.selective_scan import (
    FVCORE_HANDLES,
    causal_conv1d,
    flop_counting,
    linear_recurrence,
    mamba_ssm_available,
    selective_scan,
)
from util.errors import ConfigError

# float64 tolerance: the backends are exact up to rounding (observed differences ~1e-14).
ATOL64 = RTOL64 = 1e-10
needs_cpp = pytest.mark.skipif(bool(os.environ.get(DISABLE_VARIABLE)), reason=f"{DISABLE_VARIABLE} is set")
CPU_BACKENDS = [pytest.param("cpp", marks=needs_cpp), "torch_loop", "torch_chunked"]
CUDA = torch.cuda.is_available()
CUDA_BACKENDS = [  # where a GPU is present: the kernels that pass their checks there
    name for name, usable in (("mamba_ssm", lambda: cuda_kernels.mamba_ssm_reason(torch.device("cuda")) is None),
                              ("triton", lambda: cuda_kernels.triton_reason() is None))
    if CUDA and usable()
]
BACKENDS_UNDER_TEST = CPU_BACKENDS + CUDA_BACKENDS


def make_inputs(batch=2, d_inner=6, d_state=4, length=37, groups=None, dtype=torch.float64, delta_scale=1.0, device="cpu", seed=0):
    """Random scan inputs (all requiring grad): u, delta, A, B, C, D, z, delta_bias."""
    gen = torch.Generator().manual_seed(seed)

    def rand(*shape, scale=1.0):
        return (torch.randn(*shape, generator=gen, dtype=dtype) * scale).to(device).requires_grad_()

    bc_shape = (batch, d_state, length) if groups is None else (batch, groups, d_state, length)
    A = (-torch.rand(d_inner, d_state, generator=gen, dtype=dtype) * 4 - 0.1).to(device).requires_grad_()
    return dict(
        u=rand(batch, d_inner, length),
        delta=rand(batch, d_inner, length, scale=delta_scale),
        A=A,
        B=rand(*bc_shape),
        C=rand(*bc_shape),
        D=rand(d_inner),
        z=rand(batch, d_inner, length),
        delta_bias=rand(d_inner),
    )


def run_scan(inputs, backend, last_state_gradient=True, **flags):
    """Output, last state and the gradients of a generic scalar of both (of ``out`` only without
    ``last_state_gradient``) w.r.t. every input."""
    out, last = selective_scan(**inputs, return_last_state=True, backend=backend, **flags)
    weights = torch.linspace(-1, 1, out.shape[-1], dtype=out.dtype, device=out.device)
    objective = (out * weights).sum() + (last.sin().sum() if last_state_gradient else 0)
    grads = torch.autograd.grad(objective, list(inputs.values()), allow_unused=True)
    return out, last, dict(zip(inputs, grads))


def assert_matches_reference(inputs, backend, atol=ATOL64, rtol=RTOL64, **flags):
    # mamba_ssm's backward ignores the last state's gradient (its docstring says so): compare without it
    last_state_gradient = backend != "mamba_ssm"
    ref_out, ref_last, ref_grads = run_scan(inputs, "torch_ref", last_state_gradient, **flags)
    out, last, grads = run_scan(inputs, backend, last_state_gradient, **flags)
    torch.testing.assert_close(out, ref_out, atol=atol, rtol=rtol)
    torch.testing.assert_close(last, ref_last, atol=atol, rtol=rtol)
    for name, grad in ref_grads.items():
        torch.testing.assert_close(grads[name], grad, atol=atol, rtol=rtol, msg=f"gradient of {name}")


@pytest.mark.parametrize("backend", BACKENDS_UNDER_TEST)
@pytest.mark.parametrize("groups", [None, 1, 3])
@pytest.mark.parametrize("softplus", [False, True])
def test_backend_matches_reference_with_every_option(backend, groups, softplus):
    cuda_kernel = backend in CUDA_BACKENDS  # float32 CUDA kernels: compare at float32 precision
    dtype, device = (torch.float32, "cuda") if cuda_kernel else (torch.float64, "cpu")
    inputs = make_inputs(groups=groups, dtype=dtype, device=device)
    if not softplus:  # keep delta positive so the system is stable without softplus
        with torch.no_grad():
            inputs["delta"].abs_()
            inputs["delta_bias"].abs_()
    tolerance = dict(atol=1e-3, rtol=1e-3) if cuda_kernel else {}
    assert_matches_reference(inputs, backend, delta_softplus=softplus, **tolerance)


@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("optional", ["D", "z", "delta_bias"])
def test_cpu_backends_without_optional_inputs(backend, optional):
    inputs = make_inputs()
    inputs.pop(optional)
    assert_matches_reference(inputs, backend, delta_softplus=True)


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_cpu_backends_without_any_optional_input(backend):
    inputs = make_inputs()
    for name in ("D", "z", "delta_bias"):
        inputs.pop(name)
    with torch.no_grad():  # without softplus, a positive delta keeps the system stable
        inputs["delta"].abs_()
    assert_matches_reference(inputs, backend)


@needs_cpp
@pytest.mark.parametrize("d_inner, groups", [(40, None), (40, 2), (96, 3), (1, None)])
def test_cpp_with_partial_channel_blocks(d_inner, groups):
    """The kernel works on blocks of 16 (float32) or 8 (float64) channels of one group: 40 channels
    leave a partial block, 2 groups of 20 split each group into 8 + 8 + 4, 3 groups of 32 fill them."""
    assert_matches_reference(make_inputs(d_inner=d_inner, groups=groups, length=23), "cpp", delta_softplus=True)


@needs_cpp
@pytest.mark.parametrize("length", [1, 7, 45])
def test_cpp_across_many_checkpoints(monkeypatch, length):
    """Checkpoints every 2 steps (the last chunk partial) force the recompute and the adjoint carry."""
    monkeypatch.setattr(cpp_scan, "CHECKPOINT_ELEMENTS", 2 * 4)
    assert_matches_reference(make_inputs(length=length, groups=3), "cpp", delta_softplus=True)


@needs_cpp
def test_cpp_with_channel_minor_and_strided_inputs():
    """u, delta and z as the Mamba block hands them over: delta channel-minor, z a slice of a wider
    (batch, L, 2 * d_inner) projection. The kernel reads them in place."""
    inputs = make_inputs(d_inner=8, length=30)
    projection = torch.randn(2, 30, 16, dtype=torch.float64)
    inputs["z"] = projection[..., 8:].transpose(1, 2).requires_grad_()
    inputs["delta"] = torch.randn(2, 30, 8, dtype=torch.float64).transpose(1, 2).requires_grad_()
    assert_matches_reference(inputs, "cpp", delta_softplus=True)


@needs_cpp
def test_cpp_gives_the_same_result_on_any_thread_count():
    """Threads split the channel blocks (a group's blocks across two threads here) and sum the B, C
    and A gradients of their slices: the result does not depend on how many there are."""
    inputs = make_inputs(batch=1, d_inner=64, d_state=4, length=20, dtype=torch.float32)
    threads = torch.get_num_threads()
    try:
        results = []
        for count in (1, 2, 3):
            torch.set_num_threads(count)
            results.append(run_scan(inputs, "cpp", delta_softplus=True))
    finally:
        torch.set_num_threads(threads)
    for out, last, grads in results[1:]:
        torch.testing.assert_close(out, results[0][0])
        torch.testing.assert_close(last, results[0][1])
        for name, grad in grads.items():
            torch.testing.assert_close(grad, results[0][2][name], atol=1e-5, rtol=1e-5, msg=f"gradient of {name}")


@pytest.mark.parametrize("groups", [None, 3])
def test_loop_across_many_blocks(monkeypatch, groups):
    """Blocks of 8 steps (the last one partial) force the block-start states and the adjoint carry."""
    monkeypatch.setattr(scan_module, "BLOCK_ELEMENTS", 2 * 6 * 4 * 8)
    assert_matches_reference(make_inputs(length=45, groups=groups), "torch_loop", delta_softplus=True)


def test_loop_of_one_step_and_one_step_per_block(monkeypatch):
    assert_matches_reference(make_inputs(length=1), "torch_loop", delta_softplus=True)
    monkeypatch.setattr(scan_module, "BLOCK_ELEMENTS", 1)
    assert_matches_reference(make_inputs(length=5), "torch_loop", delta_softplus=True)


def test_chunked_across_many_chunks_and_blocks(monkeypatch):
    """Small chunks and blocks force the cross-chunk carry and the block-by-block backward."""
    monkeypatch.setattr(scan_module, "MAX_CHUNK", 4)
    monkeypatch.setattr(scan_module, "BLOCK_ELEMENTS", 2 * 6 * 4 * 8)  # blocks of 8 steps
    assert_matches_reference(make_inputs(length=45), "torch_chunked", delta_softplus=True)


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_cpu_backends_are_stable_for_fast_decays(backend):
    """delta * A down to about -500 per step: nothing overflows (the chunked scan shrinks its chunks)."""
    inputs = make_inputs(length=50, delta_scale=30.0, dtype=torch.float32)
    ref_out, ref_last, _ = run_scan(inputs, "torch_ref", delta_softplus=True)
    out, last, grads = run_scan(inputs, backend, delta_softplus=True)
    assert all(torch.isfinite(g).all() for g in grads.values())
    torch.testing.assert_close(out, ref_out, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(last, ref_last, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_float32_close_to_float64_reference(backend):
    inputs64 = make_inputs(d_inner=16, d_state=16, length=300, delta_scale=0.5)
    inputs32 = {k: v.detach().float().requires_grad_() for k, v in inputs64.items()}
    ref_out, _, ref_grads = run_scan(inputs64, "torch_ref", delta_softplus=True)
    out, _, grads = run_scan(inputs32, backend, delta_softplus=True)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out.double(), ref_out, atol=1e-4, rtol=1e-4)
    for name, grad in ref_grads.items():
        torch.testing.assert_close(grads[name].double(), grad, atol=2e-3, rtol=1e-3, msg=f"gradient of {name}")


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_cpu_backends_pass_gradcheck(backend):
    inputs = make_inputs(batch=1, d_inner=2, d_state=3, length=9, groups=1)
    names = list(inputs)

    def fn(*tensors):
        return selective_scan(**dict(zip(names, tensors)), delta_softplus=True, backend=backend)

    assert torch.autograd.gradcheck(fn, tuple(inputs.values()))


def test_reference_matches_explicit_recurrence():
    """The oracle itself, against the formula written out by hand for one channel and state."""
    inputs = make_inputs(batch=1, d_inner=1, d_state=1, length=5)
    u, delta, A, B, C = (inputs[k].detach()[..., :] for k in ("u", "delta", "A", "B", "C"))
    dt = delta[0, 0]
    h, expected = 0.0, []
    for t in range(5):
        h = torch.exp(dt[t] * A[0, 0]) * h + dt[t] * B[0, 0, t] * u[0, 0, t]
        expected.append(C[0, 0, t] * h)
    out = selective_scan(u, delta, A, B, C, backend="torch_ref")
    torch.testing.assert_close(out[0, 0], torch.stack(expected))


def test_linear_recurrence_with_initial_state():
    gen = torch.Generator().manual_seed(1)
    rate = torch.rand(3, 4, 20, generator=gen, dtype=torch.float64)
    A = -torch.rand(4, 2, generator=gen, dtype=torch.float64)
    drive = torch.randn(3, 4, 20, 2, generator=gen, dtype=torch.float64)
    h0 = torch.randn(3, 4, 2, generator=gen, dtype=torch.float64)
    states = linear_recurrence(rate, A, drive, chunk=8, h0=h0)
    h = h0
    for t in range(20):
        h = torch.exp(rate[..., t, None] * A) * h + drive[..., t, :]
        torch.testing.assert_close(states[..., t, :], h)


def test_unknown_backend_is_a_config_error():
    with pytest.raises(ConfigError, match="torch_chunked"):
        selective_scan(**make_inputs(), backend="cuda_fast")


def test_mamba_ssm_backend_needs_package_and_cuda():
    with pytest.raises(ConfigError, match="mamba-ssm"):
        selective_scan(**make_inputs(), backend="mamba_ssm")


def test_causal_conv1d_is_causal_and_matches_conv1d():
    x = torch.randn(2, 3, 10, dtype=torch.float64)
    weight, bias = torch.randn(3, 4, dtype=torch.float64), torch.randn(3, dtype=torch.float64)
    out = causal_conv1d(x, weight, bias, activation="silu")
    conv = torch.nn.Conv1d(3, 3, 4, groups=3, padding=3).double()
    conv.weight.data.copy_(weight.unsqueeze(1))
    conv.bias.data.copy_(bias)
    torch.testing.assert_close(out, F.silu(conv(x)[..., :10]))
    changed = x.clone()
    changed[..., 6:] += 1.0  # the future must not change earlier outputs
    torch.testing.assert_close(causal_conv1d(changed, weight, bias)[..., :6], causal_conv1d(x, weight, bias)[..., :6])


@pytest.mark.filterwarnings("ignore::FutureWarning")  # fvcore relies on torch.jit.trace
def test_flop_counting_names_the_op_for_fvcore():
    inputs = {k: v.detach().float() for k, v in make_inputs(batch=2, d_inner=8, d_state=4, length=16).items()}

    class Wrapper(torch.nn.Module):
        def forward(self, u, delta, B, C):
            return selective_scan(u, delta, inputs["A"], B, C, inputs["D"], delta_softplus=True)

    args = (inputs["u"], inputs["delta"], inputs["B"], inputs["C"])
    with flop_counting():
        graph = torch.jit.trace(Wrapper(), args, check_trace=False).graph
        plain = Wrapper()(*args)
    nodes = [n for n in graph.nodes() if n.kind() == "prim::PythonOp" and n.pyname() == "SelectiveScanForFlops"]
    assert len(nodes) == 1
    torch.testing.assert_close(plain, selective_scan(*args[:2], inputs["A"], *args[2:], inputs["D"], delta_softplus=True))
    handle = FVCORE_HANDLES["prim::PythonOp.SelectiveScanForFlops"]
    assert handle(list(nodes[0].inputs()), list(nodes[0].outputs())) == 9 * 2 * 16 * 8 * 4


@pytest.mark.filterwarnings("ignore::FutureWarning")  # fvcore relies on torch.jit.trace
def test_fvcore_counts_the_scan():
    fvcore = pytest.importorskip("fvcore.nn")
    inputs = {k: v.detach().float() for k, v in make_inputs(batch=1, d_inner=8, d_state=4, length=16).items()}

    class Wrapper(torch.nn.Module):
        def forward(self, u, delta, B, C):
            return selective_scan(u, delta, inputs["A"], B, C)

    with flop_counting():
        counter = fvcore.FlopCountAnalysis(Wrapper(), (inputs["u"], inputs["delta"], inputs["B"], inputs["C"]))
        counter.set_op_handle(**FVCORE_HANDLES).unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        assert counter.total() == 9 * 1 * 16 * 8 * 4


@needs_cpp
def test_auto_runs_the_cpp_kernel_on_cpu_and_explicit_choices_stand():
    from model.ops.selective_scan import resolve_backend

    cpu = torch.device("cpu")
    assert resolve_backend("auto", cpu) == "cpp"
    assert resolve_backend("torch_loop", cpu) == "torch_loop"
    assert resolve_backend("torch_chunked", cpu) == "torch_chunked"
    if not mamba_ssm_available():
        assert resolve_backend("auto", torch.device("cuda")) in ("triton", "torch_chunked")
