"""The Triton selective scan against the ``torch_ref`` oracle, on CPU in Triton's interpreter.

Triton fixes interpreting or compiling when it is imported (``TRITON_INTERPRET=1`` must be in the
environment by then, also for its own ``tl.sum``, ``tl.zeros``, ...), and in the full suite another
module may import it first. So a normal run executes the interpreter tests in a child pytest process on
this file, started with the variable set (``test_interpreter_tests_in_a_child_process``; ``-m slow``
runs the slow ones there), and they skip in the parent. ``TRITON_INTERPRET=1 pytest
tests/test_triton_scan.py`` runs them in-process. The interpreter runs every Triton op as a numpy call
(~0.2 ms each), hence the small shapes; the models' shapes are behind ``slow``.

The reference runs in float64 on the same values, and errors are norm-relative:
``||ours - ref|| / ||ref||`` per output and per gradient.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

pytest.importorskip("triton")

from model.ops import triton_scan
from model.ops.selective_scan import selective_scan
from model.ops.triton_scan import selective_scan_triton, triton_available
from util.errors import ConfigError

INTERPRETED = triton_scan._INTERPRETED
# float32 kernels against a float64 reference: observed errors ~1e-7 at the small shapes (dA up to 5e-6).
TOL32 = 1e-3
# 16-bit inputs and outputs: rounding each output and gradient to bfloat16 (8 mantissa bits) alone
# gives norm-relative errors of ~2e-3, to float16 (11 bits) ~3e-4.
TOL16 = {torch.bfloat16: 1e-2, torch.float16: 2e-3}
NAMES = ("u", "delta", "A", "B", "C", "D", "z", "delta_bias")
CHILD_TIMEOUT = {"not slow": 300, "slow": 3600}

in_interpreter = pytest.mark.skipif(
    not INTERPRETED, reason="runs in the TRITON_INTERPRET=1 child process of test_interpreter_tests_in_a_child_process"
)
in_parent = pytest.mark.skipif(INTERPRETED, reason="the parent process runs this file in the interpreter")


def run_in_child(markexpr: str) -> None:
    """pytest on this file with ``-m markexpr`` in a fresh process that imports triton as an interpreter."""
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "TRITON_INTERPRET": "1"}
    command = [sys.executable, "-m", "pytest", "-q", "-m", markexpr, str(Path(__file__).resolve())]
    child = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, timeout=CHILD_TIMEOUT[markexpr])
    print(child.stdout[-3000:])
    assert child.returncode == 0, f"interpreter tests failed:\n{child.stdout[-8000:]}\n{child.stderr[-3000:]}"


@in_parent
def test_interpreter_tests_in_a_child_process():
    run_in_child("not slow")


@pytest.mark.slow
@in_parent
def test_slow_interpreter_tests_in_a_child_process():
    run_in_child("slow")


@in_parent
def test_cpu_tensors_without_the_interpreter_raise_one_clear_error():
    with pytest.raises(ConfigError, match="TRITON_INTERPRET=1"):
        selective_scan_triton(**make_inputs(batch=1, length=4))


def test_triton_available_says_why_not():
    if INTERPRETED:
        assert triton_available() is None
    elif not torch.cuda.is_available():
        assert "CUDA" in triton_available()


def make_inputs(batch=2, d_inner=6, d_state=4, length=17, groups=None, dtype=torch.float32, seed=0, model_like=False):
    """Scan inputs as leaf tensors requiring grad; u, delta, z, B, C in ``dtype``, A, D, delta_bias float32.

    ``model_like``: A and delta as Mamba initialises them (``A = -(1..d_state)``, small delta before
    softplus), the regime of the models' shapes.
    """
    gen = torch.Generator().manual_seed(seed)

    def rand(*shape, scale=1.0, shift=0.0, kind=dtype):
        return (torch.randn(*shape, generator=gen) * scale + shift).to(kind).requires_grad_()

    bc_shape = (batch, d_state, length) if groups is None else (batch, groups, d_state, length)
    if model_like:
        A = -torch.arange(1, d_state + 1, dtype=torch.float32).repeat(d_inner, 1).requires_grad_()
        delta = rand(batch, d_inner, length, scale=0.5, shift=-4.0)
    else:
        A = (-torch.rand(d_inner, d_state, generator=gen) * 4 - 0.1).requires_grad_()
        delta = rand(batch, d_inner, length)
    return dict(
        u=rand(batch, d_inner, length),
        delta=delta,
        A=A,
        B=rand(*bc_shape),
        C=rand(*bc_shape),
        D=rand(d_inner, kind=torch.float32),
        z=rand(batch, d_inner, length),
        delta_bias=rand(d_inner, kind=torch.float32),
    )


def run_scan(scan, inputs, leaves=None, use=("out", "last"), **flags):
    """Output, last state and the gradients w.r.t. ``leaves`` (default: the inputs) of a generic scalar."""
    out, last = scan(**inputs, return_last_state=True, **flags)
    weights = torch.linspace(-1, 1, out.shape[-1], dtype=torch.float64)
    objective = 0.0
    if "out" in use:
        objective = objective + (out.double() * weights).sum()
    if "last" in use:
        objective = objective + last.double().sin().sum()
    leaves = inputs if leaves is None else leaves
    grads = torch.autograd.grad(objective, list(leaves.values()), allow_unused=True)
    grads = [torch.zeros_like(t) if g is None else g for t, g in zip(leaves.values(), grads)]  # unused: zero
    return out.detach(), last.detach(), dict(zip(leaves, grads))


def reference(**kwargs):
    return selective_scan(**kwargs, backend="torch_ref")


def in_float64(inputs):
    return {name: t.detach().double().requires_grad_() for name, t in inputs.items()}


def relative_error(value: torch.Tensor, ref: torch.Tensor) -> float:
    return float((value.double() - ref).norm() / ref.norm().clamp_min(1e-30))


def errors_against_reference(inputs, use=("out", "last"), **flags):
    """Norm-relative errors of out, last state and every gradient, against ``torch_ref`` in float64."""
    out, last, grads = run_scan(selective_scan_triton, inputs, use=use, **flags)
    ref_out, ref_last, ref_grads = run_scan(reference, in_float64(inputs), use=use, **flags)
    assert out.dtype == inputs["u"].dtype and last.dtype == torch.float32
    errors = {"out": relative_error(out, ref_out), "last": relative_error(last, ref_last)}
    for name, grad in grads.items():
        assert grad.dtype == inputs[name].dtype and grad.shape == inputs[name].shape, name
        errors[f"d{name}"] = relative_error(grad, ref_grads[name])
    return errors


def assert_small(errors, tolerance=TOL32):
    bad = {name: err for name, err in errors.items() if not err < tolerance}
    assert not bad, f"relative errors above {tolerance}: {bad}"


def stable(inputs):
    """Without softplus, a positive delta (and bias) keeps the system stable."""
    with torch.no_grad():
        inputs["delta"].abs_()
        if "delta_bias" in inputs:
            inputs["delta_bias"].abs_()
    return inputs


@in_interpreter
@pytest.mark.parametrize("groups, softplus", [(None, True), (None, False), (2, True)])
def test_matches_reference_with_every_input(groups, softplus):
    """L = 17 runs three checkpoint chunks: 8 + 8 + 1 steps."""
    inputs = make_inputs(groups=groups)
    assert_small(errors_against_reference(inputs if softplus else stable(inputs), delta_softplus=softplus))


@in_interpreter
@pytest.mark.parametrize("absent", [("D",), ("z",), ("delta_bias",), ("D", "z", "delta_bias")])
def test_without_optional_inputs(absent):
    inputs = make_inputs()
    for name in absent:
        inputs.pop(name)
    softplus = len(absent) == 1  # all three absent: also without softplus
    assert_small(errors_against_reference(inputs if softplus else stable(inputs), delta_softplus=softplus))


@in_interpreter
def test_several_channel_blocks_per_group(monkeypatch):
    """Blocks of 2 channels: each group of 5 splits into 2 + 2 + 1, so the per-program partial sums of
    the B, C gradients and the masks of a partial block are exercised (a GPU uses 4 or more)."""
    monkeypatch.setattr(triton_scan, "MAX_BLOCK_D_INTERPRETED", 2)
    inputs = make_inputs(batch=1, d_inner=10, length=12, groups=2)
    assert_small(errors_against_reference(inputs, delta_softplus=True))


@in_interpreter
@pytest.mark.parametrize("use", [("out",), ("last",)])
def test_gradient_through_one_output_only(use):
    """Only ``out`` used (no gradient for the last state), or only the last state (its gradient is
    honoured: upstream mamba-ssm ignores it)."""
    assert_small(errors_against_reference(make_inputs(batch=1), use=use, delta_softplus=True))


@in_interpreter
def test_inference_keeps_no_checkpoints():
    """Under no_grad (scoring) the forward stores no chunk-boundary states, and gives the same output."""
    inputs = make_inputs(batch=1)
    args = [inputs[k] for k in NAMES]
    with torch.no_grad():
        out, last, checkpoints = torch.ops.ssmad.selective_scan_triton(*args, True, False)
        kept = torch.ops.ssmad.selective_scan_triton(*args, True, True)
        assert checkpoints.numel() == 0 and kept[2].shape == (1, 2, 6, 4)  # L = 17: chunks of 8 + 8 + 1, two boundaries
        assert torch.equal(out, kept[0]) and torch.equal(last, kept[1])
        assert torch.equal(selective_scan_triton(**inputs, delta_softplus=True), out)


@in_interpreter
def test_channel_minor_views_as_the_mamba_block_passes_them():
    """u and z as halves of a transposed (batch, L, 2 * d_inner) projection (strides (L*2d, 1, 2d)),
    delta, B and C transposed from (batch, L, .): read in place, gradients reach the projection."""
    batch, d_inner, d_state, length = 2, 6, 4, 17
    gen = torch.Generator().manual_seed(1)
    leaves = dict(
        projection=torch.randn(batch, length, 2 * d_inner, generator=gen).requires_grad_(),
        delta_t=torch.randn(batch, length, d_inner, generator=gen).requires_grad_(),
        B_t=torch.randn(batch, length, d_state, generator=gen).requires_grad_(),
        C_t=torch.randn(batch, length, d_state, generator=gen).requires_grad_(),
    )
    params = make_inputs(batch, d_inner, d_state, length)

    def views(leaves, params):
        u, z = leaves["projection"].transpose(1, 2).chunk(2, dim=1)
        delta, B, C = (leaves[k].transpose(1, 2) for k in ("delta_t", "B_t", "C_t"))
        return dict(u=u, delta=delta, z=z, B=B, C=C, **{k: params[k] for k in ("A", "D", "delta_bias")})

    inputs = views(leaves, params)
    assert inputs["u"].stride() == (length * 2 * d_inner, 1, 2 * d_inner) and not inputs["B"].is_contiguous()
    out, last, grads = run_scan(selective_scan_triton, inputs, leaves, delta_softplus=True)
    assert out.stride(1) == 1  # written channel-minor
    ref_leaves = in_float64(leaves)
    ref_out, ref_last, ref_grads = run_scan(reference, views(ref_leaves, in_float64(params)), ref_leaves, delta_softplus=True)
    errors = {"out": relative_error(out, ref_out), "last": relative_error(last, ref_last)}
    errors.update({f"d{name}": relative_error(grads[name], ref_grads[name]) for name in leaves})
    assert_small(errors)


@in_interpreter
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_inputs(dtype):
    """u, delta, z, B, C in 16 bits; states in float32; out and gradients in the inputs' dtypes."""
    inputs = make_inputs(batch=1, dtype=dtype, groups=2)
    assert_small(errors_against_reference(inputs, delta_softplus=True), TOL16[dtype])


