"""The GPU check: do the CUDA paths the models run agree with the CPU, and how fast are they?
Installs nothing and needs no network; prints one markdown table; exits 1 when a row FAILs.

    python benchmarks/gpu_check.py                  # on a CUDA machine (meant to take under 8 minutes on one GPU)
    python benchmarks/gpu_check.py --checks scan    # some of: env models scan conv resume timing
    python benchmarks/gpu_check.py --cpu-dry-run    # the same flow at toy sizes on CPU tensors

Rows (each catches its own error: a failed row is FAIL with a one-line reason):
  * env: the Triton scan, mamba_ssm and causal_conv1d (imported, not looked up), what scan ``auto`` picks.
  * models: every Mamba detector's paper config (KambaAD SMAP/SMD, MAAT, MTAD, MambaAD) and the peers
    (Anomaly Transformer, DCdetector), batch 2, in eval mode: loss and gradients on CUDA with scan
    ``triton`` (and ``mamba_ssm`` when it imports) against the same weights on CPU (scan ``cpp`` or
    ``torch_loop``), TF32 off; KambaAD SMAP also under bf16 autocast (the trainer's AMP).
  * scan: ``selective_scan`` against ``torch_ref`` at KambaAD's, MAAT's and MambaAD's SS2D (grouped)
    shapes, float32 and bfloat16: output, last state and every input gradient of ``sum(out * g)``
    (``g`` random; not the last state: mamba_ssm's backward ignores its gradient, as its docstring says).
  * conv: ``causal_conv1d`` on the Mamba block's channel-last view of its projection (the CUDA kernel
    when causal_conv1d imports; which path ran is read from the profiler), float32 and bf16 autocast.
  * resume: ``run.py -m train`` a few steps, then ``trainer.resume=true`` on the same run folder.
  * timing: Triton scan forward+backward against mamba_ssm at KambaAD's paper size (target <= 2x), and
    KambaAD's training windows/s against Anomaly Transformer's at their SMAP paper sizes (target >= 2x;
    the paper reports 2.5x), measured as benchmarks/throughput.py does.
Errors are norm-relative, ``||tested - reference|| / ||reference||`` per tensor (the worst is shown).
Without CUDA (and without ``--cpu-dry-run``) it exits 2 with one line saying so.
"""
from __future__ import annotations

import os
import sys

if __name__ == "__main__" and "--cpu-dry-run" in sys.argv:  # Triton reads it when imported: set it before anything can
    os.environ["TRITON_INTERPRET"] = "1"

import argparse
import copy
import importlib
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import REPO_ROOT, machine_line, markdown_table, timed_loop

OK, FAIL, BELOW = "ok", "FAIL", "below target"
CHECKS = ("env", "models", "scan", "conv", "resume", "timing")

# Norm-relative tolerances, (outputs, gradients). mamba-ssm's own tests (tests/ops/test_selective_scan.py)
# compare elementwise: float32 out/state rtol 6e-4, atol 2e-3; du 2x that, ddelta 5x rtol / 10x atol,
# dA atol 1e-2; bfloat16 rtol 3e-2, atol 5e-2 (gradients 2-10x). The same budgets, as norms:
SCAN_TOL = {torch.float32: (1e-3, 5e-3), torch.bfloat16: (3e-2, 5e-2)}
# A whole model, CUDA against CPU in float32 (TF32 off): (loss, all gradients); and under bf16 autocast.
MODEL_TOL = {"fp32": (1e-4, 2e-3), "amp": (2e-2, 1e-1)}

# Scan shapes (batch, d_inner, d_state, L, B/C groups): KambaAD at SMAP (batch 8, d_model 512, expand 2),
# MAAT (batch 32, d_state 8), MambaAD's SS2D at the 32x32 level (128 channels, 8 directions as groups).
SCAN_SHAPES = {"KambaAD": (8, 1024, 64, 100, None), "MAAT": (32, 1024, 8, 100, None), "SS2D": (2, 2048, 16, 1024, 8)}
TOY_SCAN_SHAPES = {"KambaAD": (2, 16, 8, 12, None), "MAAT": (2, 16, 4, 10, None), "SS2D": (1, 32, 4, 16, 4)}
CONV_SHAPE, TOY_CONV_SHAPE = (8, 1024, 100), (2, 16, 12)  # (batch, d_inner, L): KambaAD's Mamba at SMAP

