"""Training and scoring throughput of KambaAD, MAAT, Anomaly Transformer and DCdetector on the
same data, at their papers' SMAP settings and at one equal-size setting; prints markdown tables.

    python benchmarks/throughput.py                 # SMAP (../shared/data) or a 25-channel synthetic stand-in
    python benchmarks/throughput.py --quick         # tiny models on small synthetic data (seconds)
    python benchmarks/throughput.py --settings equal --detectors kambaad anomaly_transformer

Per detector and setting, two isolated measurements (fresh process each, see benchmarks/common.py):
  * training: the configured optimiser, ``detector.loss`` and one step per batch of the real
    shuffled training loader (as ``trainer/base.py`` does, without clipping or AMP) -- windows/s,
    the projected seconds per epoch over all training windows, and the peak memory (parameters,
    optimiser state, activations);
  * scoring: ``detector.score`` under ``torch.inference_mode`` on the test loader (stride = window,
    as the evaluator) -- points/s and the peak memory.
Timing runs at least ``--min-seconds`` after one warm-up step; epochs are projected from that rate.
With ``--rounds N`` every row is measured N times, the rows in turn, and its best round is kept
(on a shared machine the ratios between rows then compare like with like).
"""
from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import (
    REPO_ROOT,
    PeakMemory,
    add_common_arguments,
    apply_threads,
    isolated,
    machine_line,
    markdown_table,
    select_device,
    smap_root,
    timed_loop,
)
from util.config import load
from util.registry import DATASETS, DETECTORS, OPTIMIZERS
from util.seed import seed_everything

DETECTORS_COMPARED = ("kambaad", "maat", "anomaly_transformer", "dcdetector")
NAMES = {"kambaad": "KambaAD", "maat": "MAAT", "anomaly_transformer": "Anomaly Transformer", "dcdetector": "DCdetector"}
# The equal-size setting: the same window, batch, width and depth for every detector (own structure kept).
EQUAL = dict(window=100, batch_size=32, d_model=128, n_heads=4, e_layers=1, d_ff=128, patch_sizes=[5, 10])
QUICK = dict(window=20, batch_size=8, d_model=16, n_heads=2, e_layers=1, d_ff=16, patch_sizes=[5])
SYNTHETIC = dict(type="synthetic", n_features=25, train_length=20_000, test_length=20_000)  # SMAP's 25 channels
QUICK_DATA = dict(type="synthetic", n_features=5, train_length=600, test_length=600)


def paper_config(detector: str, data_root: Path | None) -> dict:
    """The detector's SMAP config (``configs/<name>/<name>_smap.py``), data root pointed at ``data_root``."""
    overrides = [f"data.root={data_root}"] if data_root else []
    return load(REPO_ROOT / "configs" / detector / f"{detector}_smap.py", overrides)


def equal_config(detector: str, sizes: dict, data_cfg: dict) -> dict:
    """The paper config with ``sizes`` applied wherever the detector has the parameter."""
    cfg = paper_config(detector, None)
    model = cfg["model"]
    for key in ("d_model", "e_layers", "n_heads", "d_ff", "patch_sizes"):
        if key in model:
            model[key] = copy.deepcopy(sizes[key])
    for block in model.get("blocks", []):
        if block.get("type") == "attention":
            block["n_heads"] = sizes["n_heads"]
    cfg["data"] = dict(data_cfg, window=sizes["window"], batch_size=sizes["batch_size"])
    return cfg


def _prepare(cfg: dict, device_name: str, threads: int | None) -> tuple[Any, torch.device]:
    apply_threads(threads)
    seed_everything(cfg["seed"])
    data = DATASETS.build(cfg["data"]).prepare()
    return data, select_device(device_name)


