"""Speed and memory of the selective-scan backends against the CPU's floor; prints markdown tables.

    python benchmarks/scan.py                  # the three reference shapes on 1 and 2 threads
    python benchmarks/scan.py --quick          # two small shapes, one repeat (seconds)
    python benchmarks/scan.py --grid           # also L {100..4096} x d_inner {64, 256} x d_state {16, 64}, batch 2
    python benchmarks/scan.py --shapes 8,1024,64,100 --threads 1 2 4
    python benchmarks/scan.py --memory         # also peak memory (a fresh process per cell)

The floor: one ``torch.exp`` pass (into a preallocated tensor) over a tensor of the states' full
size, batch x d_inner x L x d_state, on the same thread count. Every scan evaluates that many
exponentials (the decays exp(delta * A)), so no implementation can beat it by much; each backend's
forward+backward time is given as a multiple of it. Inputs are Mamba-like (delta = softplus(noise +
bias) with dt in [0.001, 0.1], A = -[1..d_state], D, z gating), float32. Backends, side by side:
  * cpp           -- the fused C++ kernel (what ``scan_backend="auto"`` runs on CPU when it builds);
  * torch_loop    -- the pure-PyTorch loop (auto's CPU fallback);
  * torch_chunked -- the chunked scan (parallel inside chunks);
  * torch_ref     -- the sequential oracle (one step per iteration, autograd);
  * naive loop    -- mamba-ssm's selective_scan_ref layout (its backward is quadratic in L; run only
                     where affordable);
  * mamba_ssm     -- on CUDA, when installed.
Each cell is the best of ``--repeats`` rounds; in a round the floor and every backend run once, in
turn, so their ratios are measured under the same load. Every backend runs at the first thread
count, only cpp and torch_loop (auto's CPU paths) at the others.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import machine_line, markdown_table, peak_rss_mb
from model.ops.compiled import scan_kernels
from model.ops.selective_scan import mamba_ssm_available, selective_scan

# (batch, d_inner, d_state, L): a long sequence, KambaAD at the paper's size, a large batch of short windows.
SHAPES = [(2, 128, 16, 1024), (8, 1024, 64, 100), (32, 256, 16, 100)]
QUICK_SHAPES = [(2, 64, 16, 128), (4, 128, 64, 32)]
GRID = [(2, d_inner, d_state, length) for length in (100, 256, 1024, 4096) for d_inner in (64, 256) for d_state in (16, 64)]
# The naive loop's backward costs ~L^2 * batch * d_inner * d_state; skip it above this many.
NAIVE_BUDGET = 2.2e9


def make_inputs(batch: int, d_inner: int, d_state: int, length: int, device: str, seed: int = 0) -> dict:
    """Mamba-like float32 scan inputs (u, delta, A, B, C, D, z, delta_bias) that require grad."""
    gen = torch.Generator().manual_seed(seed)
    dt = 1e-3 * 100 ** torch.rand(d_inner, generator=gen)  # log-uniform in [0.001, 0.1], as Mamba's init
    tensors = dict(
        u=torch.randn(batch, d_inner, length, generator=gen),
        delta=0.1 * torch.randn(batch, d_inner, length, generator=gen),
        A=-torch.arange(1, d_state + 1, dtype=torch.float32).repeat(d_inner, 1),
        B=torch.randn(batch, d_state, length, generator=gen),
        C=torch.randn(batch, d_state, length, generator=gen),
        D=torch.ones(d_inner),
        z=torch.randn(batch, d_inner, length, generator=gen),
        delta_bias=dt + torch.log(-torch.expm1(-dt)),
    )
    return {k: v.to(device).requires_grad_() for k, v in tensors.items()}


def naive_loop(u: torch.Tensor, delta: torch.Tensor, A: torch.Tensor, B: torch.Tensor, C: torch.Tensor, D: torch.Tensor, z: torch.Tensor, delta_bias: torch.Tensor) -> torch.Tensor:
    """mamba-ssm's reference layout: precompute exp(delta A) and delta B u for all steps, then loop."""
    delta = F.softplus(delta + delta_bias[:, None])
    decay = torch.exp(torch.einsum("bdl,dn->bdln", delta, A))
    drive = torch.einsum("bdl,bnl,bdl->bdln", delta, B, u)
    h = u.new_zeros(u.shape[0], u.shape[1], A.shape[1])
    ys = []
    for t in range(u.shape[-1]):
        h = decay[:, :, t] * h + drive[:, :, t]
        ys.append(torch.einsum("bdn,bn->bd", h, C[:, :, t]))
    return (torch.stack(ys, dim=-1) + u * D[:, None]) * F.silu(z)