N_FEATURES = {"smap": 25, "smd": 38}  # channels of the time-series datasets the paper configs name
# (row label, config, overrides that shrink it for --cpu-dry-run)
TOY_TS = ["model.d_model=16", "data.window=20"]
TOY_IMAGE = ["model.depths=[1,1,1,1]", "model.channels=[32,16,16,8]"]
MODELS = [
    ("KambaAD SMAP", "kambaad/kambaad_smap.py", TOY_TS),
    ("KambaAD SMD", "kambaad/kambaad_smd.py", TOY_TS),
    ("MAAT SMAP", "maat/maat_smap.py", TOY_TS + ["model.n_heads=2", "model.e_layers=1", "model.d_ff=16"]),
    ("MTAD MVTec", "mtad/mtad_mvtec.py", TOY_IMAGE + ["data.image_size=32", "model.heads=2", "model.window=4"]),
    ("MambaAD MVTec", "mambaad/mambaad_mvtec.py",
     TOY_IMAGE + ["data.image_size=64", "model.lss_per_level=[1,1,1,1]", "model.scan.directions=2"]),
    ("Anomaly Transformer SMAP", "anomaly_transformer/anomaly_transformer_smap.py",
     TOY_TS + ["model.n_heads=2", "model.e_layers=1", "model.d_ff=16"]),
    ("DCdetector SMAP", "dcdetector/dcdetector_smap.py", TOY_TS + ["model.patch_sizes=[5]", "model.e_layers=1"]),
]


def guarded(name: str, check: Callable[[], tuple[str, str]]) -> list[str]:
    """``[name, result, status]`` of ``check()``; an exception becomes a FAIL row with its first line.
    Progress goes to stderr."""
    start = time.perf_counter()
    try:
        result, status = check()
    except Exception as error:  # noqa: BLE001 - every failure is reported in its row
        result, status = one_line(error), FAIL
    print(f"gpu_check: {time.perf_counter() - start:5.1f} s  {name}: {status or 'done'}", file=sys.stderr, flush=True)
    return [name, result.replace("|", "/"), status]


def one_line(error: BaseException) -> str:
    """``Type: first line of the message``, at most 300 characters."""
    lines = str(error).strip().splitlines() or [""]
    return f"{type(error).__name__}: {lines[0]}"[:300]


def rel_error(tested: Tensor, reference: Tensor) -> float:
    """``||tested - reference|| / ||reference||`` in float64 (the absolute norm when the reference is 0)."""
    tested, reference = tested.detach().double().cpu(), reference.detach().double().cpu()
    scale = reference.norm().item()
    return (tested - reference).norm().item() / (scale if scale > 0 else 1.0)


def verdict(errors: dict[str, float], tol_out: float, tol_grad: float) -> tuple[str, str]:
    """The worst error relative to its tolerance (gradient names start with ``d``), and ok/FAIL."""
    scaled = {k: v / (tol_grad if k.startswith("d") else tol_out) for k, v in errors.items()}
    worst = max(scaled, key=scaled.get)
    text = f"worst {worst} {errors[worst]:.1e} (tol {tol_grad if worst.startswith('d') else tol_out:.0e})"
    return text, OK if scaled[worst] <= 1 else FAIL


def module_version(name: str) -> str:
    """``name <version>`` when the module imports, else why not."""
    try:
        module = importlib.import_module(name)
    except Exception as error:  # noqa: BLE001 - an import error of an optional package is a result
        return f"not installed ({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''})"[:200]
    return f"{name} {getattr(module, '__version__', '?')} imports"