def measure_training(cfg: dict, device_name: str, threads: int | None, min_seconds: float, max_steps: int) -> dict:
    """Training windows/s, epoch projection and peak memory of one config (run it isolated)."""
    data, device = _prepare(cfg, device_name, threads)
    loader = data.train_loader(seed=cfg["seed"])
    meter = PeakMemory(device)
    meter.start()
    detector = DETECTORS.build(cfg["model"], **data.model_kwargs).to(device).train()
    optimizer = OPTIMIZERS.build(cfg["trainer"]["optimizer"], params=[p for p in detector.parameters() if p.requires_grad])
    batches = iter(loader)

    def step() -> None:
        batch = {k: v.to(device, non_blocking=True) for k, v in next(batches).items()}
        loss = detector.loss(batch)["loss"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    step()  # warm-up: allocates gradients and optimiser state, loads kernels
    steps, seconds = timed_loop(step, device, min_steps=1, min_seconds=min_seconds, max_steps=min(max_steps, len(loader) - 1))
    rate = steps * data.batch_size / seconds
    return {
        "parameters": sum(p.numel() for p in detector.parameters()),
        "window": data.window, "batch_size": data.batch_size, "epoch_windows": len(loader.dataset),
        "train_windows_per_s": rate, "epoch_seconds": len(loader.dataset) / rate, "train_peak_mb": meter.peak_mb(), "train_steps": steps,
    }


def measure_scoring(cfg: dict, device_name: str, threads: int | None, min_seconds: float, max_steps: int) -> dict:
    """Scoring points/s and peak memory of one (untrained) config, test stride = window (run it isolated)."""
    data, device = _prepare(cfg, device_name, threads)
    loader = data.series_loader(np.concatenate([e.test for e in data.entities]))
    meter = PeakMemory(device)
    meter.start()
    detector = DETECTORS.build(cfg["model"], **data.model_kwargs).to(device).eval()
    batches = iter(loader)

    def step() -> None:
        batch = next(batches)
        detector.score({k: v.to(device, non_blocking=True) for k, v in batch.items()})

    with torch.inference_mode():
        step()  # warm-up
        steps, seconds = timed_loop(step, device, min_steps=1, min_seconds=min_seconds, max_steps=min(max_steps, len(loader) - 1))
    return {"points_per_s": steps * data.batch_size * data.window / seconds, "score_peak_mb": meter.peak_mb()}


def with_scan_backend(cfg: dict, backend: str) -> dict:
    """A copy of a KambaAD config whose Mamba blocks use the selective-scan ``backend``."""
    cfg = copy.deepcopy(cfg)
    for block in cfg["model"]["blocks"]:
        if block.get("type") == "mamba":
            block["scan_backend"] = backend
    return cfg


def settings_configs(setting: str, detectors: list[str], quick: bool, kambaad_backends: list[str]) -> dict[str, dict]:
    """Config per row for ``setting`` (``paper`` or ``equal``): one per detector, plus KambaAD
    with each of ``kambaad_backends`` (``kambaad/<backend>``)."""
    configs = _detector_configs(setting, detectors, quick)
    if "kambaad" in configs:
        configs.update({f"kambaad/{b}": with_scan_backend(configs["kambaad"], b) for b in kambaad_backends})
    return configs


def _detector_configs(setting: str, detectors: list[str], quick: bool) -> dict[str, dict]:
    root = smap_root()
    if quick:
        return {d: equal_config(d, QUICK, QUICK_DATA) for d in detectors}
    if setting == "paper":
        configs = {d: paper_config(d, root) for d in detectors}
        if root is None:  # the same shapes on the synthetic stand-in
            for cfg in configs.values():
                cfg["data"] = dict(SYNTHETIC, window=cfg["data"]["window"], batch_size=cfg["data"]["batch_size"])
        return configs
    data_cfg = dict(type="smap", root=str(root)) if root else SYNTHETIC
    return {d: equal_config(d, EQUAL, data_cfg) for d in detectors}


def _row_name(key: str) -> str:
    detector, _, backend = key.partition("/")
    return NAMES[detector] + (f" (scan {backend})" if backend else "")


def run_setting(setting: str, args: argparse.Namespace) -> str:
    """Measure every detector at ``setting``; the markdown section."""
    configs = settings_configs(setting, args.detectors, args.quick, args.kambaad_backends)
    device = select_device(args.device)
    results: dict[str, dict] = {}
    for _ in range(args.rounds):  # round-robin over the rows: each row's best round, all under like load
        for name, cfg in configs.items():
            train = isolated(measure_training, cfg, args.device, args.threads, args.min_seconds, args.max_steps, device=device)
            score = isolated(measure_scoring, cfg, args.device, args.threads, args.min_seconds / 2, args.max_steps, device=device)
            r = train | score
            print(f"{setting} {name}: {r}", file=sys.stderr, flush=True)
            best = results.setdefault(name, r)
            for key in ("train_windows_per_s", "points_per_s"):
                best[key] = max(best[key], r[key])
            best["epoch_seconds"] = best["epoch_windows"] / best["train_windows_per_s"]
    rows = []
    for name, r in results.items():
        rows.append([
            _row_name(name), f"{r['parameters']:,}", f"{r['window']} / {r['batch_size']}", f"{r['train_windows_per_s']:.1f}",
            f"{r['epoch_windows']:,}", seconds_cell(r["epoch_seconds"]), f"{r['train_peak_mb']:.0f}",
            f"{r['points_per_s']:,.0f}", f"{r['score_peak_mb']:.0f}",
        ])
    data_name = cfg["data"]["type"] + (f" ({cfg['data'].get('n_features')} channels)" if cfg["data"]["type"] == "synthetic" else "")
    lines = [
        f"### Throughput, {setting} setting, data: {data_name}",
        "",
        markdown_table(
            ["detector", "parameters", "window / batch", "train windows/s", "windows per epoch", "epoch s (projected)",
             "train peak MB", "score points/s", "score peak MB"],
            rows,
        ),
    ]
    if "anomaly_transformer" in results:
        a = results["anomaly_transformer"]
        for key in (k for k in results if k.startswith("kambaad")):
            k = results[key]
            target = " (CPU target >= 50,000)" if setting == "equal" else ""
            lines += ["", f"{_row_name(key)} trains at {k['train_windows_per_s'] / a['train_windows_per_s']:.2f}x Anomaly "
                      f"Transformer's windows/s (CPU target >= 1x; the paper's GPU claim 2.5x) and scores "
                      f"{k['points_per_s']:,.0f} points/s{target}, {k['points_per_s'] / a['points_per_s']:.2f}x Anomaly Transformer's."]
    return "\n".join(lines)


def seconds_cell(seconds: float) -> str:
    """Seconds with at least two significant digits: 9,225 / 12.3 / 0.42 / 0.0031."""
    if seconds >= 100:
        return f"{seconds:,.0f}"
    return f"{seconds:.1f}" if seconds >= 1 else f"{seconds:.2g}"


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_arguments(parser)
    parser.add_argument("--detectors", nargs="+", default=list(DETECTORS_COMPARED), choices=DETECTORS_COMPARED)
    parser.add_argument("--settings", nargs="+", default=["equal", "paper"], choices=["equal", "paper"])
    parser.add_argument("--kambaad-backends", nargs="*", default=["torch_loop"],
                        help="extra KambaAD rows with these scan backends (auto, the main row, is cpp on CPU when it builds)")
    parser.add_argument("--min-seconds", type=float, default=None, help="timed seconds per training measurement (default 4; quick 0)")
    parser.add_argument("--max-steps", type=int, default=None, help="at most this many timed batches (default 200; quick 2)")
    parser.add_argument("--rounds", type=int, default=1, help="measure every row this many times, in turn; report each row's best")
    args = parser.parse_args(argv)
    apply_threads(args.threads)
    args.min_seconds = args.min_seconds if args.min_seconds is not None else (0.0 if args.quick else 4.0)
    args.max_steps = args.max_steps if args.max_steps is not None else (2 if args.quick else 200)
    settings = ["equal"] if args.quick else args.settings
    sections = [machine_line(select_device(args.device)) + " Untrained weights (speed does not depend on them)."]
    sections += [run_setting(s, args) for s in settings]
    text = "\n\n".join(sections)
    print(text)
    return text


if __name__ == "__main__":
    main()
