"""The CUDA branch of the scan and conv, run on CPU through stand-ins of the upstream packages.

``tests/standins`` holds packages with mamba-ssm's and causal-conv1d's signatures and the checks their
C++ entry points make (``kernels``), mamba-ssm's opt-in build whose first scan raises
(``opt_in_build``) and a causal-conv1d whose import raises AttributeError (``old_torch``).
``cuda_branch`` puts them first on ``sys.path`` and patches ``cuda_kernels.on_cuda`` so CPU tensors
take the CUDA branch; every result is compared with the pure-PyTorch path.
"""
from __future__ import annotations

import copy
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from model.blocks.mamba import Mamba
from model.ops import cuda_kernels
from model.ops.selective_scan import backend_report, causal_conv1d, conv_report, resolve_backend, selective_scan
from model.profile import profile_flops
from util.errors import ConfigError
from util.logging import LOGGER_NAME
from util.registry import DETECTORS

REPO = Path(__file__).resolve().parents[1]
STANDINS = Path(__file__).with_name("standins")
PACKAGES = ("mamba_ssm", "causal_conv1d")
CPU = torch.device("cpu")
NO_TRITON = "off in these tests"
ENCODER = dict(type="timm", name="resnet18", pretrained=False, checkpoint=None)
# Small detectors built as their own tests build them: (config, build context, batch).
DETECTORS_WITH_MAMBA = {
    "kambaad": (dict(type="kambaad", d_model=16, e_layers=2, reconstructor=dict(type="patch_ci", patch_len=4, stride=2)),
                dict(n_features=3, window=20), {"x": (2, 20, 3)}),
    "maat": (dict(type="maat", d_model=16, n_heads=2, e_layers=2, d_ff=16), dict(n_features=3, window=20), {"x": (2, 20, 3)}),
    "mtad": (dict(type="mtad", encoder=ENCODER, channels=(32, 24, 16, 8), depths=(1, 1, 1, 1), window=4, heads=4, mlp_ratio=2, d_state=4),
             dict(image_size=64), {"img": (1, 3, 64, 64)}),
    "mambaad": (dict(type="mambaad", encoder=ENCODER, channels=(32, 24, 16, 8), depths=(1, 1, 1, 1), lss_per_level=(1, 1, 1, 1),
                     d_state=4, drop_path=0.0), dict(image_size=64), {"img": (1, 3, 64, 64)}),
}


def _forget_packages() -> None:
    for name in [m for m in sys.modules if m.split(".")[0] in PACKAGES]:
        del sys.modules[name]
    cuda_kernels.reset()


pytestmark = pytest.mark.usefixtures("seeded_one_thread")


@pytest.fixture
def cuda_branch(monkeypatch):
    """``install(*variants)``: those stand-in folders first on sys.path (the first wins), CPU tensors on
    the CUDA branch, Triton reported unavailable (its route is tested with a fake below)."""

    def install(*variants: str) -> None:
        for variant in reversed(variants):
            monkeypatch.syspath_prepend(str(STANDINS / variant))
        _forget_packages()
        monkeypatch.setattr(cuda_kernels, "on_cuda", lambda device: True)
        monkeypatch.setattr(cuda_kernels, "triton_reason", lambda: NO_TRITON)

    yield install
    _forget_packages()


def calls(package: str) -> dict[str, int]:
    """How often the stand-in's kernel ran (forward, backward); zeros when it was never imported."""
    module = sys.modules.get("mamba_ssm.ops.selective_scan_interface" if package == "mamba_ssm" else package)
    return dict(module.CALLS) if module else {"forward": 0, "backward": 0}


def scan_inputs(dtype=torch.float32, groups=None, seed=0):
    gen = torch.Generator().manual_seed(seed)
    bc = (2, 4, 11) if groups is None else (2, groups, 4, 11)
    return dict(
        u=torch.randn(2, 6, 11, generator=gen, dtype=dtype), delta=torch.randn(2, 6, 11, generator=gen, dtype=dtype),
        A=-torch.rand(6, 4, generator=gen) - 0.5, B=torch.randn(*bc, generator=gen, dtype=dtype),
        C=torch.randn(*bc, generator=gen, dtype=dtype), D=torch.randn(6, generator=gen),
        z=torch.randn(2, 6, 11, generator=gen, dtype=dtype), delta_bias=torch.randn(6, generator=gen),
    )