@in_interpreter
def test_two_backward_runs_are_bit_identical(monkeypatch):
    monkeypatch.setattr(triton_scan, "MAX_BLOCK_D_INTERPRETED", 2)
    inputs = make_inputs(batch=1, d_inner=4, length=10)
    first, second = (run_scan(selective_scan_triton, inputs, delta_softplus=True) for _ in range(2))
    assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])
    for name in NAMES:
        assert torch.equal(first[2][name], second[2][name]), name


def test_bad_inputs_are_named():
    inputs = make_inputs(batch=1, length=4)
    with pytest.raises(ValueError, match="A must be"):
        selective_scan_triton(**{**inputs, "A": inputs["A"][:, :3].T})
    with pytest.raises(ValueError, match="not divisible"):
        selective_scan_triton(**make_inputs(batch=1, length=4, groups=4))
    with pytest.raises(TypeError, match="float64"):
        selective_scan_triton(**{**inputs, "u": inputs["u"].double()})


@in_interpreter
def test_custom_ops_pass_opcheck():
    """Schema, fake (meta) implementations, autograd registration and AOT dispatch, static and dynamic."""
    inputs = {k: v.detach() for k, v in make_inputs(batch=1, d_inner=4, d_state=2, length=9).items()}
    args = tuple(inputs[k] for k in NAMES)
    torch.library.opcheck(torch.ops.ssmad.selective_scan_triton.default, (*args, True, True))
    _, _, checkpoints = torch.ops.ssmad.selective_scan_triton(*args, True, True)
    grad_out, grad_last = torch.randn(1, 4, 9), torch.randn(1, 4, 2)
    torch.library.opcheck(
        torch.ops.ssmad.selective_scan_triton_backward.default, (*args, True, checkpoints, grad_out, grad_last)
    )


