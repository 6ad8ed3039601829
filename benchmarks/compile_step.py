"""Eager vs ``torch.compile`` (Inductor) for one training step of a detector; prints a markdown table.

    python benchmarks/compile_step.py                      # KambaAD: the README's synthetic config and SMAP's paper size
    python benchmarks/compile_step.py --configs configs/maat/maat_smap.py --batch-size 8 --rounds 3

Per config, two copies of one seeded detector train on the same batch: one eager, one whose loss is
``torch.compile``d (the backward then runs AOTAutograd's compiled graph). Reported: the seconds the
first compiled step took (tracing and code generation included), the steady-state seconds per step of
each (the rows measured in turn ``--rounds`` times, each keeping its best, so that a busy machine
compares like with like), their ratio, and the relative difference of the two losses in eval mode
(no dropout) before any step. The compiled graph has no break at the selective scan
(tests/test_scan_compile.py); other graph breaks, if any, are counted in the last column.
"""
from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path
from typing import Callable

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import REPO_ROOT, add_common_arguments, apply_threads, machine_line, markdown_table, timed_loop
from util.config import load
from util.registry import DATASETS, DETECTORS, OPTIMIZERS
from util.seed import seed_everything

DEFAULT_CONFIGS = ("configs/kambaad/kambaad_synthetic.py", "configs/kambaad/kambaad_smap.py")
# SMAP's paper config trains on SMAP; its 25-channel synthetic stand-in keeps the sizes without the data.
STAND_IN = dict(type="synthetic", n_features=25, train_length=2_000, test_length=500)


def prepare(config: str, batch_size: int | None) -> tuple[torch.nn.Module, dict, dict]:
    """(seeded detector in train mode, one training batch, optimiser config) for ``config`` on CPU."""
    cfg = load(REPO_ROOT / config, [])
    if cfg["data"]["type"] != "synthetic":
        cfg["data"] = dict(STAND_IN, window=cfg["data"]["window"], batch_size=cfg["data"]["batch_size"])
    if batch_size:
        cfg["data"]["batch_size"] = batch_size
    seed_everything(cfg["seed"])
    data = DATASETS.build(cfg["data"]).prepare()
    detector = DETECTORS.build(cfg["model"], **data.model_kwargs).train()
    return detector, next(iter(data.train_loader(seed=cfg["seed"]))), cfg["trainer"]["optimizer"]


def training_step(detector: torch.nn.Module, batch: dict, optimizer_cfg: dict, compiled: bool) -> Callable[[], float]:
    """One optimiser step on ``batch``; the loss is compiled when ``compiled``."""
    optimizer = OPTIMIZERS.build(optimizer_cfg, params=[p for p in detector.parameters() if p.requires_grad])

    def loss_of(b: dict) -> torch.Tensor:
        return detector.loss(b)["loss"]

    loss_fn = torch.compile(loss_of) if compiled else loss_of

    def step() -> float:
        loss = loss_fn(batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss.item()

    return step


def eval_loss_difference(eager: torch.nn.Module, compiled: torch.nn.Module, batch: dict) -> float:
    """Relative difference of the two detectors' losses in eval mode (no dropout), before training."""
    eager.eval(), compiled.eval()
    with torch.no_grad():
        a = eager.loss(batch)["loss"]
        b = torch.compile(lambda x: compiled.loss(x)["loss"])(batch)
    eager.train(), compiled.train()
    return float((a - b).abs() / a.abs().clamp_min(1e-12))


def measure(config: str, batch_size: int | None, rounds: int, min_seconds: float) -> list:
    """One table row for ``config``."""
    eager_model, batch, optimizer_cfg = prepare(config, batch_size)
    compiled_model = copy.deepcopy(eager_model)
    difference = eval_loss_difference(eager_model, compiled_model, batch)
    torch._dynamo.reset()
    explanation = torch._dynamo.explain(lambda x: compiled_model.loss(x)["loss"])(batch)
    steps = {"eager": training_step(eager_model, batch, optimizer_cfg, False), "compiled": training_step(compiled_model, batch, optimizer_cfg, True)}
    steps["eager"]()
    start = time.perf_counter()
    steps["compiled"]()  # first call: trace, compile forward and backward
    compile_seconds = time.perf_counter() - start
    best = {name: float("inf") for name in steps}
    for _ in range(rounds):
        for name, step in steps.items():
            n, seconds = timed_loop(step, torch.device("cpu"), min_steps=2, min_seconds=min_seconds, max_steps=50)
            best[name] = min(best[name], seconds / n)
    parameters = sum(p.numel() for p in eager_model.parameters())
    return [
        config, f"{parameters:,}", batch["x"].shape[0], f"{compile_seconds:.0f}", f"{best['eager']:.3f}",
        f"{best['compiled']:.3f}", f"{best['eager'] / best['compiled']:.2f}x", f"{difference:.1e}", explanation.graph_break_count,
    ]


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", nargs="+", default=list(DEFAULT_CONFIGS), help="config files, relative to the repository")
    parser.add_argument("--batch-size", type=int, default=None, help="override the configs' batch size")
    parser.add_argument("--rounds", type=int, default=2, help="timing rounds per row, the best kept")
    parser.add_argument("--min-seconds", type=float, default=3.0, help="seconds per timing round")
    add_common_arguments(parser)
    args = parser.parse_args(argv)
    apply_threads(args.threads)
    configs = ["configs/kambaad/kambaad_synthetic.py"] if args.quick else args.configs
    rows = [measure(c, args.batch_size, 1 if args.quick else args.rounds, 0.2 if args.quick else args.min_seconds) for c in configs]
    headers = ["config", "parameters", "batch", "compile s", "eager s/step", "compiled s/step", "speed-up", "loss rel. diff", "graph breaks"]
    table = f"{machine_line(torch.device('cpu'))}, {torch.get_num_threads()} threads\n\n" + markdown_table(headers, rows)
    print(table)
    return table


if __name__ == "__main__":
    main()
