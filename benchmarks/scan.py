"""Speed and memory of the selective-scan backends; prints markdown tables.

    python benchmarks/scan.py            # full grid: L in {100, 256, 1024, 4096} x d_inner {64, 256} x d_state {16, 64}
    python benchmarks/scan.py --quick    # L in {256, 1024}, d_inner 64 and 256, d_state 16 and 64, one repeat

Backends compared side by side on the same inputs (Mamba-like: delta = softplus(noise + bias) with
dt in [0.001, 0.1], A = -[1..d_state]):
  * torch_ref     -- the sequential oracle (one step per iteration, per-step slices, autograd);
  * naive loop    -- mamba-ssm's selective_scan_ref layout: full discretised tensors precomputed,
                     then indexed per step (its backward is quadratic in L; run only where affordable);
  * torch_loop    -- the CPU fast path (cache-sized time-major blocks, one multiply-add per step,
                     hand-written backward);
  * torch_chunked -- the chunked scan (parallel inside chunks);
  * mamba_ssm     -- on CUDA, when installed.
Times are forward+backward; speed-ups are torch_ref time / backend time.
Memory (``--memory``): peak resident memory of forward and of forward+backward above the inputs,
each measured in a fresh subprocess (CPU has no allocator statistics).
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from model.ops.selective_scan import mamba_ssm_available, selective_scan  # noqa: E402

# The naive loop's backward costs ~L^2 * batch * d_inner * d_state; skip it above this many (keeps the
# default grid's naive cells to L=1024 x d_inner 64 x d_state 16 and smaller, ~30 s of the run in all).
NAIVE_BUDGET = 2.2e9


def make_inputs(batch: int, d_inner: int, d_state: int, length: int, device: str, seed: int = 0) -> dict:
    """Mamba-like scan inputs (u, delta, A, B, C, D, delta_bias) that require grad."""
    gen = torch.Generator().manual_seed(seed)
    dt = 1e-3 * 100 ** torch.rand(d_inner, generator=gen)  # log-uniform in [0.001, 0.1], as Mamba's init
    tensors = dict(
        u=torch.randn(batch, d_inner, length, generator=gen),
        delta=0.1 * torch.randn(batch, d_inner, length, generator=gen),
        A=-torch.arange(1, d_state + 1, dtype=torch.float32).repeat(d_inner, 1),
        B=torch.randn(batch, d_state, length, generator=gen),
        C=torch.randn(batch, d_state, length, generator=gen),
        D=torch.ones(d_inner),
        delta_bias=dt + torch.log(-torch.expm1(-dt)),
    )
    return {k: v.to(device).requires_grad_() for k, v in tensors.items()}


def naive_loop(u, delta, A, B, C, D, delta_bias):
    """mamba-ssm's reference layout: precompute exp(delta A) and delta B u for all steps, then loop."""
    delta = F.softplus(delta + delta_bias[:, None])
    decay = torch.exp(torch.einsum("bdl,dn->bdln", delta, A))
    drive = torch.einsum("bdl,bnl,bdl->bdln", delta, B, u)
    h = u.new_zeros(u.shape[0], u.shape[1], A.shape[1])
    ys = []
    for t in range(u.shape[-1]):
        h = decay[:, :, t] * h + drive[:, :, t]
        ys.append(torch.einsum("bdn,bn->bd", h, C[:, :, t]))
    return torch.stack(ys, dim=-1) + u * D[:, None]


def backend_fn(name: str) -> Callable[..., torch.Tensor]:
    if name == "naive":
        return naive_loop
    return lambda **kw: selective_scan(**kw, delta_softplus=True, backend=name)


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def time_it(fn: Callable[[], object], device: str, repeats: int, warmup: bool = True) -> float:
    """Best wall time of ``repeats`` runs (after one warm-up run if ``warmup``), in seconds."""
    if warmup:
        fn()
        sync(device)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync(device)
        best = min(best, time.perf_counter() - start)
    return best


def measure(name: str, inputs: dict, device: str, repeats: int) -> tuple[float, float, torch.Tensor]:
    """(forward seconds, forward+backward seconds, output) of one backend."""
    fn = backend_fn(name)
    inputs = {k: v.to(torch.float32) for k, v in inputs.items()}

    def forward():
        with torch.no_grad():
            return fn(**inputs)

    def forward_backward():
        for v in inputs.values():
            v.grad = None
        fn(**inputs).sum().backward()

    out = forward()
    if name == "naive":  # seconds per call: one timed run, no warm-up
        return time_it(forward, device, 1, warmup=False), time_it(forward_backward, device, 1, warmup=False), out
    return time_it(forward, device, repeats), time_it(forward_backward, device, repeats), out