def training_loss(detector, batch):
    return detector.loss(batch)["loss"]


def reconstruction_loss(detector, batch):
    return (detector(batch)["recon"] - batch["x"]).pow(2).mean()


def loss_and_grads(detector, batch, autocast: bool, objective=training_loss):
    """The objective and every parameter gradient, optionally under CPU bf16 autocast; seeded (dropout)."""
    torch.manual_seed(1)
    detector.zero_grad()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        value = objective(detector, batch)
    value.backward()
    return value.detach().float(), {n: p.grad.clone() for n, p in detector.named_parameters() if p.grad is not None}


def assert_close_relative(got: torch.Tensor, want: torch.Tensor, tolerance: float, what: str, scale: float = 0.0) -> None:
    """``|got - want| <= tolerance * max(|want|, scale)`` in the 2-norm (bf16 rounding differs elementwise;
    ``scale`` keeps gradients that are zero up to rounding, like an attention key bias's, out of it)."""
    error = (got.float() - want.float()).norm() / max(want.float().norm().item(), scale, 1e-12)
    assert error <= tolerance, f"{what}: relative error {error:.2e} > {tolerance:.0e}"


def assert_same_gradients(got: dict, want: dict, tolerance: float) -> None:
    assert got.keys() == want.keys()
    scale = 0.01 * max(g.float().norm().item() for g in want.values())
    for key in want:
        assert_close_relative(got[key], want[key], tolerance, f"gradient of {key}", scale)


# The stand-ins themselves: they make the checks that caught the defects.


def test_conv_standin_refuses_what_the_kernel_refuses(cuda_branch):
    cuda_branch("kernels")
    from causal_conv1d import causal_conv1d_fn

    x, weight, bias = torch.randn(2, 16, 9), torch.randn(16, 4), torch.randn(16)
    with pytest.raises(AttributeError, match="contiguous"):  # activation passed into seq_idx's place
        causal_conv1d_fn(x, weight, bias, "silu")
    projection = torch.randn(2, 9, 40)  # channel-last chunk of 20 channels, as the Mamba block's x
    with pytest.raises(RuntimeError, match="divisible by 8"):
        causal_conv1d_fn(projection.transpose(1, 2)[:, :20], torch.randn(20, 4), activation="silu")
    with pytest.raises(RuntimeError, match="width between 2 and 4"):
        causal_conv1d_fn(x, torch.randn(16, 5))
    with pytest.raises(RuntimeError, match="bias dtype"):
        causal_conv1d_fn(x, weight, bias.double())
    torch.testing.assert_close(causal_conv1d_fn(x, weight, bias, activation="silu"), causal_conv1d(x, weight, bias, activation="silu"))


def test_scan_standin_refuses_mixed_dtypes_and_ignores_the_last_state_gradient(cuda_branch):
    cuda_branch("kernels")
    from mamba_ssm.ops.selective_scan_interface import selective_scan_fn

    inputs = scan_inputs(dtype=torch.bfloat16)
    with pytest.raises(RuntimeError, match="delta is torch.float32"):
        selective_scan_fn(**{**inputs, "delta": inputs["delta"].float()})
    with pytest.raises(RuntimeError, match="D is torch.bfloat16"):
        selective_scan_fn(**{**inputs, "D": inputs["D"].bfloat16()})
    u = inputs["u"].float().requires_grad_()
    _, last = selective_scan_fn(**{**scan_inputs(), "u": u}, delta_softplus=True, return_last_state=True)
    (grad,) = torch.autograd.grad(last.sum(), u)
    assert grad.abs().max() == 0


# Routing.


def test_auto_picks_mamba_ssm_after_its_self_check_and_says_so_once(cuda_branch, ssmad_log):
    cuda_branch("kernels")
    ssmad_log.set_level(logging.INFO, logger=LOGGER_NAME)
    with torch.inference_mode():  # as when scoring: the self-check still runs its backward
        assert backend_report(CPU) == "mamba_ssm (kernels imported, self-check passed)"
    assert conv_report(CPU) == "causal_conv1d kernel (PyTorch conv for widths outside 2-4)"
    for _ in range(3):
        assert resolve_backend("auto", CPU) == "mamba_ssm"
    assert calls("mamba_ssm") == {"forward": 2, "backward": 2}  # one self-check: plain and grouped B/C
    lines = {id(r): r.getMessage() for r in ssmad_log.records if "selective scan on" in r.getMessage()}  # by record: caplog may see one twice
    assert list(lines.values()) == ["selective scan on cpu: mamba_ssm (kernels imported, self-check passed)"]


