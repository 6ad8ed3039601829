"""torch.compile and the selective scan: the cpp backend is a pair of custom ops that pass
``torch.library.opcheck`` and that Dynamo keeps in its graph, so a Mamba detector's training step
compiles without a graph break at the scan (Inductor's speed: benchmarks/compile_step.py)."""
from __future__ import annotations

import pytest
import torch

from model.ops.compiled import scan_kernels
from model.ops.cpp_scan import cpp_selective_scan
from util.registry import DETECTORS

needs_cpp = pytest.mark.skipif(scan_kernels() is None, reason="the C++ scan kernel could not be built here")


def kernel_inputs(batch=2, d_inner=20, d_state=8, length=40, groups=1):
    """Inputs in the kernel's layout: series ``(batch, L, d_inner)``, B/C ``(batch, groups, L, d_state)``."""
    torch.manual_seed(0)
    series = [torch.randn(batch, length, d_inner) for _ in range(3)]
    A = -torch.rand(d_inner, d_state) - 0.5
    B, C = (torch.randn(batch, groups, length, d_state) for _ in range(2))
    D, bias = torch.randn(d_inner), torch.randn(d_inner)
    return series[0], series[1], A, B, C, D, series[2], bias


@needs_cpp
@pytest.mark.parametrize("optional", [True, False])
def test_cpp_forward_op_passes_opcheck(optional):
    u, delta, A, B, C, D, z, bias = kernel_inputs(groups=2)
    if not optional:
        D = z = bias = None
    tensors = [t if t is None else t.requires_grad_() for t in (u, delta, A, B, C, D, z, bias)]
    result = torch.library.opcheck(torch.ops.ssmad.cpp_scan_forward.default, (*tensors, True, 16, True))
    assert set(result.values()) == {"SUCCESS"}, result


@needs_cpp
def test_cpp_backward_op_passes_opcheck():
    inputs = kernel_inputs()
    _, y, last, checkpoints = torch.ops.ssmad.cpp_scan_forward(*inputs, True, 16, True)
    grads = (torch.randn_like(inputs[0]), torch.randn_like(last))
    result = torch.library.opcheck(torch.ops.ssmad.cpp_scan_backward.default, (*inputs, True, 16, checkpoints, y, *grads))
    assert set(result.values()) == {"SUCCESS"}, result


@needs_cpp
def test_compiled_cpp_scan_matches_eager_forward_and_backward():
    torch.manual_seed(0)
    u, delta, z = (torch.randn(2, 20, 30, requires_grad=True) for _ in range(3))
    A = (-torch.rand(20, 8) - 0.5).requires_grad_()
    B, C = (torch.randn(2, 8, 30, requires_grad=True) for _ in range(2))
    D, bias = (torch.randn(20, requires_grad=True) for _ in range(2))
    leaves = (u, delta, A, B, C, D, z, bias)

    def objective(*tensors):
        out, last = cpp_selective_scan(*tensors, True)
        return (out * out).sum() + last.sum()

    expected = torch.autograd.grad(objective(*leaves), leaves)
    compiled = torch.compile(objective, backend="aot_eager", fullgraph=True)
    got = torch.autograd.grad(compiled(*leaves), leaves)
    for g, e in zip(got, expected):
        torch.testing.assert_close(g, e, rtol=1e-5, atol=1e-6)


@needs_cpp
def test_kambaad_training_step_has_no_graph_break():
    """The whole loss (KAN, attention, Mamba with the cpp scan, reconstructor) is one graph."""
    torch.manual_seed(0)
    detector = DETECTORS.build(
        dict(type="kambaad", d_model=16, e_layers=1, reconstructor=dict(type="patch_ci", patch_len=4, stride=2)),
        n_features=3, window=20,
    )
    explanation = torch._dynamo.explain(lambda x: detector.loss({"x": x})["loss"])(torch.randn(4, 20, 3))
    reasons = [b.reason.splitlines()[0] for b in explanation.break_reasons]
    assert explanation.graph_break_count == 0, reasons
