"""The GPU check: on a CUDA machine, install the fast kernels, check them against the reference
and measure KambaAD against Anomaly Transformer; prints one markdown table (a few minutes).

    python benchmarks/gpu_check.py                 # install requirements-cuda.txt, check, measure
    python benchmarks/gpu_check.py --no-install    # use what is installed
    python benchmarks/gpu_check.py --cpu-dry-run   # the same flow at toy sizes on CPU (cpp as the kernel)

Steps:
  1. ``pip install -r requirements-cuda.txt`` (mamba-ssm, causal-conv1d) unless both import already,
     with a time limit; when it fails the table says why and the checks that need it are skipped.
     The checks then run in a fresh interpreter, so newly installed packages are imported.
  2. ``selective_scan(backend="mamba_ssm")`` against ``torch_ref``: output, last state and every
     gradient (float32, z gating, softplus, D, bias; plain and grouped B/C, two sizes);
     ``causal_conv1d`` (the CUDA kernel) against the depthwise ``conv1d`` it replaces, forwards and
     backwards.
  3. Training windows/s and peak memory of KambaAD (scan ``auto`` = mamba_ssm, and the pure-PyTorch
     ``torch_chunked``) and Anomaly Transformer at their papers' SMAP sizes (benchmarks/throughput.py's
     measurement), on SMAP from ../shared/data or its 25-channel synthetic stand-in.
Without CUDA (and without ``--cpu-dry-run``) it stops at once with exit code 2 and says so.
"""
from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import REPO_ROOT, markdown_table  # noqa: E402

KERNEL_PACKAGES = ("mamba_ssm", "causal_conv1d")
# (batch, d_inner, d_state, L, groups): Mamba's defaults, and KambaAD's paper size.
SCAN_SIZES = [(2, 64, 16, 256, None), (8, 1024, 64, 100, None), (2, 64, 16, 128, 4)]
TOLERANCE = dict(atol=1e-3, rtol=1e-3)  # float32 kernels against the float32 reference


def kernels_importable() -> bool:
    return all(importlib.util.find_spec(name) is not None for name in KERNEL_PACKAGES)


FAILED = "FAILED: "  # how an install note that is a failure starts


def install_note(no_install: bool, timeout: float) -> str:
    """Install requirements-cuda.txt unless asked not to or already there; a note for the table."""
    if no_install:
        return "not attempted (--no-install)"
    if kernels_importable():
        return "already installed"
    cmd = [sys.executable, "-m", "pip", "install", "-r", str(REPO_ROOT / "requirements-cuda.txt")]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return f"{FAILED}pip did not finish in {timeout:.0f} s (no prebuilt wheel for this torch/CUDA, building from source?)"
    if done.returncode != 0:
        errors = [line for line in done.stderr.splitlines() if "error" in line.lower()] or done.stderr.splitlines() or ["no output"]
        return f"{FAILED}{errors[-1].strip()[:300]}"
    return "installed"


def scan_inputs(batch: int, d_inner: int, d_state: int, length: int, groups: int | None, device: str) -> dict:
    """Mamba-like float32 inputs (all requiring grad), B/C grouped when ``groups`` is given."""
    import torch

    gen = torch.Generator().manual_seed(0)
    bc = (batch, d_state, length) if groups is None else (batch, groups, d_state, length)
    tensors = dict(
        u=torch.randn(batch, d_inner, length, generator=gen),
        delta=torch.randn(batch, d_inner, length, generator=gen) * 0.5 - 1.0,
        A=-torch.rand(d_inner, d_state, generator=gen) * 4 - 0.1,
        B=torch.randn(*bc, generator=gen),
        C=torch.randn(*bc, generator=gen),
        D=torch.randn(d_inner, generator=gen),
        z=torch.randn(batch, d_inner, length, generator=gen),
        delta_bias=torch.rand(d_inner, generator=gen) * 0.1,
    )
    return {k: v.to(device).requires_grad_() for k, v in tensors.items()}


def _outputs_and_grads(fn, inputs: dict):
    import torch

    out, last = fn(**inputs)
    weights = torch.linspace(-1, 1, out.shape[-1], device=out.device)
    grads = torch.autograd.grad((out * weights).sum() + last.sin().sum(), list(inputs.values()))
    return [out, last, *grads]


def scan_check(backend: str, device: str, sizes: list) -> list[str]:
    """One row per size: the backend's largest deviation from torch_ref, scaled by the tolerance."""
    import torch

    from model.ops.selective_scan import selective_scan

    rows = []
    for size in sizes:
        inputs = scan_inputs(*size, device)

        def run(name: str):
            return lambda **kw: selective_scan(**kw, delta_softplus=True, return_last_state=True, backend=name)

        reference = _outputs_and_grads(run("torch_ref"), inputs)
        tested = _outputs_and_grads(run(backend), inputs)
        names = ["out", "last state"] + [f"d{name}" for name in inputs]
        # worst |a - b| / (atol + rtol |b|): <= 1 passes torch.testing.assert_close's criterion
        errors = {name: ((a - b).abs() / (TOLERANCE["atol"] + TOLERANCE["rtol"] * b.abs())).max().item()
                  for name, a, b in zip(names, tested, reference)}
        worst = max(errors, key=errors.get)
        batch, d_inner, d_state, length, groups = size
        rows.append([
            f"selective_scan {backend} vs torch_ref, batch {batch}, d_inner {d_inner}, d_state {d_state}, L {length}"
            + (f", {groups} groups" if groups else ""),
            f"worst {worst}: {errors[worst]:.2f} of the tolerance (fwd + all grads)",
            "ok" if errors[worst] <= 1 else "FAIL",
        ])
        if device == "cuda":
            torch.cuda.empty_cache()
    return rows


