"""One training step split into forward, backward and optimiser update, with the per-parameter
loop (what ``torch.optim.Adam`` runs on the CPU by default) and with the fused kernel (what
``trainer/optim.py`` now picks), at the papers' sizes; prints a markdown table (issue 24.1).

    python benchmarks/optimizer_step.py --threads 1            # KambaAD SMD, KambaAD SMAP, Anomaly Transformer SMAP
    python benchmarks/optimizer_step.py --quick                # tiny models (seconds)

Each (config, kernel) is measured in its own forked process (benchmarks/common.py) on a synthetic
batch of the config's window, batch size and channel count (SMD 38, SMAP 25): one warm-up step,
then ``--steps`` steps, each part timed separately. With ``--rounds N`` the two kernels are
measured in turn N times and each part keeps its lowest round median (on a shared machine the
loop and fused rows then compare like with like).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import REPO_ROOT, add_common_arguments, apply_threads, isolated, machine_line, markdown_table, select_device, synchronize
from util.config import load
from util.registry import DETECTORS, OPTIMIZERS
from util.seed import seed_everything

CONFIGS = {  # row name: (config, channels of its dataset)
    "KambaAD SMD": ("configs/kambaad/kambaad_smd.py", 38),
    "KambaAD SMAP": ("configs/kambaad/kambaad_smap.py", 25),
    "Anomaly Transformer SMAP": ("configs/anomaly_transformer/anomaly_transformer_smap.py", 25),
}
KERNELS = {"loop": dict(fused=False, foreach=False), "fused": dict(fused=True)}
QUICK_MODEL = {"d_model": 32, "e_layers": 1, "d_ff": 32}


def measure(config: str, channels: int, kernel: str, steps: int, threads: int | None, device_name: str, quick: bool) -> dict:
    """Median seconds of forward, backward and optimiser update of one config and kernel (run it isolated)."""
    apply_threads(threads)
    device = select_device(device_name)
    cfg = load(REPO_ROOT / config)
    model_cfg = cfg["model"] | ({k: v for k, v in QUICK_MODEL.items() if k in cfg["model"]} if quick else {})
    window, batch_size = (20, 4) if quick else (cfg["data"]["window"], cfg["data"]["batch_size"])
    seed_everything(cfg["seed"])
    detector = DETECTORS.build(model_cfg, n_features=channels, window=window).to(device).train()
    params = [p for p in detector.parameters() if p.requires_grad]
    optimizer = OPTIMIZERS.build(cfg["trainer"]["optimizer"] | KERNELS[kernel], params=params)
    batch = {"x": torch.randn(batch_size, window, channels, device=device)}
    parts: list[tuple[float, float, float]] = []
    for _ in range(steps + 1):  # the first step is a warm-up (allocates gradients and optimiser state)
        synchronize(device)
        start = time.perf_counter()
        loss = detector.loss(batch)["loss"]
        synchronize(device)
        forward = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        synchronize(device)
        backward = time.perf_counter()
        optimizer.step()
        synchronize(device)
        parts.append((forward - start, backward - forward, time.perf_counter() - backward))
    medians = [statistics.median(p[i] for p in parts[1:]) for i in range(3)]
    return {"parameters": sum(p.numel() for p in params), "window": window, "batch_size": batch_size, "parts": medians}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_arguments(parser)
    parser.add_argument("--steps", type=int, default=4, help="timed steps per measurement, after one warm-up step")
    parser.add_argument("--rounds", type=int, default=2, help="measurements per (config, kernel), kernels in turn; the lowest median per part is kept")
    parser.add_argument("--configs", nargs="*", default=list(CONFIGS), choices=list(CONFIGS), metavar="NAME", help=f"rows (default: all of {list(CONFIGS)})")
    args = parser.parse_args()
    device = select_device(args.device)
    rows = []
    for name in args.configs:
        config, channels = CONFIGS[name]
        results: dict[str, dict] = {}
        for _ in range(args.rounds):
            for kernel in KERNELS:
                r = isolated(measure, config, channels, kernel, args.steps, args.threads, args.device, args.quick, device=device)
                print(f"{name} {kernel}: {r}", file=sys.stderr, flush=True)
                best = results.setdefault(kernel, r)
                best["parts"] = [min(a, b) for a, b in zip(best["parts"], r["parts"])]
        for kernel, r in results.items():
            forward, backward, update = r["parts"]
            speedup = "" if kernel == "loop" else f"{results['loop']['parts'][2] / update:.1f}x update, {sum(results['loop']['parts']) / sum(r['parts']):.2f}x step"
            rows.append([name, f"{r['parameters'] / 1e6:.1f}M", f"{r['window']} / {r['batch_size']}", kernel,
                         f"{forward:.3f}", f"{backward:.3f}", f"{update:.3f}", f"{forward + backward + update:.3f}", speedup])
    apply_threads(args.threads)
    print(machine_line(device))
    print()
    print(markdown_table(["config", "parameters", "window / batch", "optimiser kernel", "forward s", "backward s", "optimiser s", "step s", "fused vs loop"], rows))


if __name__ == "__main__":
    main()