def compile_and_compare(backend: str) -> None:
    """A small loss around the scan compiled with fullgraph=True (no graph break), matching eager."""
    inputs = make_inputs(batch=1, d_inner=4, d_state=2, length=9)

    def loss(u, delta, A, B, C, D, z, delta_bias):
        out, last = selective_scan_triton(u, delta, A, B, C, D, z, delta_bias, delta_softplus=True, return_last_state=True)
        return (out * out.sigmoid()).sum() + last.square().sum()

    torch._dynamo.reset()
    compiled = torch.compile(loss, fullgraph=True, backend=backend)
    args = [inputs[k] for k in NAMES]
    value, eager_value = compiled(*args), loss(*args)
    grads, eager_grads = torch.autograd.grad(value, args), torch.autograd.grad(eager_value, args)
    torch.testing.assert_close(value, eager_value)
    for name, grad, eager_grad in zip(NAMES, grads, eager_grads):
        torch.testing.assert_close(grad, eager_grad, msg=f"gradient of {name}")


@in_interpreter
def test_torch_compile_fullgraph_traces_the_op_and_its_backward():
    """AOT autograd traces forward and backward through the fake implementations."""
    compile_and_compare("aot_eager")


@in_interpreter
@pytest.mark.slow
def test_torch_compile_fullgraph_with_inductor():
    """The default backend also generates code for the ops around the scan (a C++ build here: ~10 s)."""
    compile_and_compare("inductor")


@in_interpreter
@pytest.mark.slow
@pytest.mark.parametrize(
    "case",
    [
        # KambaAD at paper size is batch 8; batch 2 keeps the interpreter's run near a minute.
        dict(batch=2, d_inner=1024, d_state=64, length=100, model_like=True),
        dict(batch=2, d_inner=1024, d_state=8, length=100, model_like=True),  # MAAT
        dict(batch=2, d_inner=8 * 64, d_state=16, length=256, groups=8, model_like=True),  # SS2D, eight directions
        dict(batch=1, d_inner=4, d_state=4, length=4096),  # long sequences, 64 checkpoint chunks
    ],
    ids=["kambaad", "maat", "ss2d-8-directions", "L4096"],
)
def test_models_shapes(case):
    errors = errors_against_reference(make_inputs(**case), delta_softplus=True)
    print(case, {name: f"{err:.1e}" for name, err in errors.items()})  # shown with -s
    assert_small(errors)