def backend_fn(name: str) -> Callable[..., torch.Tensor]:
    if name == "naive":
        return naive_loop
    return lambda **kw: selective_scan(**kw, delta_softplus=True, backend=name)


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def backends_for(device: str, shape: tuple[int, int, int, int], quick: bool, every: bool) -> list[str]:
    """The backends measured at ``shape``: all of them when ``every`` (the naive loop only where its
    quadratic backward is affordable), else the two that ``auto`` runs on CPU."""
    batch, d_inner, d_state, length = shape
    names = (["cpp"] if device == "cpu" and scan_kernels() is not None else []) + ["torch_loop"]
    if every:
        names += ["torch_chunked", "torch_ref"]
    if every and not quick and batch * d_inner * d_state * length**2 <= NAIVE_BUDGET:
        names.append("naive")
    if device == "cuda" and mamba_ssm_available():
        names.append("mamba_ssm")
    return names


def measure_shape(shape: tuple[int, int, int, int], device: str, repeats: int, quick: bool, every: bool) -> dict:
    """Best seconds of the exp floor, of each backend's forward+backward and of its forward, and each
    backend's largest forward difference from torch_ref."""
    inputs = make_inputs(*shape, device)
    batch, d_inner, d_state, length = shape
    states = torch.randn(batch, d_inner, length, d_state, device=device)
    exps = torch.empty_like(states)
    names = backends_for(device, shape, quick, every)

    def forward(name: str) -> torch.Tensor:
        with torch.no_grad():
            return backend_fn(name)(**inputs)

    def forward_backward(name: str) -> None:
        for v in inputs.values():
            v.grad = None
        backend_fn(name)(**inputs).sum().backward()

    runs: dict[str, Callable[[], object]] = {"floor": lambda: torch.exp(states, out=exps)}
    for name in names:
        runs[f"{name} fwd+bwd"] = lambda name=name: forward_backward(name)
        runs[f"{name} fwd"] = lambda name=name: forward(name)
    best = {key: float("inf") for key in runs}
    for round_ in range(repeats + 1):  # round 0 warms up (kernel build, allocator) and is not counted
        for key, run in runs.items():
            if key.startswith("naive") and round_ > 1:  # seconds per call: one timed run
                continue
            sync(device)
            start = time.perf_counter()
            run()
            sync(device)
            if round_ > 0:
                best[key] = min(best[key], time.perf_counter() - start)
    reference = forward("torch_ref")
    best["diff"] = {name: (forward(name) - reference).abs().max().item() for name in names if name != "torch_ref"}
    return best


def cell(seconds: float, floor: float) -> str:
    return "-" if seconds == float("inf") else f"{seconds * 1e3:.1f} ({seconds / floor:.1f}x)"


def speed_tables(shapes: list, thread_counts: list[int], device: str, repeats: int, quick: bool) -> list[str]:
    """The floor table (one row per shape and thread count) and, with several thread counts, the
    speed-up of each over the first."""
    columns = ["cpp", "torch_loop", "torch_chunked", "torch_ref", "naive"] + (["mamba_ssm"] if device == "cuda" and mamba_ssm_available() else [])
    rows, results = [], {}
    for shape in shapes:
        for threads in thread_counts:
            torch.set_num_threads(threads)
            r = results[shape, threads] = measure_shape(shape, device, repeats, quick, every=threads == thread_counts[0])
            floor = r["floor"]
            rows.append([
                ", ".join(map(str, shape)), threads, f"{floor * 1e3:.2f}",
                *(cell(r.get(f"{name} fwd+bwd", float("inf")), floor) for name in columns),
                cell(r.get("cpp fwd", float("inf")), floor),
                ", ".join(f"{name} {value:.1e}" for name, value in r["diff"].items()),
            ])
            print("| " + " | ".join(map(str, rows[-1])) + " |", file=sys.stderr, flush=True)
    lines = [
        f"### {device.upper()} selective scan, float32, forward+backward ms (x the exp floor)",
        "",
        markdown_table(
            ["batch, d_inner, d_state, L", "threads", "exp floor ms", *columns, "cpp forward", "max abs diff vs torch_ref (forward)"],
            rows,
        ),
    ]
    if len(thread_counts) > 1:
        base, names = thread_counts[0], [name for name in columns if name != "naive"]

        def speed_up(shape: tuple, threads: int, key: str) -> str:
            before, after = results[shape, base].get(key, float("inf")), results[shape, threads].get(key, float("inf"))
            return f"{before / after:.2f}x" if after < float("inf") else "-"

        scaling = [
            [", ".join(map(str, shape)), f"{threads} vs {base}", speed_up(shape, threads, "floor"),
             *(speed_up(shape, threads, f"{name} fwd+bwd") for name in names)]
            for shape in shapes for threads in thread_counts[1:]
        ]
        lines += ["", "Speed-up over the first thread count, forward+backward:", "",
                  markdown_table(["batch, d_inner, d_state, L", "threads", "exp floor", *names], scaling)]
    return lines


