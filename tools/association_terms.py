"""Which term of an association-discrepancy score ranks the anomalies of a finished run.

Anomaly Transformer's score (and MAAT's) is ``softmax_W(-T * discrepancy) * reconstruction error``
per step. This tool scores the run's test set once more, every step exactly once (windows at
stride ``window``), and prints AUC-ROC and AUC-PR over the concatenated test steps of each term
alone and of their product at several temperatures ``T`` (0: a uniform weight, so the product
ranks as the reconstruction error alone; 1: the paper; 50: the released solver), with the terms'
medians on normal and anomalous steps and the share of exact zeros. Threshold-free, no point
adjustment. ``model.temperature=T`` with ``-m test`` gives any of these products the full report.

    python tools/association_terms.py runs/anomaly_transformer_smd_cpu/<timestamp> [--set data.root=...]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from loss.minimax import step_discrepancy  # noqa: E402
from model.detectors.association import association_weight  # noqa: E402
from trainer.run_folder import RunFolder  # noqa: E402


def term_scores(detector: torch.nn.Module, windows: torch.Tensor, temperatures: list[float]) -> dict[str, np.ndarray]:
    """Per-step terms of ``windows`` ``(N, W, F)``, flattened to ``N * W`` steps."""
    out = detector({"x": windows})
    error = (out["recon"] - windows).pow(2).mean(-1)
    terms = {"reconstruction error": error, "discrepancy": step_discrepancy(out["series"], out["prior"])}
    for t in temperatures:
        weight = association_weight(out, t)
        terms[f"weight, T={t:g}"] = weight
        terms[f"score, T={t:g}"] = weight * error
    return {name: value.reshape(-1).double().numpy() for name, value in terms.items()}


def collect(run_dir: Path, overrides: list[str], temperatures: list[float], batch_size: int = 64) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """(terms over every entity's test steps, their labels) of the run's best checkpoint (each
    entity's own under ``entity_mode=separate``)."""
    from trainer.engine import prepare_data, restore
    from util.config import load
    from util.errors import ConfigError
    from util.registry import DETECTORS

    folder = RunFolder(run_dir)
    cfg = load(folder.config, overrides)
    if cfg["model"]["type"] not in ("anomaly_transformer", "maat"):
        raise ConfigError(f"{run_dir} is a {cfg['model']['type']} run; this tool reads Anomaly Transformer and MAAT runs (their score is weight x error).")
    data = prepare_data(cfg)
    detector = DETECTORS.build(cfg["model"], **data.model_kwargs).eval()
    separate = folder.has_entities()
    if not separate:
        restore(detector, folder.best, cfg["model"], torch.device("cpu"))
    parts, labels = {}, []
    window = data.window
    for entity in data.entities:
        if separate:
            restore(detector, folder.entity(entity.name).best, cfg["model"], torch.device("cpu"))
        usable = len(entity.test) // window * window
        windows = torch.from_numpy(entity.test[:usable].reshape(-1, window, entity.test.shape[1]))
        with torch.no_grad():
            for start in range(0, len(windows), batch_size):
                for name, values in term_scores(detector, windows[start:start + batch_size], temperatures).items():
                    parts.setdefault(name, []).append(values)
        labels.append(entity.test_labels[:usable].astype(bool))
    return {name: np.concatenate(chunks) for name, chunks in parts.items()}, np.concatenate(labels)


def markdown(terms: dict[str, np.ndarray], labels: np.ndarray) -> str:
    """One row per term: AUC-ROC, AUC-PR (%), medians on normal and anomalous steps, zeros (%)."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    lines = ["| term | AUC-ROC | AUC-PR | median, normal steps | median, anomalous steps | exact zeros |", "|---|---|---|---|---|---|"]
    for name, values in terms.items():
        lines.append(f"| {name} | {100 * roc_auc_score(labels, values):.1f} | {100 * average_precision_score(labels, values):.1f} | "
                     f"{np.median(values[~labels]):.3g} | {np.median(values[labels]):.3g} | {100 * np.mean(values == 0):.1f}% |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Print the table of one run folder."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("run", type=Path, help="a finished Anomaly Transformer or MAAT run folder")
    parser.add_argument("--temperatures", nargs="+", type=float, default=[0.0, 1.0, 50.0], help="softmax temperatures of the weight")
    parser.add_argument("--set", nargs="*", default=[], metavar="key=value", help="overrides of the run's config (e.g. data.root=...)")
    args = parser.parse_args(argv)
    terms, labels = collect(args.run, args.set, args.temperatures)
    print(f"{args.run}: {len(labels):,} test steps, {100 * labels.mean():.1f}% anomalous\n")
    print(markdown(terms, labels))
    return 0


if __name__ == "__main__":
    sys.exit(main())