def test_kambaad_reports_the_backend_that_runs_and_why(cuda_branch):
    cfg, context, _ = DETECTORS_WITH_MAMBA["kambaad"]
    detector = DETECTORS.build(cfg, **context)
    assert detector.extra_repr_info()["causal_conv"] == "PyTorch conv"
    cuda_branch("kernels")
    assert detector.extra_repr_info() == {
        "compat": "paper",
        "scan_backend": ["mamba_ssm (kernels imported, self-check passed)"],
        "causal_conv": "causal_conv1d kernel (PyTorch conv for widths outside 2-4)",
    }


@pytest.mark.parametrize("groups", [None, 3])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_mamba_ssm_route_matches_the_reference_by_keyword(cuda_branch, groups, dtype):
    """Forward and every gradient (no last-state term: upstream ignores it) against torch_ref."""
    cuda_branch("kernels")
    results = []
    for backend in ("mamba_ssm", "torch_ref"):
        inputs = {k: v.clone().requires_grad_() for k, v in scan_inputs(dtype, groups).items()}
        inputs["delta"] = inputs["delta"].float().detach().requires_grad_()  # a dtype the kernel refuses
        cast = {} if backend == "mamba_ssm" else {"delta": inputs["delta"].to(dtype)}  # the route casts it
        out, last = selective_scan(**{**inputs, **cast}, delta_softplus=True, return_last_state=True, backend=backend)
        grads = torch.autograd.grad((out.float() * out.detach().float().cos()).sum(), list(inputs.values()))
        results.append((out, last, *grads))
    assert calls("mamba_ssm")["backward"] >= 1
    for got, want in zip(*results):
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


def test_opt_in_build_makes_auto_fall_back_with_the_reason(cuda_branch):
    cuda_branch("opt_in_build", "kernels")
    assert resolve_backend("auto", CPU) == "torch_chunked"
    report = backend_report(CPU)
    assert report.startswith("torch_chunked (mamba_ssm: self-check failed: RuntimeError: selective_scan_cuda is not installed")
    assert report.endswith(f"MAMBA_KEEP_CUDA_BUILD=TRUE pip install mamba-ssm --no-build-isolation; triton: {NO_TRITON})")
    with pytest.raises(ConfigError, match="selective_scan_cuda is not installed.*MAMBA_KEEP_CUDA_BUILD"):
        resolve_backend("mamba_ssm", CPU)
    block = Mamba(16, d_state=4)
    block(torch.randn(2, 7, 16)).sum().backward()
    assert calls("causal_conv1d") == {"forward": 1, "backward": 1}  # the conv kernel is still used


def test_a_self_check_mismatch_means_not_used(cuda_branch, monkeypatch):
    cuda_branch("kernels")
    import mamba_ssm.ops.selective_scan_interface as standin

    right = standin.selective_scan_fn
    monkeypatch.setattr(standin, "selective_scan_fn", lambda *a, **k: (lambda out, last: (out * 1.01, last))(*right(*a, **k)))
    assert backend_report(CPU).startswith("torch_chunked (mamba_ssm: self-check mismatch against torch_ref in out, grad u")


def test_auto_falls_back_to_triton_and_calls_it_by_keyword(cuda_branch, monkeypatch):
    cuda_branch("opt_in_build", "kernels")
    seen = {}

    def fake_triton(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False, return_last_state=False):
        seen.update(D=D, z=z, delta_bias=delta_bias, delta_softplus=delta_softplus)
        return selective_scan(u, delta, A, B, C, D, z, delta_bias, delta_softplus, return_last_state, backend="torch_ref")

    monkeypatch.setattr(cuda_kernels, "triton_reason", lambda: None)
    monkeypatch.setattr(cuda_kernels, "triton_scan_fn", lambda: fake_triton)
    assert backend_report(CPU).startswith("triton (mamba_ssm: self-check failed: RuntimeError")
    inputs = scan_inputs()
    selective_scan(**inputs, delta_softplus=True)
    assert seen["delta_softplus"] is True and seen["z"] is inputs["z"] and seen["delta_bias"] is inputs["delta_bias"]


