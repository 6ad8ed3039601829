"""The ``results.md`` reports of the two evaluators, rendered from their results (as in ``results.json``).

Columns come from the metric declarations (``metric.timeseries.METRICS``, ``metric.image.METRICS``):
a metric's title heads its column, its flags say in which time-series table it appears.
"""
from __future__ import annotations

from typing import Any, Iterable

import numpy as np

from metric import image, timeseries
from metric.declaration import Metric

THRESHOLD_FREE = timeseries.METRICS.where(needs_threshold=False)
AT_THRESHOLD = timeseries.METRICS.where(needs_threshold=True, point_adjusted=False)
POINT_ADJUSTED = timeseries.METRICS.where(point_adjusted=True)
SUMMARY = timeseries.METRICS.pick(*timeseries.SUMMARY_KEYS)
RULE_FLAGS = ("uses_test_scores", "uses_test_labels", "legacy")


def cell(value: Any) -> str:
    """A metric value in % with two decimals; ``n/a`` when missing or undefined (NaN)."""
    return "n/a" if value is None or not np.isfinite(value) else f"{100 * value:.2f}"


def table(rows: dict[str, dict], metrics: Iterable[Metric], first: str = "detector") -> list[str]:
    """A markdown table: one row per ``rows`` item (its name, then its metrics), one column per metric
    headed by its title (marked ``(legacy)`` when point-adjusted, unless every column is)."""
    metrics = tuple(metrics)
    only_legacy = all(m.point_adjusted for m in metrics)  # no need to mark each column then
    titles = [m.title if only_legacy else m.label for m in metrics]
    lines = [f"| {first} | " + " | ".join(titles) + " |", "|---" * (len(metrics) + 1) + "|"]
    lines += [f"| {name} | " + " | ".join(cell(values.get(m.key)) for m in metrics) + " |" for name, values in rows.items()]
    return lines


def _buffer_text(results: dict) -> str:
    if results["vus_window"] != "period":
        return str(results["vus_window"])
    windows = results.get("vus_windows", {})
    shown = ", ".join(f"{name} {w}" for name, w in list(windows.items())[:8])
    return f"each series' dominant period (TSB-AD's find_length_rank): {shown}{' ...' if len(windows) > 8 else ''}"


def _features_text(features: list[int] | None) -> str:
    return "all" if features is None else "feature " + ", ".join(map(str, features)) + " only (the features the labels describe)"


def _rule_text(rule: dict) -> str:
    """The threshold rule's settings, then what it reads beyond the validation scores."""
    settings = ", ".join(f"{k}={v}" for k, v in rule.items() if k not in RULE_FLAGS)
    flags = [text for flag, text in (("uses_test_labels", "ORACLE: uses test labels"), ("uses_test_scores", "uses test scores (no labels)"), ("legacy", "legacy rule")) if rule[flag]]
    return settings + (f" ({'; '.join(flags)})" if flags else " (validation scores only: no test data)")


def timeseries_markdown(results: dict) -> str:
    """The time-series results as a markdown report (values in %)."""
    rows = {results["detector"]: results["metrics"], **{f"{k} (baseline)": v for k, v in results.get("baselines", {}).items()}}
    out = [
        f"# Results: {results['detector']}",
        "",
        f"- Data: {results['dataset']['description']}",
        f"- Protocol: {results['protocol']}; threshold rule: {_rule_text(results['threshold_rule'])}",
        "- Point adjustment: NOT applied, except in the separate legacy block.",
        *(["- Scores: each entity's minus the median of its validation scores, over their IQR (evaluation.entity_scaling=val)."] if results.get("entity_scaling") == "val" else []),
        f"- Scored features: {_features_text(results.get('scored_features'))} (evaluation.score_features={results.get('score_features', 'all')}).",
        f"- Range-AUC/VUS buffer: {_buffer_text(results)}. Values in %; n/a = undefined (e.g. no anomaly in the test labels).",
        "",
        "## Threshold-free (continuous scores)",
        *table(rows, THRESHOLD_FREE),
        "",
        "## At the threshold, no point adjustment",
        *table(rows, AT_THRESHOLD),
        "",
        "## Legacy: point-adjusted (inflated; a random score reaches high PA-F1, see docs/evaluation.md)",
        *table(rows, POINT_ADJUSTED),
    ]
    if "all_features" in results:
        every = {f"{results['detector']}, all features": results["all_features"]["metrics"]} if "metrics" in results["all_features"] else {}
        if len(results["per_entity"]) > 1:
            every[f"{results['detector']}, all features, mean over entities"] = results["all_features"]["mean_over_entities"]
        out += ["", "## The same detector scored from all features (training always uses all)", *table(every, THRESHOLD_FREE + timeseries.METRICS.pick("f1"))]
    if len(results["per_entity"]) > 1:
        baseline_means = {f"{k} (baseline), mean over entities": v for k, v in results.get("baselines_mean_over_entities", {}).items()}
        entity_rows = {"mean over entities": results["mean_over_entities"], **baseline_means, "concatenation": results["metrics"], **results["per_entity"]}
        out += ["", "## Per entity", *table(entity_rows, SUMMARY)]
    return "\n".join(out) + "\n"


def image_markdown(results: dict) -> str:
    """The image results: per-class table in % with the mean over classes as the last row."""
    lines = [
        f"# Results: {results['detector']}",
        "",
        f"- Data: {results['dataset']['description']}",
        f"- Anomaly maps smoothed with a Gaussian of sigma {results['gaussian_sigma']} px; image score = map maximum unless the detector gives one.",
        "- F1-max picks the best threshold on the test set (an oracle, as in ADer); every other column is threshold-free.",
        "- Values in %; n/a = undefined (a class without defective or without normal test images).",
        "",
        *table({**results["per_class"], "**mean**": results["metrics"]}, image.METRICS, first="class"),
    ]
    return "\n".join(lines) + "\n"