# ---------------------------------------------------------------------------------------------- env
def env_rows(device: torch.device) -> list[list[str]]:
    from model.ops.selective_scan import backend_report, conv_report

    def triton_row() -> tuple[str, str]:
        from model.ops.triton_scan import triton_available

        reason = triton_available()
        mode = " (Triton's interpreter)" if os.environ.get("TRITON_INTERPRET") == "1" else ""
        return ("available" + mode if reason is None else f"unavailable: {reason}"), (OK if reason is None else FAIL)

    return [
        guarded("Triton scan (model/ops/triton_scan.py)", triton_row),
        guarded("mamba_ssm (optional)", lambda: (module_version("mamba_ssm"), "")),
        guarded("causal_conv1d (optional)", lambda: (module_version("causal_conv1d"), "")),
        guarded("scan auto on this device", lambda: (backend_report(device), "")),
        guarded("causal conv on this device", lambda: (conv_report(device), "")),
    ]


def cuda_backends(device: torch.device) -> list[str]:
    """The scan backends under test on ``device``: triton, and mamba_ssm when it imports (CUDA only)."""
    from model.ops.selective_scan import mamba_ssm_available

    return ["triton"] + (["mamba_ssm"] if device.type == "cuda" and mamba_ssm_available() else [])


def cpu_backend() -> str:
    """The CPU reference scan: the fused C++ kernel when it builds, else the PyTorch loop."""
    from model.ops.compiled import scan_kernels

    return "cpp" if scan_kernels() is not None else "torch_loop"


# ------------------------------------------------------------------------------------------- models
def set_scan_backend(detector: torch.nn.Module, backend: str) -> int:
    """Point every scan of ``detector`` at ``backend``; the number of scan modules."""
    modules = [m for m in detector.modules() if hasattr(m, "scan_backend")]
    for m in modules:
        m.scan_backend = backend
    return len(modules)


def model_inputs(cfg: dict, batch: int) -> tuple[dict, dict]:
    """(constructor keyword arguments, a random batch) for a config's detector, without its data."""
    gen = torch.Generator().manual_seed(1)
    data = cfg["data"]
    if cfg["evaluation"]["type"] == "image":
        size = data["image_size"]
        return {"image_size": size}, {"img": torch.randn(batch, 3, size, size, generator=gen)}
    features, window = N_FEATURES[data["type"]], data["window"]
    return {"n_features": features, "window": window}, {"x": torch.randn(batch, window, features, generator=gen)}


def build_detector(cfg: dict, kwargs: dict) -> tuple[torch.nn.Module, str]:
    """The seeded detector on CPU, and a note when its pretrained encoder had to be left out."""
    from util.registry import DETECTORS
    from util.seed import seed_everything

    seed_everything(cfg["seed"])
    try:
        return DETECTORS.build(cfg["model"], **kwargs), ""
    except Exception as error:
        encoder = cfg["model"].get("encoder", {})
        if not encoder.get("pretrained"):
            raise
        model = copy.deepcopy(cfg["model"])
        model["encoder"]["pretrained"] = False
        seed_everything(cfg["seed"])
        note = f"; {encoder['name']} random weights: pretrained ones need a download ({type(error).__name__})"
        return DETECTORS.build(model, **kwargs), note


def loss_and_grads(detector: torch.nn.Module, batch: dict, device: torch.device, amp: bool) -> tuple[Tensor, list[Tensor]]:
    """Loss and the gradient of every trainable parameter (zeros where none flows), on ``device``."""
    params = [p for p in detector.parameters() if p.requires_grad]
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
        loss = detector.loss({k: v.to(device) for k, v in batch.items()})["loss"]
    grads = torch.autograd.grad(loss.float(), params, allow_unused=True)
    return loss.detach().float().cpu(), [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads)]