def test_explicit_backends_that_cannot_run_are_config_errors_naming_the_fix(cuda_branch, monkeypatch):
    cuda_branch("kernels")
    with pytest.raises(ConfigError, match=f"scan_backend='triton' cannot run here: {NO_TRITON}.*scan_backend='auto'"):
        resolve_backend("triton", CPU)
    monkeypatch.setattr(cuda_kernels, "on_cuda", lambda device: False)
    with pytest.raises(ConfigError, match="mamba-ssm package and CUDA tensors"):
        resolve_backend("mamba_ssm", CPU)


def test_float64_inputs_leave_the_kernels_to_torch_chunked(cuda_branch):
    cuda_branch("kernels")
    inputs = scan_inputs(dtype=torch.float64)
    out = selective_scan(**inputs, delta_softplus=True)
    torch.testing.assert_close(out, selective_scan(**inputs, delta_softplus=True, backend="torch_ref"))
    weight = torch.randn(6, 4, dtype=torch.float64)
    causal_conv1d(inputs["u"], weight, activation="silu")
    assert calls("mamba_ssm")["forward"] == 2 and calls("causal_conv1d")["forward"] == 0  # the self-check only


@pytest.mark.parametrize("width", [2, 4, 5, 1])
def test_conv_routes_channel_last_inputs_of_any_dim_and_widths_outside_2_to_4(cuda_branch, monkeypatch, width):
    """A chunk of a transposed projection with 20 channels (d_model 10): the channel-last kernel would
    refuse it, so it goes to the channel-first kernel; widths 1 and 5 have no kernel: PyTorch conv."""
    cuda_branch("kernels")
    projection = torch.randn(2, 9, 40, requires_grad=True)
    x = projection.transpose(1, 2).chunk(2, dim=1)[0]
    weight, bias = torch.randn(20, width, requires_grad=True), torch.randn(20, requires_grad=True)
    results = []
    for forced in (True, False):
        monkeypatch.setattr(cuda_kernels, "on_cuda", lambda device, forced=forced: forced)
        out = causal_conv1d(x, weight, bias, activation="silu")
        results.append((out, *torch.autograd.grad(out.sum(), (projection, weight, bias))))
    for got, want in zip(*results):
        torch.testing.assert_close(got, want)
    assert calls("causal_conv1d")["forward"] == (1 if 2 <= width <= 4 else 0)


# Every Mamba-based detector through the stand-ins.


@pytest.mark.parametrize("autocast", [False, True], ids=["float32", "bf16_autocast"])
@pytest.mark.parametrize("name", sorted(DETECTORS_WITH_MAMBA))
def test_detector_through_the_standins_equals_the_pytorch_path(cuda_branch, name, autocast):
    cfg, context, shapes = DETECTORS_WITH_MAMBA[name]
    detector = DETECTORS.build(cfg, **context).train()
    batch = {key: torch.randn(*shape) for key, shape in shapes.items()}
    # MAAT's association term is NaN under CPU bf16 autocast on the PyTorch path too: compare its reconstruction term
    objective = reconstruction_loss if name == "maat" and autocast else training_loss
    want_loss, want_grads = loss_and_grads(copy.deepcopy(detector), batch, autocast, objective)
    cuda_branch("kernels")
    got_loss, got_grads = loss_and_grads(detector, batch, autocast, objective)
    used = calls("mamba_ssm")
    assert used["forward"] > 2 and used["backward"] > 2  # the model's scans, beyond the self-check's two
    if name != "mambaad":  # MambaAD's SS2D has a 2-D conv, no causal conv
        assert calls("causal_conv1d")["backward"] > 0
    # bf16: the PyTorch conv rounds its weights to bf16, the kernel does not, and bf16 gradients round
    # differently after float32 sums in another order (measured: loss 4e-4, gradients up to 8e-2)
    loss_tolerance, gradient_tolerance = (3e-3, 0.15) if autocast else (1e-5, 1e-4)
    assert_close_relative(got_loss, want_loss, loss_tolerance, "loss")
    assert_same_gradients(got_grads, want_grads, gradient_tolerance)


