"""Time and memory per window against window length for attention-only, Mamba-only and full
KambaAD stacks; prints a markdown table and the fitted growth exponents.

    python benchmarks/scaling.py            # W in 100 ... 3200 (doubling), d_model 64, 8 channels, batch 2
    python benchmarks/scaling.py --quick    # W in {32, 64}, tiny (seconds)

Stacks (KambaAD detectors, one layer, so the same code is measured as in training):
  * ``attention``  -- blocks [attention];           * ``mamba`` -- blocks [mamba];
  * ``kambaad``    -- blocks [kan_window, attention, mamba] (the encoder), no reconstructor;
  * ``kambaad+rec`` -- the same plus the patch reconstructor (patch 8, stride 4), the full detector.
Per stack and length, two isolated measurements: the time of a training forward+backward (best of
the timed repeats after a warm-up, per window), and the peak resident memory of one forward+backward
above the parameters and gradients, per window (freed memory is returned to the OS in that
process, see ``return_freed_memory``). Exponents are least-squares slopes of log(value) against
log(W), over all lengths and over the three longest (small windows are dominated by fixed costs).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import (
    PeakMemory,
    add_common_arguments,
    apply_threads,
    growth_exponent,
    isolated,
    machine_line,
    markdown_table,
    return_freed_memory,
    select_device,
    timed_loop,
)
from util.registry import DETECTORS

STACKS = {
    "attention": dict(blocks=[dict(type="attention", n_heads=4)], use_reconstructor=False),
    "mamba": dict(blocks=[dict(type="mamba", d_state=16)], use_reconstructor=False),
    "kambaad": dict(blocks=[dict(type="kan_window"), dict(type="attention", n_heads=4), dict(type="mamba", d_state=16)], use_reconstructor=False),
    "kambaad+rec": dict(
        blocks=[dict(type="kan_window"), dict(type="attention", n_heads=4), dict(type="mamba", d_state=16)],
        reconstructor=dict(type="patch_ci", patch_len=8, stride=4),
    ),
}


def _build(stack: str, window: int, sizes: dict, device: torch.device) -> tuple[torch.nn.Module, dict]:
    torch.manual_seed(0)
    model = DETECTORS.build(dict(type="kambaad", d_model=sizes["d_model"], e_layers=1, dropout=0.0, **STACKS[stack]), n_features=sizes["n_features"], window=window)
    batch = {"x": torch.randn(sizes["batch"], window, sizes["n_features"], device=device)}
    return model.to(device).train(), batch


def _train_pass(model: torch.nn.Module, batch: dict) -> None:
    model.zero_grad(set_to_none=False)
    model.loss(batch)["loss"].backward()


def time_per_window(stack: str, window: int, sizes: dict, device_name: str, threads: int | None, min_seconds: float) -> float:
    """Seconds of one training forward+backward per window (run it isolated)."""
    apply_threads(threads)
    device = select_device(device_name)
    model, batch = _build(stack, window, sizes, device)
    _train_pass(model, batch)
    steps, seconds = timed_loop(lambda: _train_pass(model, batch), device, min_steps=2, min_seconds=min_seconds, max_steps=1000)
    return seconds / steps / sizes["batch"]


def memory_per_window(stack: str, window: int, sizes: dict, device_name: str, threads: int | None) -> dict:
    """Peak MB of one forward+backward above parameters and gradients, per window (run it isolated)."""
    apply_threads(threads)
    return_freed_memory()
    device = select_device(device_name)
    model, batch = _build(stack, window, sizes, device)
    _train_pass(model, batch)  # allocates the gradients
    meter = PeakMemory(device)
    meter.start()
    _train_pass(model, batch)
    return {"mb": meter.peak_mb() / sizes["batch"], "parameters": sum(p.numel() for p in model.parameters())}


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_arguments(parser)
    parser.add_argument("--stacks", nargs="+", default=list(STACKS), choices=list(STACKS))
    parser.add_argument("--lengths", nargs="+", type=int, default=None, help="window lengths (default 100 ... 3200)")
    parser.add_argument("--batch", type=int, default=None, help="windows per pass (default 2; quick 2)")
    parser.add_argument("--min-seconds", type=float, default=None, help="timed seconds per cell (default 1; quick 0)")
    args = parser.parse_args(argv)
    apply_threads(args.threads)
    lengths = args.lengths or ([32, 64] if args.quick else [100, 200, 400, 800, 1600, 3200])
    sizes = dict(d_model=8, n_features=2, batch=args.batch or 2) if args.quick else dict(d_model=64, n_features=8, batch=args.batch or 2)
    min_seconds = args.min_seconds if args.min_seconds is not None else (0.0 if args.quick else 1.0)
    device = select_device(args.device)
    rows, exponents = [], []
    for stack in args.stacks:
        times, mems = [], []
        for window in lengths:
            seconds = isolated(time_per_window, stack, window, sizes, args.device, args.threads, min_seconds, device=device)
            memory = isolated(memory_per_window, stack, window, sizes, args.device, args.threads, device=device)
            times.append(seconds)
            mems.append(memory["mb"])
            rows.append([stack, window, f"{memory['parameters']:,}", f"{seconds * 1e3:.2f}", f"{memory['mb']:.2f}"])
            print(f"{stack} W={window}: {seconds * 1e3:.2f} ms/window, {memory['mb']:.2f} MB/window", file=sys.stderr, flush=True)
        tail = slice(-3, None)
        exponents.append([
            stack, f"{growth_exponent(lengths, times):.2f}", f"{growth_exponent(lengths[tail], times[tail]):.2f}",
            f"{growth_exponent(lengths, mems):.2f}", f"{growth_exponent(lengths[tail], mems[tail]):.2f}",
        ])
    text = "\n".join([
        f"### Scaling with window length (d_model {sizes['d_model']}, {sizes['n_features']} channels, batch {sizes['batch']}, "
        "one layer, training forward+backward)",
        "",
        machine_line(device),
        "",
        markdown_table(["stack", "window", "parameters", "time ms / window", "peak MB / window"], rows),
        "",
        "Fitted growth exponents (value ~ W^k); the Mamba stack's target is k <= 1.2, attention's is ~2:",
        "",
        markdown_table(["stack", "time k (all W)", "time k (3 longest)", "memory k (all W)", "memory k (3 longest)"], exponents),
    ])
    print(text)
    return text


if __name__ == "__main__":
    main()