def model_rows(device: torch.device, toy: bool) -> list[list[str]]:
    """One row per (detector, CUDA scan backend): loss and gradients against the CPU with the same weights."""
    from util.config import load

    rows, reference = [], cpu_backend()
    for label, path, toy_overrides in MODELS:
        state: dict = {}

        def prepare() -> tuple[str, str]:
            cfg = load(REPO_ROOT / "configs" / path, toy_overrides if toy else [])
            kwargs, state["batch"] = model_inputs(cfg, batch=2)
            detector, state["note"] = build_detector(cfg, kwargs)
            state["scans"] = set_scan_backend(detector, reference)
            state["cpu"] = loss_and_grads(detector.eval(), state["batch"], torch.device("cpu"), amp=False)
            state["detector"] = detector
            return "", ""

        prepared = guarded(f"{label}: CPU reference", prepare)
        if prepared[2] == FAIL:
            rows.append(prepared)
            continue
        backends = cuda_backends(device) if state["scans"] else ["(no scan)"]
        cases = [(b, False) for b in backends] + ([("triton", True)] if label == "KambaAD SMAP" else [])
        for backend, amp in cases:
            def compare(backend: str = backend, amp: bool = amp) -> tuple[str, str]:
                tested = copy.deepcopy(state["detector"]).to(device)
                set_scan_backend(tested, backend)
                loss, grads = loss_and_grads(tested, state["batch"], device, amp)
                ref_loss, ref_grads = state["cpu"]
                tol_loss, tol_grad = MODEL_TOL["amp" if amp else "fp32"]
                e_loss, e_grad = rel_error(loss, ref_loss), rel_error(torch.cat([g.flatten() for g in grads]),
                                                                       torch.cat([g.flatten() for g in ref_grads]))
                text = (f"loss {e_loss:.1e} (tol {tol_loss:.0e}), gradients {e_grad:.1e} (tol {tol_grad:.0e}), "
                        f"{len(grads)} tensors{state['note']}")
                return text, OK if e_loss <= tol_loss and e_grad <= tol_grad else FAIL

            scan = f"scan {backend} vs {reference}" if state["scans"] else "vs CPU"
            rows.append(guarded(f"{label} {'bf16 autocast' if amp else 'fp32'}, {scan}, fwd+bwd", compare))
        del state["detector"]
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return rows


# --------------------------------------------------------------------------------------------- scan
def scan_inputs(shape: tuple, dtype: torch.dtype, device: torch.device) -> dict[str, Tensor]:
    """Mamba-like inputs: A = -(1..d_state) per channel, softplus(delta + bias) around 0.05;
    ``u, delta, z, B, C`` in ``dtype``, ``A, D, delta_bias`` float32 (as the models pass them)."""
    batch, d_inner, d_state, length, groups = shape
    gen = torch.Generator().manual_seed(0)
    bc = (batch, d_state, length) if groups is None else (batch, groups, d_state, length)
    low = dict(u=torch.randn(batch, d_inner, length, generator=gen),
               delta=torch.randn(batch, d_inner, length, generator=gen) * 0.5 - 3.0,
               B=torch.randn(*bc, generator=gen), C=torch.randn(*bc, generator=gen),
               z=torch.randn(batch, d_inner, length, generator=gen))
    full = dict(A=-torch.arange(1.0, d_state + 1).repeat(d_inner, 1) * (1 + 0.1 * torch.rand(d_inner, d_state, generator=gen)),
                D=torch.randn(d_inner, generator=gen), delta_bias=torch.rand(d_inner, generator=gen) * 0.1)
    tensors = {k: v.to(dtype) for k, v in low.items()} | full
    return {k: v.to(device).requires_grad_() for k, v in tensors.items()}


def scan_outputs(backend: str, inputs: dict[str, Tensor]) -> dict[str, Tensor]:
    """Output, last state and the gradient of ``sum(out * g)`` for every input, g fixed random."""
    from model.ops.selective_scan import selective_scan

    out, last = selective_scan(**inputs, delta_softplus=True, return_last_state=True, backend=backend)
    g = torch.randn(out.shape, generator=torch.Generator().manual_seed(2)).to(out.device)
    grads = torch.autograd.grad((out.float() * g).sum(), list(inputs.values()))
    return {"out": out, "last state": last} | {f"d{k}": v for k, v in zip(inputs, grads)}