@pytest.mark.parametrize("d_model, d_conv", [(10, 4), (16, 5)], ids=["d_model_10", "d_conv_5"])
def test_sizes_the_conv_kernel_refuses_still_run(cuda_branch, d_model, d_conv):
    cfg, context, shapes = DETECTORS_WITH_MAMBA["kambaad"]
    blocks = [dict(type="kan_window"), dict(type="attention", n_heads=2), dict(type="mamba", d_conv=d_conv)]
    detector = DETECTORS.build({**cfg, "d_model": d_model, "blocks": blocks}, **context)
    batch = {"x": torch.randn(*shapes["x"])}
    want_loss, want_grads = loss_and_grads(copy.deepcopy(detector), batch, autocast=False)
    cuda_branch("kernels")
    got_loss, got_grads = loss_and_grads(detector, batch, autocast=False)
    assert calls("mamba_ssm")["backward"] > 0
    assert calls("causal_conv1d")["forward"] == (2 if d_conv == 4 else 0)  # two layers; d_conv 5: PyTorch conv
    assert_close_relative(got_loss, want_loss, 1e-4, "loss")
    assert_same_gradients(got_grads, want_grads, 1e-3)


# Import failures, deterministic mode, FLOP counts.


def test_an_import_that_raises_attribute_error_leaves_everything_working(cuda_branch, ssmad_log):
    """causal-conv1d >= 1.5.2 on torch < 2.4: its import (and so mamba-ssm's) raises AttributeError."""
    cuda_branch("old_torch", "kernels")
    report = backend_report(CPU)
    assert report.startswith("torch_chunked (mamba_ssm: import failed: AttributeError: module 'torch.library'")
    assert conv_report(CPU) == "PyTorch conv (causal_conv1d: import failed: AttributeError: module 'torch.library' has no attribute 'custom_op')"
    Mamba(16, d_state=4)(torch.randn(2, 7, 16)).sum().backward()
    warnings = {id(r): r.getMessage() for r in ssmad_log.records if r.levelname == "WARNING"}.values()
    assert len(warnings) == 2 and all("installed but unusable (import failed: AttributeError" in w for w in warnings)


def test_import_of_the_scan_module_survives_broken_packages():
    """In a fresh interpreter with the broken packages first on the path, as a user would have them."""
    path = os.pathsep.join([str(STANDINS / "old_torch"), str(STANDINS / "kernels"), str(REPO)])
    script = (
        "import torch, model.ops.selective_scan as s, model.ops.cuda_kernels as k\n"
        "k.on_cuda = lambda device: True\n"
        "print(s.mamba_ssm_available(), s.conv_report(torch.device('cpu')))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=300,
                            env=dict(os.environ, PYTHONPATH=path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("False PyTorch conv (causal_conv1d: import failed: AttributeError")


@pytest.fixture
def deterministic():
    torch.use_deterministic_algorithms(True)
    yield
    torch.use_deterministic_algorithms(False)


def test_deterministic_mode_avoids_the_atomic_kernels(cuda_branch, deterministic):
    cuda_branch("kernels")
    assert backend_report(CPU) == f"torch_chunked (mamba_ssm: not used in deterministic mode, its backward uses atomic adds; triton: {NO_TRITON})"
    assert conv_report(CPU).startswith("PyTorch conv (deterministic mode")
    Mamba(16, d_state=4)(torch.randn(2, 7, 16)).sum().backward()
    assert calls("mamba_ssm")["forward"] == calls("causal_conv1d")["forward"] == 0
    with pytest.raises(ConfigError, match="not deterministic"):
        resolve_backend("mamba_ssm", CPU)


@pytest.mark.filterwarnings("ignore::FutureWarning")  # fvcore relies on torch.jit.trace
def test_flop_counts_do_not_depend_on_the_branch(cuda_branch):
    pytest.importorskip("fvcore.nn")
    cfg, context, shapes = DETECTORS_WITH_MAMBA["kambaad"]
    detector = DETECTORS.build(cfg, **context)
    batch = {"x": torch.randn(*shapes["x"])}
    plain, _ = profile_flops(detector, batch)
    cuda_branch("kernels")
    forced, _ = profile_flops(detector, batch)
    assert plain is not None and forced == plain
