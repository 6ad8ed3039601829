"""Command line: the time-series metric suite on your own labels and scores.

    python -m metric --labels labels.npy --scores scores.npy [--pred pred.npy]
                     [--threshold-rule percentile] [--threshold-q|--q 99] [--val-scores val.npy]
                     [--window 100] [--n-thresholds 250] [--json]

Inputs are one value per time step, as ``.npy``, ``.csv`` or ``.txt`` (one column, an optional
header line). The thresholded metrics use ``--pred`` when given, else the threshold of
``--threshold-rule`` (any rule of ``metric.timeseries.thresholds``; default ``percentile``).
``--threshold-q`` is the rule's main parameter: ``q`` of percentile (percent), pot and spot
(risk), ``ratio`` of anomaly_ratio (percent). Rules that need validation scores use
``--val-scores``; without it they use the test scores themselves and say so on stderr (then the
threshold has seen the test scores, though never the labels). ``best_f1`` is an oracle that
reads the labels, and is reported as such.

Output: a table, or with ``--json`` one JSON object with exactly the keys of
``metric.timeseries.METRIC_KEYS`` (undefined values are ``null``). Errors in the inputs print
one line and exit with status 2.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from metric.timeseries import METRIC_KEYS, compute_metrics
from util.errors import DataError, UserError
from util.registry import THRESHOLDS

MAIN_PARAMETER = {"percentile": "q", "anomaly_ratio": "ratio", "pot": "q", "spot": "q"}


def load_series(path: str, name: str) -> np.ndarray:
    """One value per time step from a ``.npy``, ``.csv`` or ``.txt`` file, as a 1-D array."""
    file = Path(path)
    if not file.is_file():
        raise DataError(f"--{name}: file not found: {file}.")
    suffix = file.suffix.lower()
    try:
        if suffix == ".npy":
            values = np.load(file, allow_pickle=False)
        elif suffix in (".csv", ".txt"):
            delimiter = "," if suffix == ".csv" else None
            try:
                values = np.loadtxt(file, delimiter=delimiter, ndmin=1)
            except ValueError:  # a header line
                values = np.loadtxt(file, delimiter=delimiter, ndmin=1, skiprows=1)
        else:
            raise DataError(f"--{name}: unsupported file type '{suffix}' ({file}); use .npy, .csv or .txt.")
    except (ValueError, OSError) as exc:
        raise DataError(f"--{name}: could not read {file}: {exc}") from exc
    values = np.squeeze(values)
    if values.ndim != 1:
        raise DataError(f"--{name}: {file} must hold one value per time step (one column), got shape {values.shape}.")
    bad = ~np.isfinite(values.astype(np.float64, copy=False)) if np.issubdtype(values.dtype, np.number) else None
    if bad is not None and bad.any():
        raise DataError(f"--{name}: {file} has {int(bad.sum())} NaN/inf values (first at index {int(np.argmax(bad))}); every time step needs a finite value.")
    return values


def choose_threshold(args: argparse.Namespace, labels: np.ndarray, scores: np.ndarray) -> tuple[float | np.ndarray, dict]:
    """The threshold of the chosen rule, and a description of the rule for the report."""
    cfg = {"type": args.threshold_rule}
    if args.threshold_q is not None:
        if args.threshold_rule not in MAIN_PARAMETER:
            raise DataError(f"--threshold-q does not apply to rule '{args.threshold_rule}'.")
        cfg[MAIN_PARAMETER[args.threshold_rule]] = args.threshold_q
    rule = THRESHOLDS.build(cfg)
    val_scores = load_series(args.val_scores, "val-scores") if args.val_scores else None
    if val_scores is None and not rule.uses_test_labels and args.threshold_rule != "anomaly_ratio":
        print(f"note: no --val-scores given; rule '{args.threshold_rule}' is calibrated on the test scores.", file=sys.stderr)
        val_scores = scores
    threshold = rule(
        val_scores=val_scores,
        test_scores=scores if rule.uses_test_scores else None,
        test_labels=labels if rule.uses_test_labels else None,
    )
    flags = [flag for flag, on in (("ORACLE: uses test labels", rule.uses_test_labels), ("legacy", rule.legacy)) if on]
    return threshold, {**cfg, "flags": flags}


def render_table(metrics: dict[str, float], rule: dict | None, threshold: float | np.ndarray | None) -> str:
    """The metrics as an aligned two-column table (values in %)."""
    width = max(map(len, METRIC_KEYS))
    lines = [f"{'metric':<{width}}  value (%)", "-" * (width + 11)]
    lines += [f"{key:<{width}}  {'n/a' if np.isnan(value) else f'{100 * value:8.2f}'}" for key, value in metrics.items()]
    if rule is None:
        source = "the given --pred"
    else:
        value = f"{threshold:.6g}" if np.ndim(threshold) == 0 else "per point"
        source = ", ".join(f"{k}={v}" for k, v in rule.items() if k != "flags") + f" (threshold {value})" + "".join(f" [{f}]" for f in rule["flags"])
    lines.append(f"thresholded metrics from {source}; pa_* and pak_auc are point-adjusted (legacy, inflated)")
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m metric", description=__doc__.split("\n\n")[0])
    parser.add_argument("--labels", required=True, help="ground truth, 1 = anomalous (.npy/.csv/.txt)")
    parser.add_argument("--scores", required=True, help="anomaly scores, higher = more anomalous")
    parser.add_argument("--pred", help="binary predictions; overrides the threshold rule")
    parser.add_argument("--threshold-rule", default="percentile", help=f"one of: {', '.join(THRESHOLDS.names())} (default percentile)")
    parser.add_argument("--threshold-q", "--q", type=float, help="the rule's main parameter (see module docstring)")
    parser.add_argument("--val-scores", help="validation scores for the threshold rule")
    parser.add_argument("--window", type=int, default=100, help="Range-AUC buffer and largest VUS buffer (default 100)")
    parser.add_argument("--n-thresholds", type=int, default=250, help="thresholds per Range-AUC curve (default 250)")
    parser.add_argument("--json", action="store_true", help="print one JSON object with exactly the metric keys")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        labels = load_series(args.labels, "labels")
        scores = load_series(args.scores, "scores")
        if args.pred:
            pred, threshold, rule = load_series(args.pred, "pred"), None, None
        else:
            if len(labels) != len(scores):
                raise DataError(f"Length mismatch: labels has {len(labels)}, scores has {len(scores)} points; they must be equal.")
            pred, (threshold, rule) = None, choose_threshold(args, labels, scores)
        metrics = compute_metrics(labels, scores, pred=pred, threshold=threshold, window=args.window, n_thresholds=args.n_thresholds)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps({k: (v if np.isfinite(v) else None) for k, v in metrics.items()}, indent=2))
    else:
        print(render_table(metrics, rule, threshold))
    return 0


if __name__ == "__main__":
    sys.exit(main())