def scan_rows(device: torch.device, toy: bool) -> list[list[str]]:
    """Each CUDA backend against ``torch_ref`` (float32, from the same rounded inputs) per shape and dtype."""
    rows = []
    for label, shape in (TOY_SCAN_SHAPES if toy else SCAN_SHAPES).items():
        for dtype in (torch.float32, torch.bfloat16):
            inputs = scan_inputs(shape, dtype, device)
            reference: dict[str, Tensor] = {}
            for backend in cuda_backends(device):
                def compare(backend: str = backend, dtype: torch.dtype = dtype) -> tuple[str, str]:
                    if not reference:  # the float32 reference of the same (rounded) values, once per case
                        exact = {k: v.detach().float().requires_grad_() for k, v in inputs.items()}
                        reference.update(scan_outputs("torch_ref", exact))
                    tested = scan_outputs(backend, inputs)
                    return verdict({k: rel_error(tested[k], reference[k]) for k in tested}, *SCAN_TOL[dtype])

                b, d, n, length, groups = shape
                name = (f"scan {backend} vs torch_ref, {label} (b {b}, d {d}, N {n}, L {length}"
                        f"{f', {groups} groups' if groups else ''}), {str(dtype)[6:]}")
                rows.append(guarded(name, compare))
            if device.type == "cuda":
                torch.cuda.empty_cache()
    return rows