def speed_table(args: argparse.Namespace, device: str) -> list[str]:
    lengths = [256, 1024] if args.quick else [100, 256, 1024, 4096]
    repeats = 1 if args.quick else args.repeats
    cuda_kernels = device == "cuda" and mamba_ssm_available()
    backends = ["torch_ref", "naive", "torch_loop", "torch_chunked"] + (["mamba_ssm"] if cuda_kernels else [])
    rows = [
        f"### {device.upper()} (batch {args.batch}, float32, {torch.get_num_threads()} thread(s)), forward+backward ms",
        "",
        "| L | d_inner | d_state | torch_ref | naive loop | torch_loop | torch_chunked | loop vs ref | chunked vs ref "
        "| loop vs naive | loop fwd vs ref fwd | max abs diff |" + (" mamba_ssm |" if cuda_kernels else ""),
        "|---|---|---|---|---|---|---|---|---|---|---|---|" + ("---|" if cuda_kernels else ""),
    ]
    for length in lengths:
        for d_inner in (64, 256):
            for d_state in (16, 64):
                inputs = make_inputs(args.batch, d_inner, d_state, length, device)
                results = {}
                for name in backends:
                    if name == "naive" and args.batch * d_inner * d_state * length**2 > NAIVE_BUDGET:
                        continue
                    results[name] = measure(name, inputs, device, repeats)
                ref_f, ref_fb, ref_out = results["torch_ref"]
                loop_f, loop_fb, _ = results["torch_loop"]
                chunk_fb = results["torch_chunked"][1]
                naive = results.get("naive")
                diff = max((results[name][2] - ref_out).abs().max().item() for name in ("torch_loop", "torch_chunked"))
                cells = [
                    length, d_inner, d_state, f"{ref_fb * 1e3:.1f}", f"{naive[1] * 1e3:.1f}" if naive else "skipped",
                    f"{loop_fb * 1e3:.1f}", f"{chunk_fb * 1e3:.1f}", f"{ref_fb / loop_fb:.1f}x", f"{ref_fb / chunk_fb:.1f}x",
                    f"{naive[1] / loop_fb:.1f}x" if naive else "-", f"{ref_f / loop_f:.1f}x", f"{diff:.1e}",
                ]
                if cuda_kernels:
                    cells.append(f"{results['mamba_ssm'][1] * 1e3:.2f}")
                rows.append("| " + " | ".join(map(str, cells)) + " |")
                print(rows[-1], file=sys.stderr, flush=True)
    return rows


def peak_rss_mb() -> float:
    """This process's peak resident memory in MB (VmHWM; ru_maxrss would include the parent's peak
    before exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def memory_probe(backend: str, batch: int, d_inner: int, d_state: int, length: int) -> dict:
    """Run in a fresh process: peak RSS growth (MB) of forward, then of forward+backward, above the inputs."""
    torch.set_num_threads(1)
    inputs = make_inputs(batch, d_inner, d_state, length, "cpu")
    base = peak_rss_mb()
    out = backend_fn(backend)(**inputs)
    after_forward = peak_rss_mb()
    out.sum().backward()
    after_backward = peak_rss_mb()
    return {"forward_mb": after_forward - base, "forward_backward_mb": after_backward - base}


def memory_table(args: argparse.Namespace) -> list[str]:
    rows = [
        "### CPU memory: peak resident growth above the inputs (fresh process per cell)",
        "",
        "| backend | batch | d_inner | d_state | L | one (B,D,L,N) tensor MB | forward MB | forward+backward MB | fwd+bwd / fwd |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for length in (1024, 4096):
        for backend in ("torch_ref", "torch_loop", "torch_chunked"):
            shape = (args.batch, 256, 64, length)
            cmd = [sys.executable, __file__, "--memory-probe", backend, *map(str, shape)]
            probe = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)
            full = args.batch * 256 * 64 * length * 4 / 2**20
            ratio = probe["forward_backward_mb"] / max(probe["forward_mb"], 1e-9)
            rows.append(
                f"| {backend} | {args.batch} | 256 | 64 | {length} | {full:.0f} | {probe['forward_mb']:.0f} "
                f"| {probe['forward_backward_mb']:.0f} | {ratio:.1f} |"
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a smaller grid, one repeat")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads on CPU")
    parser.add_argument("--memory", action="store_true", help="also measure memory (subprocesses)")
    parser.add_argument("--memory-probe", nargs=5, metavar=("BACKEND", "B", "D", "N", "L"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_probe:
        backend, *sizes = args.memory_probe
        print(json.dumps(memory_probe(backend, *map(int, sizes))))
        return
    torch.set_num_threads(args.threads)
    rows = speed_table(args, "cpu")
    if torch.cuda.is_available():
        rows += [""] + speed_table(args, "cuda")
    if args.memory:
        rows += [""] + memory_table(args)
    print("\n".join(rows))


if __name__ == "__main__":
    main()