def memory_probe(backend: str, batch: int, d_inner: int, d_state: int, length: int) -> dict:
    """Run in a fresh process: peak RSS growth (MB) of forward, then of forward+backward, above the inputs."""
    torch.set_num_threads(1)
    inputs = make_inputs(batch, d_inner, d_state, length, "cpu")
    if backend == "cpp":
        scan_kernels()  # build or load before the baseline
    base = peak_rss_mb()
    out = backend_fn(backend)(**inputs)
    after_forward = peak_rss_mb()
    out.sum().backward()
    after_backward = peak_rss_mb()
    return {"forward_mb": after_forward - base, "forward_backward_mb": after_backward - base}


def memory_table(batch: int) -> list[str]:
    rows = []
    backends = (["cpp"] if scan_kernels() is not None else []) + ["torch_ref", "torch_loop", "torch_chunked"]
    for length in (1024, 4096):
        for backend in backends:
            shape = (batch, 256, 64, length)
            cmd = [sys.executable, __file__, "--memory-probe", backend, *map(str, shape)]
            probe = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)
            full = batch * 256 * 64 * length * 4 / 2**20
            ratio = probe["forward_backward_mb"] / max(probe["forward_mb"], 1e-9)
            rows.append([backend, batch, 256, 64, length, f"{full:.0f}", f"{probe['forward_mb']:.0f}",
                         f"{probe['forward_backward_mb']:.0f}", f"{ratio:.1f}"])
    return [
        "### CPU memory: peak resident growth above the inputs (fresh process per cell)",
        "",
        markdown_table(["backend", "batch", "d_inner", "d_state", "L", "one (B,D,L,N) tensor MB", "forward MB",
                        "forward+backward MB", "fwd+bwd / fwd"], rows),
    ]


def parse_shape(text: str) -> tuple[int, int, int, int]:
    values = tuple(int(v) for v in text.split(","))
    if len(values) != 4:
        raise argparse.ArgumentTypeError(f"a shape is batch,d_inner,d_state,L, got {text!r}")
    return values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="two small shapes, one repeat, no naive loop")
    parser.add_argument("--shapes", nargs="+", type=parse_shape, help="batch,d_inner,d_state,L (default: the three reference shapes)")
    parser.add_argument("--threads", nargs="+", type=int, default=None, help="thread counts to measure (default 1 2; quick: 1)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--grid", action="store_true", help="also the L x d_inner x d_state grid at batch 2, first thread count")
    parser.add_argument("--memory", action="store_true", help="also measure memory (subprocesses)")
    parser.add_argument("--memory-probe", nargs=5, metavar=("BACKEND", "B", "D", "N", "L"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_probe:
        backend, *sizes = args.memory_probe
        print(json.dumps(memory_probe(backend, *map(int, sizes))))
        return
    threads = args.threads or ([1] if args.quick else [1, 2])
    shapes = args.shapes or (QUICK_SHAPES if args.quick else SHAPES)
    repeats = 1 if args.quick else args.repeats
    torch.set_num_threads(threads[0])
    rows = [machine_line(torch.device("cpu")) + f" Threads measured: {', '.join(map(str, threads))}.", ""]
    rows += speed_tables(shapes, threads, "cpu", repeats, args.quick)
    if args.grid:
        rows += ["", "Grid at batch 2:", ""] + speed_tables(GRID, threads[:1], "cpu", repeats, args.quick)[2:]
    if torch.cuda.is_available():
        rows += [""] + speed_tables(shapes, [torch.get_num_threads()], "cuda", repeats, args.quick)
    if args.memory:
        rows += [""] + memory_table(2)
    print("\n".join(rows))


if __name__ == "__main__":
    main()