# --------------------------------------------------------------------------------------------- conv
def conv_rows(device: torch.device, toy: bool) -> list[list[str]]:
    """``causal_conv1d`` on the Mamba block's view of its projection against a depthwise conv1d; which
    path ran is read from the profiler (the causal_conv1d ops and kernels are named so)."""
    from model.ops.selective_scan import causal_conv1d

    batch, dim, length = TOY_CONV_SHAPE if toy else CONV_SHAPE
    gen = torch.Generator().manual_seed(0)
    leaves = [torch.randn(batch, length, 2 * dim, generator=gen), torch.randn(dim, 4, generator=gen) * 0.5,
              torch.randn(dim, generator=gen) * 0.1]

    def run(conv: Callable, proj: Tensor, weight: Tensor, bias: Tensor, amp: bool) -> list[Tensor]:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            x = (proj.to(torch.bfloat16) if amp else proj).transpose(1, 2)[:, :dim]  # in_proj(h).transpose(1, 2).chunk(2)[0]
            assert x.stride(1) == 1 and x.stride(2) == 2 * dim, x.stride()  # channel-last: causal_conv1d's second kernel
            out = conv(x, weight, bias)
        g = torch.randn(out.shape, generator=torch.Generator().manual_seed(3)).to(device)
        return [out, *torch.autograd.grad((out.float() * g).sum(), (proj, weight, bias))]

    def reference(x: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
        return F.silu(F.conv1d(F.pad(x.float(), (weight.shape[1] - 1, 0)), weight.unsqueeze(1), bias, groups=dim))

    activities = [torch.profiler.ProfilerActivity.CPU] + ([torch.profiler.ProfilerActivity.CUDA] if device.type == "cuda" else [])
    rows = []
    for amp in (False, True):
        def compare(amp: bool = amp) -> tuple[str, str]:
            inputs = [t.to(device).requires_grad_() for t in leaves]
            with torch.profiler.profile(activities=activities) as profile:
                tested = run(lambda x, w, b: causal_conv1d(x, w, b, activation="silu"), *inputs, amp)
            ran = sorted({e.name.replace("void ", "").split("<")[0].split("(")[0] for e in profile.events() if "causal_conv1d" in e.name.lower()})
            path = f"CUDA kernel ran: {', '.join(ran)}" if ran else "PyTorch conv ran (no causal_conv1d op or kernel)"
            exact = [t.detach().clone().requires_grad_() for t in inputs]
            if amp:  # the reference sees the bf16-rounded projection, in float32
                exact[0] = exact[0].detach().to(torch.bfloat16).float().requires_grad_()
            expected = run(reference, *exact, amp=False)
            errors = {k: rel_error(a, b) for k, a, b in zip(("out", "dproj", "dweight", "dbias"), tested, expected)}
            text, status = verdict(errors, *SCAN_TOL[torch.bfloat16 if amp else torch.float32])
            return f"{path}; {text}", status

        name = f"causal_conv1d, channel-last (b {batch}, d {dim}, L {length}), width 4, silu, {'bf16 autocast' if amp else 'fp32'}"
        rows.append(guarded(name, compare))
    return rows


# ------------------------------------------------------------------------------------------- resume
def resume_rows(device: torch.device, toy: bool) -> list[list[str]]:
    """``run.py -m train`` for 3 steps, then resumed to 6 from ckpt_last.pth, in fresh interpreters."""
    from trainer.run_folder import RunFolder
    from util.checkpoint import load_checkpoint

    def check() -> tuple[str, str]:
        with tempfile.TemporaryDirectory() as work:
            base = [sys.executable, "run.py", "-c", "configs/kambaad/kambaad_synthetic.py", "-m", "train",
                    f"device={device.type}", f"work_dir={work}", "trainer.progress=false", "evaluation.plots=false",
                    "evaluation.baselines=false"] + (["data.train_length=600", "data.test_length=600", "data.window=32"] if toy else [])
            logs = []
            for extra in (["trainer.max_steps=3"], ["trainer.max_steps=6", "trainer.resume=true"]):
                done = subprocess.run(base + extra, cwd=REPO_ROOT, capture_output=True, text=True, timeout=240)
                logs.append(done.stdout + done.stderr)
                if done.returncode != 0:
                    lines = [line for line in logs[-1].splitlines() if line.strip()] or ["no output"]
                    return f"{'resume' if len(logs) == 2 else 'train'} exited {done.returncode}: {lines[-1].strip()[:200]}", FAIL
            step = load_checkpoint(RunFolder(work).last, map_location="cpu")["step"]
        resumed = "Resumed from" in logs[1]
        return f"trained 3 steps, resumed: {'yes' if resumed else 'no'}, last checkpoint at step {step}", OK if resumed and step == 6 else FAIL

    return [guarded(f"resume on {device.type}: run.py -m train (KambaAD synthetic), then trainer.resume=true", check)]


# ------------------------------------------------------------------------------------------- timing
def scan_ms(backend: str, shape: tuple, device: torch.device, min_seconds: float) -> float:
    """Milliseconds per forward+backward of one float32 scan as the Mamba block calls it (after a warm-up)."""
    from model.ops.selective_scan import selective_scan

    inputs = scan_inputs(shape, torch.float32, device)
    g = torch.randn_like(inputs["u"])

    def step() -> None:
        out = selective_scan(**inputs, delta_softplus=True, backend=backend)
        torch.autograd.grad((out * g).sum(), list(inputs.values()))

    step()
    steps, seconds = timed_loop(step, device, min_steps=1, min_seconds=min_seconds, max_steps=200)
    return 1000 * seconds / steps


def timing_rows(device: torch.device, toy: bool, min_seconds: float) -> list[list[str]]:
    """Triton against mamba_ssm (scan alone), and KambaAD against Anomaly Transformer (training)."""
    from benchmarks.throughput import NAMES, measure_training, settings_configs

    shape = TOY_SCAN_SHAPES["KambaAD"] if toy else SCAN_SHAPES["KambaAD"]
    target = lambda met: "n/a (dry run)" if toy else (OK if met else BELOW)  # noqa: E731
    times: dict[str, float] = {}

    def scan_time(backend: str) -> tuple[str, str]:
        times[backend] = scan_ms(backend, shape, device, min_seconds)
        return f"{times[backend]:.2f} ms", ""

    rows = [guarded(f"time: scan {b} fwd+bwd, KambaAD shape {shape[:4]}", lambda b=b: scan_time(b)) for b in cuda_backends(device)]
    if "triton" in times and "mamba_ssm" in times:
        ratio = times["triton"] / times["mamba_ssm"]
        rows.append(["time: Triton / mamba_ssm, scan fwd+bwd", f"{ratio:.2f}x (target <= 2x)", target(ratio <= 2)])
    elif "triton" in times:
        rows.append(["time: Triton / mamba_ssm, scan fwd+bwd", "mamba_ssm not installed: not measured", ""])

    configs = settings_configs("paper", ["kambaad", "anomaly_transformer"], toy, cuda_backends(device))
    del configs["kambaad"]  # scan auto: only rows that name the backend they ran
    rates: dict[str, float] = {}
    for key, cfg in configs.items():
        def train(key: str = key, cfg: dict = cfg) -> tuple[str, str]:
            r = measure_training(cfg, device.type, None, min_seconds, max_steps=2 if toy else 200)
            rates[key] = r["train_windows_per_s"]
            return (f"{r['train_windows_per_s']:,.1f} windows/s, peak {r['train_peak_mb']:,.0f} MB, window / batch "
                    f"{r['window']} / {r['batch_size']}, {r['parameters']:,} parameters"), ""

        detector, _, backend = key.partition("/")
        rows.append(guarded(f"time: train {NAMES[detector]}{f' (scan {backend})' if backend else ''}", train))
    for key in (k for k in rates if k.startswith("kambaad/") and "anomaly_transformer" in rates):
        ratio = rates[key] / rates["anomaly_transformer"]
        rows.append([f"time: KambaAD (scan {key.partition('/')[2]}) / Anomaly Transformer, training windows/s",
                     f"{ratio:.2f}x (target >= 2x; paper 2.5x)", target(ratio >= 2)])
    return rows


# --------------------------------------------------------------------------------------------- main
def run_checks(args: argparse.Namespace) -> int:
    """Every selected check in turn; prints the table; 1 when a row FAILs."""
    from benchmarks.common import apply_threads

    apply_threads(args.threads)
    device = torch.device("cpu" if args.cpu_dry_run else "cuda")
    toy, start, rows = args.cpu_dry_run, time.perf_counter(), []
    sections: dict[str, Callable[[], list[list[str]]]] = {
        "env": lambda: env_rows(device), "models": lambda: model_rows(device, toy), "scan": lambda: scan_rows(device, toy),
        "conv": lambda: conv_rows(device, toy), "resume": lambda: resume_rows(device, toy),
        "timing": lambda: timing_rows(device, toy, min_seconds=0.0 if toy else args.min_seconds),
    }
    for check in args.checks:
        # TF32 would add ~1e-3 relative error to every CUDA matmul/conv: off for the comparisons, default for timing
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = check == "timing"
        try:
            rows += sections[check]()
        except Exception as error:  # noqa: BLE001 - a section that cannot start is one FAIL row
            rows.append([f"{check} checks", one_line(error).replace("|", "/"), FAIL])
        print(f"gpu_check: {check} done at {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
    failed = sum(row[2] == FAIL for row in rows)
    print(machine_line(device) + f" {time.perf_counter() - start:.0f} s" + (", toy sizes (--cpu-dry-run)." if toy else "."))
    print()
    print(markdown_table(["check", "result", "status"], rows))
    print(f"\n{failed} of {len(rows)} rows FAIL." if failed else f"\nAll {len(rows)} rows pass.")
    return 1 if failed else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checks", nargs="+", default=list(CHECKS), choices=CHECKS, help="which checks (default all)")
    parser.add_argument("--min-seconds", type=float, default=3.0, help="timed seconds per timing row (default 3)")
    parser.add_argument("--cpu-dry-run", action="store_true", help="the same flow at toy sizes on CPU (Triton interpreted)")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: PyTorch's)")
    args = parser.parse_args()
    if not args.cpu_dry_run and not torch.cuda.is_available():
        print("gpu_check: no CUDA device is visible (torch.cuda.is_available() is False); run it on an NVIDIA GPU "
              "machine, or pass --cpu-dry-run to exercise the script on CPU.", file=sys.stderr)
        return 2
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # no network: a pretrained encoder not cached fails at once
    return run_checks(args)


if __name__ == "__main__":
    sys.exit(main())