def conv_check(device: str) -> list[str]:
    """``causal_conv1d`` (CUDA kernel when installed) against the depthwise conv1d it replaces."""
    import torch
    import torch.nn.functional as F

    from model.ops.selective_scan import causal_conv1d

    gen = torch.Generator().manual_seed(0)
    x, weight, bias = (torch.randn(*s, generator=gen).to(device).requires_grad_() for s in ((4, 256, 512), (256, 4), (256,)))
    out = causal_conv1d(x, weight, bias, activation="silu")
    expected = F.silu(F.conv1d(F.pad(x, (3, 0)), weight.unsqueeze(1), bias, groups=256))
    grads = torch.autograd.grad(out.square().sum(), (x, weight, bias))
    expected_grads = torch.autograd.grad(expected.square().sum(), (x, weight, bias))
    error = max(((a - b).abs() / (TOLERANCE["atol"] + TOLERANCE["rtol"] * b.abs())).max().item()
                for a, b in zip((out, *grads), (expected, *expected_grads)))
    kernel = "CUDA kernel" if device == "cuda" and importlib.util.find_spec("causal_conv1d") else "PyTorch path"
    return [[f"causal_conv1d ({kernel}) vs depthwise conv1d, (4, 256, 512), width 4, silu",
             f"{error:.2f} of the tolerance (fwd + grads)", "ok" if error <= 1 else "FAIL"]]


def training_rows(device: str, quick: bool, min_seconds: float) -> list[str]:
    """Training windows/s and peak memory at the papers' sizes (quick: toy sizes)."""
    from benchmarks.throughput import NAMES, measure_training, settings_configs

    fallback = "cpp" if device == "cpu" else "torch_chunked"
    configs = settings_configs("paper", ["kambaad", "anomaly_transformer"], quick, [fallback])
    rates, rows = {}, []
    for key, cfg in configs.items():
        r = measure_training(cfg, device, None, min_seconds, max_steps=200)
        rates[key] = r["train_windows_per_s"]
        detector, _, backend = key.partition("/")
        name = NAMES[detector] + (f" (scan {backend})" if backend else " (scan auto)" if detector == "kambaad" else "")
        rows.append([f"train {name}, window / batch {r['window']} / {r['batch_size']}, {r['parameters']:,} parameters",
                     f"{r['train_windows_per_s']:,.1f} windows/s, peak {r['train_peak_mb']:,.0f} MB", ""])
    for key in (k for k in rates if k.startswith("kambaad")):
        label = "auto" if key == "kambaad" else key.partition("/")[2]
        rows.append([f"KambaAD (scan {label}) / Anomaly Transformer, training windows/s",
                     f"{rates[key] / rates['anomaly_transformer']:.2f}x (paper, GPU: 2.5x faster per epoch)", ""])
    return rows


def run_checks(args: argparse.Namespace, note: str) -> None:
    import torch

    from benchmarks.common import apply_threads, machine_line
    from model.ops.compiled import scan_kernels
    from model.ops.selective_scan import mamba_ssm_available

    apply_threads(args.threads)
    device = "cpu" if args.cpu_dry_run else "cuda"
    start = time.perf_counter()
    rows = [["pip install -r requirements-cuda.txt", note, "FAIL" if note.startswith(FAILED) else "ok"]]
    if device == "cpu":  # the CPU kernel stands in for mamba_ssm
        rows += scan_check("cpp" if scan_kernels() is not None else "torch_loop", device, [(1, 8, 4, 16, None), (1, 8, 4, 16, 2)])
    elif mamba_ssm_available():
        rows += scan_check("mamba_ssm", device, SCAN_SIZES)
    else:
        rows.append(["selective_scan mamba_ssm vs torch_ref", "mamba_ssm does not import: skipped", "FAIL"])
    rows += conv_check(device)
    rows += training_rows(device, quick=args.cpu_dry_run, min_seconds=0.0 if args.cpu_dry_run else args.min_seconds)
    print(machine_line(torch.device(device)) + f" {time.perf_counter() - start:.0f} s.\n")
    print(markdown_table(["check", "result", "status"], rows))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--no-install", action="store_true", help="do not pip install requirements-cuda.txt")
    parser.add_argument("--install-timeout", type=float, default=240.0, help="seconds pip may take (default 240)")
    parser.add_argument("--min-seconds", type=float, default=10.0, help="timed seconds per training measurement")
    parser.add_argument("--cpu-dry-run", action="store_true", help="run the whole flow at toy sizes on CPU")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: PyTorch's)")
    parser.add_argument("--install-note", default=None, help=argparse.SUPPRESS)  # set by the parent after installing
    args = parser.parse_args()
    if not args.cpu_dry_run:
        import torch

        if not torch.cuda.is_available():
            print("gpu_check: no CUDA device is visible (torch.cuda.is_available() is False); run it on an NVIDIA GPU "
                  "machine, or pass --cpu-dry-run to exercise the script on CPU.", file=sys.stderr)
            return 2
    if args.cpu_dry_run:
        run_checks(args, "not attempted (--cpu-dry-run)")
        return 0
    if args.install_note is not None:
        run_checks(args, args.install_note)
        return 0
    note = install_note(args.no_install, args.install_timeout)
    # A fresh interpreter imports what pip just installed.
    cmd = [sys.executable, __file__, "--min-seconds", str(args.min_seconds), "--install-note", note]
    cmd += ["--threads", str(args.threads)] if args.threads else []
    return subprocess.run(cmd).returncode


if __name__ == "__main__":
    sys.exit(main())
