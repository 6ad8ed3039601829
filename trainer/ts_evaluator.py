"""The one evaluator of every time-series detector.

It scores every test point exactly once, sets the threshold without test labels (unless an
oracle rule is named, and then says so), computes the full metric suite per entity, on the
concatenation and as the mean over entities, scores random and z-score baselines on the same
test set (measured both ways too), and writes ``results.json``, ``results.md``, ``scores.npz``,
``scores.png`` (the first entity) and ``plots/`` (one figure per entity) into the run folder;
``check`` refuses an evaluation that cannot run before training starts, and ``finalize`` writes the
calibration ``-m predict`` reads.
"""
from __future__ import annotations

import platform
import shutil
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Subset
from tqdm import tqdm

from data.timeseries.base import TimeSeriesData
from data.timeseries.windows import fold_window_scores, identity_collate
from metric.timeseries import aggregate, compute_metrics
from metric.timeseries.period import dominant_period
from model.detectors.base import Detector
from trainer.evaluator import Evaluator
from trainer.reports import timeseries_markdown
from trainer.run_folder import RunFolder
from util import distributed as dist
from util.device import move_batch
from util.errors import ConfigError
from util.logging import get_logger
from util.plots import plot_scores
from util.registry import DETECTORS, EVALUATORS, THRESHOLDS

PROTOCOLS = ("honest", "legacy")
BASELINES = ("random", "zscore")
RANDOM_SEED = 0  # the random baseline's scores depend on this and the entity's name only
ENTITY_SCALINGS = (None, "val")
CONCATENATION = "concatenation"


def vus_windows(vus_window: int | str, test_series: dict[str, np.ndarray]) -> dict[str, int]:
    """Range-AUC/VUS buffer per entity name (``(time, features)`` test series), and of their concatenation.

    ``vus_window`` is a buffer for all, or ``"period"``: each series' dominant period (TSB-AD's
    ``find_length_rank`` on the first feature, ``metric.timeseries.period``).
    """
    if vus_window != "period":
        return dict.fromkeys([*test_series, CONCATENATION], int(vus_window))
    windows = {name: dominant_period(series) for name, series in test_series.items()}
    return windows | {CONCATENATION: dominant_period(np.concatenate(list(test_series.values())))}
SCORE_FEATURES = ("all", "labelled")
SPREAD_FLOOR = 0.01  # entity scaling: smallest spread, as a fraction of the median entity's


@torch.inference_mode()
def score_series(detector: Detector, data: TimeSeriesData, series: np.ndarray, device: torch.device, progress: bool = False, features: list[int] | None = None) -> np.ndarray:
    """One anomaly score per step of ``series`` ``(time, features)``, from ``features`` (None: all).

    Under torchrun each rank scores every ``world_size``-th window and the (start, scores) pairs
    are gathered, so every window is scored once and every point folded once.
    """
    detector.eval()
    loader = data.series_loader(series)
    windows = loader.dataset
    mine = np.arange(dist.rank(), len(windows), dist.world_size())
    if dist.world_size() > 1:
        loader = DataLoader(Subset(windows, mine.tolist()), batch_size=loader.batch_size, collate_fn=identity_collate)
    chunks = [
        detector.score(move_batch(batch, device), features=features).float().cpu().numpy()
        for batch in tqdm(loader, desc="scoring", disable=not progress or not dist.is_main(), leave=False, dynamic_ncols=True)
    ]
    scores = np.concatenate(chunks) if chunks else np.empty((0, data.window), np.float32)
    gathered = dist.all_gather_object((windows.starts.numpy()[mine], scores))
    return fold_window_scores(np.concatenate([g[1] for g in gathered]), np.concatenate([g[0] for g in gathered]), len(series))


def validation_scaling(val_scores: dict[str, np.ndarray], floor: float = SPREAD_FLOOR) -> dict[str, dict[str, float]]:
    """Per entity ``center`` (median) and ``spread`` (IQR) of its validation scores.

    No entity's spread may fall below ``floor`` times the median spread over all entities: a
    channel whose validation scores are (nearly) constant would otherwise divide its test scores
    by float noise (an IQR of 1e-17 has been seen) and outrank every other channel. Without any
    positive IQR the std stands in, then 1.
    """
    empty = [name for name, v in val_scores.items() if not len(v)]
    if empty:
        raise ConfigError(f"evaluation.entity_scaling=val needs validation scores, but entity '{empty[0]}' has none; raise data.val_fraction.")
    scores = {name: np.asarray(v, dtype=np.float64) for name, v in val_scores.items()}
    centers = {name: float(np.median(v)) for name, v in scores.items()}
    iqrs = {name: float(np.subtract(*np.percentile(v, [75, 25]))) for name, v in scores.items()}
    positive = [s for s in iqrs.values() if s > 0] or [s for s in (float(np.std(v)) for v in scores.values()) if s > 0]
    minimum = floor * float(np.median(positive)) if positive else 0.0
    return {name: {"center": centers[name], "spread": max(iqrs[name], minimum) or 1.0} for name in scores}


@EVALUATORS.register("timeseries")
class TimeSeriesEvaluator(Evaluator):
    """Evaluates a time-series detector honestly (see module docstring).

    Args:
        threshold: threshold rule config (THRESHOLDS registry); the default needs no test data.
        protocol: ``honest`` (default) or ``legacy`` (anomaly-ratio threshold over train+test
            scores, the published protocol; PA-F1 becomes the headline).
        legacy_anomaly_ratio: percent of points flagged under the legacy protocol.
        vus_window: buffer of Range-AUC and VUS: a number of steps, or ``"period"`` for each
            series' dominant period, as TSB-AD sets it (``vus_windows``).
        entity_scaling: None (default: raw scores) or ``"val"``: each entity's scores minus the
            median of its validation scores, divided by their interquartile range (floored at 1%
            of the median entity's), before thresholds and metrics, so that one model's scores on
            many channels share one scale (no test data is used).
        score_features: ``labelled`` (default): score from the features the dataset's labels
            describe (``data.label_features``; SMAP/MSL: the telemetry), reported next to the
            all-feature score; all features when the dataset declares none. ``all``: every feature.
        baselines: also evaluate random and z-score scores on the same data.
        plots: write ``plots/scores_<entity>.png``.
        max_plots: at most this many entity plots.
    """

    def __init__(
        self,
        threshold: dict | None = None,
        protocol: str = "honest",
        legacy_anomaly_ratio: float = 1.0,
        vus_window: int | str = 100,
        entity_scaling: str | None = None,
        score_features: str = "labelled",
        baselines: bool = True,
        plots: bool = True,
        max_plots: int = 8,
    ) -> None:
        if protocol not in PROTOCOLS:
            raise ConfigError(f"evaluation.protocol='{protocol}' is unknown; use one of {', '.join(PROTOCOLS)}.")
        if entity_scaling not in ENTITY_SCALINGS:
            raise ConfigError(f"evaluation.entity_scaling='{entity_scaling}' is unknown; use val (scale each entity's scores by its validation scores) or None.")
        if vus_window != "period" and (isinstance(vus_window, bool) or not isinstance(vus_window, int) or vus_window < 0):
            raise ConfigError(f"evaluation.vus_window={vus_window!r}: give a buffer in steps (an integer >= 0) or 'period' (TSB-AD's per-series period).")
        if score_features not in SCORE_FEATURES:
            raise ConfigError(f"evaluation.score_features='{score_features}' is unknown; use labelled (the features the labels describe) or all.")
        self.threshold_cfg = dict(type="anomaly_ratio", ratio=legacy_anomaly_ratio) if protocol == "legacy" else (threshold or dict(type="percentile", q=99.0))
        self.rule = THRESHOLDS.build(self.threshold_cfg)
        self.protocol, self.vus_window, self.entity_scaling, self.score_features = protocol, vus_window, entity_scaling, score_features
        self.baselines, self.plots, self.max_plots = baselines, plots, max_plots
        self.log = get_logger()

    def check(self, detector: Detector, data: TimeSeriesData) -> None:
        """Before any training step: refuse an evaluation that cannot run on ``data`` (validation
        scores needed but no validation split; a feature subset ``detector`` cannot score); warn
        when the test labels hold no anomaly."""
        needs_val = [f"evaluation.threshold.type={self.threshold_cfg['type']}"] if self.rule.uses_val_scores else []
        needs_val += ["evaluation.entity_scaling=val"] if self.entity_scaling == "val" else []
        if needs_val and any(not len(e.val) for e in data.entities):
            raise ConfigError(
                f"{' and '.join(needs_val)} need{'s' if len(needs_val) == 1 else ''} validation scores, but data.val_fraction={data.source.val_fraction} leaves no "
                "validation split. Set data.val_fraction > 0 (e.g. 0.2), or use a rule that needs none (evaluation.protocol=legacy)."
            )
        clean = [e.name for e in data.entities if not e.test_labels.any()]
        if clean:
            cut = f" data.max_points={data.source.max_points} cut each test series to its first {data.source.max_points} steps: raise it." if data.source.max_points else " Check the labels."
            if len(clean) == len(data.entities):
                self.log.warning("The test labels hold no anomaly: AUC, F1, VUS and every other metric that needs one will be n/a.%s", cut)
            else:
                shown = ", ".join(clean[:10]) + (" ..." if len(clean) > 10 else "")
                self.log.warning("%d of %d entities have no anomaly in their test labels (%s): their own metrics will be n/a.%s", len(clean), len(data.entities), shown, cut)
        self.check_detector(detector, data)

    def evaluate(self, detector: Detector, data: TimeSeriesData, folder: RunFolder, device: torch.device, info: dict[str, Any] | None = None) -> dict:
        """Score, threshold and measure; write the reports into ``folder``; return results."""
        features = self.check_detector(detector, data)
        model_scores, scaling = self._scale(self._score_all(detector, data, device, features, progress=True), data)
        windows = vus_windows(self.vus_window, {e.name: e.test for e in data.entities})
        results = {
            "detector": info.get("detector", type(detector).__name__) if info else type(detector).__name__,
            **self._measure(model_scores, data, windows),
            "protocol": self.protocol,
            "entity_scaling": self.entity_scaling,
            "score_scaling": scaling,
            "score_features": self.score_features,
            "scored_features": features,
            "label_features": data.label_features,
            "threshold_rule": self._rule_description(),
            "point_adjustment": "pa_* keys only (legacy); every other metric is computed without point adjustment",
            "vus_window": self.vus_window,
            "vus_windows": windows,
            "dataset": {"description": data.describe(), "fingerprint": data.fingerprint(), "entities": [e.name for e in data.entities]},
            "versions": {"python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__},
            **(info or {}),
        }
        if features is not None:  # the all-feature score next to the headline
            every = self._measure(self._scale(self._score_all(detector, data, device, None, progress=True), data)[0], data, windows)
            results["all_features"] = {"metrics": every["metrics"], "mean_over_entities": every["mean_over_entities"]}
        if self.baselines:
            measured = {name: self._measure(self._scale(self._score_baseline(name, data, features), data)[0], data, windows) for name in BASELINES}
            results["baselines"] = {name: m["metrics"] for name, m in measured.items()}
            results["baselines_mean_over_entities"] = {name: m["mean_over_entities"] for name, m in measured.items()}
        if not dist.is_main():
            return results
        folder.write_scores({e.name: s["test"] for e, s in zip(data.entities, model_scores)}, {e.name: e.test_labels for e in data.entities})
        folder.write_results(results, timeseries_markdown(results))
        if self.plots:
            self._plot(folder, data, model_scores, results["threshold"])
        return results

    def finalize(self, folder: RunFolder, data: TimeSeriesData, results: dict) -> None:
        """Write the calibration ``-m predict`` reads instead of the training data: threshold, window, scaler statistics."""
        folder.write_calibration({
            "threshold": results["threshold"],
            "threshold_rule": results.get("threshold_rule"),
            "window": data.window,
            "test_stride": data.test_stride,
            "batch_size": data.batch_size,
            "n_features": data.n_features,
            "columns": data.source.columns(),  # feature names, timestamp/label columns, delimiter: predict reads new files the same way
            "scalers": {e.name: {"shift": e.shift.tolist(), "scale": e.scale.tolist()} for e in data.entities},
            "score_scaling": results.get("score_scaling", {}),  # per entity (evaluation.entity_scaling=val); empty: raw scores
            "scored_features": results.get("scored_features"),  # feature indices the score reads (None: all)
        })

    # ----------------------------------------------------------------- scoring
    def _score_all(self, detector: Detector, data: TimeSeriesData, device: torch.device, features: list[int] | None, progress: bool = False) -> list[dict[str, np.ndarray]]:
        """Per entity: scores of its test and validation parts, and of its training part when
        the threshold rule needs it (the legacy train+test percentile)."""
        return [self._score_entity(detector, data, entity, device, features, progress) for entity in data.entities]

    def _parts(self, entity, data: TimeSeriesData) -> dict[str, np.ndarray]:  # noqa: ANN001
        """The series of ``entity`` to score: test, validation and (for the legacy rule) training."""
        train = entity.train if self.rule.uses_test_scores else np.empty((0, data.n_features), np.float32)
        return {"test": entity.test, "val": entity.val, "train": train}

    def _score_entity(self, detector: Detector, data: TimeSeriesData, entity, device: torch.device, features: list[int] | None, progress: bool = False) -> dict[str, np.ndarray]:  # noqa: ANN001
        return {k: score_series(detector, data, v, device, progress, features) if len(v) else np.empty(0) for k, v in self._parts(entity, data).items()}

    def _score_baseline(self, name: str, data: TimeSeriesData, features: list[int] | None) -> list[dict[str, np.ndarray]]:
        """A baseline's scores, entity by entity.

        ``random``: the random detector's ``series_scores``, independent uniform scores from a
        generator seeded by the entity's name, so they are the same in every run and never tied
        (scores hashed from the values tie wherever telemetry repeats itself). ``zscore``: each entity's own per-channel z of its raw values
        (floored as the pipeline floors it), whatever scaler the detector was given.
        """
        out = []
        for entity in data.entities:
            if name == "random":
                parts = self._parts(entity, data)
                random = DETECTORS.build(dict(type="random", seed=RANDOM_SEED), **data.model_kwargs)
                out.append(dict(zip(parts, random.series_scores(entity.name, [len(v) for v in parts.values()]))))
                continue
            baseline = DETECTORS.build(dict(type=name), **data.model_kwargs)
            baseline.use_statistics(*entity.zscore_statistics())
            out.append(self._score_entity(baseline, data, entity, torch.device("cpu"), features))
        return out

    def check_detector(self, detector: Detector, data: TimeSeriesData) -> list[int] | None:
        """The feature indices to score ``detector`` from (None: all); ``ConfigError`` if it cannot."""
        features = data.label_features if self.score_features == "labelled" else None
        detector.check_features(features)
        return features

    def _scale(self, scores: list[dict[str, np.ndarray]], data: TimeSeriesData) -> tuple[list[dict[str, np.ndarray]], dict[str, dict]]:
        """(``scores`` in the units of ``entity_scaling``, each entity's scaling: empty without one)."""
        if self.entity_scaling is None:
            return scores, {}
        scaling = validation_scaling({e.name: s["val"] for e, s in zip(data.entities, scores)})
        scaled = [{k: (v - scaling[e.name]["center"]) / scaling[e.name]["spread"] for k, v in s.items()} for e, s in zip(data.entities, scores)]
        return scaled, scaling

    def _measure(self, scores: list[dict[str, np.ndarray]], data: TimeSeriesData, windows: dict[str, int]) -> dict:
        test = np.concatenate([s["test"] for s in scores])
        labels = np.concatenate([e.test_labels for e in data.entities])
        threshold = self.rule(
            val_scores=np.concatenate([s["val"] for s in scores]),
            test_scores=test if self.rule.uses_test_scores else None,
            train_scores=np.concatenate([s["train"] for s in scores]) if self.rule.uses_test_scores else None,
            test_labels=labels if self.rule.uses_test_labels else None,
        )
        bounds = np.cumsum([0] + [len(s["test"]) for s in scores])
        per_entity = {}
        for i, (entity, s) in enumerate(zip(data.entities, scores)):
            entity_threshold = threshold[bounds[i] : bounds[i + 1]] if np.ndim(threshold) else threshold
            per_entity[entity.name] = compute_metrics(entity.test_labels, s["test"], threshold=entity_threshold, window=windows[entity.name])
        overall = per_entity[data.entities[0].name] if len(scores) == 1 else compute_metrics(labels, test, threshold=threshold, window=windows[CONCATENATION])
        return {
            "metrics": overall,
            "threshold": threshold.tolist() if np.ndim(threshold) else float(threshold),
            "mean_over_entities": aggregate(per_entity) if len(scores) > 1 else overall,
            "per_entity": per_entity,
        }

    def _rule_description(self) -> dict:
        return {
            **self.threshold_cfg,
            "uses_test_scores": bool(self.rule.uses_test_scores),
            "uses_test_labels": bool(self.rule.uses_test_labels),
            "legacy": bool(self.rule.legacy),
        }

    def _plot(self, folder: RunFolder, data: TimeSeriesData, scores: list[dict], threshold: Any) -> None:
        plot_dir = folder.plots
        plot_dir.mkdir(exist_ok=True)
        bounds = np.cumsum([0] + [len(s["test"]) for s in scores])
        for i, (entity, s) in enumerate(zip(data.entities[: self.max_plots], scores)):
            entity_threshold = np.asarray(threshold)[bounds[i] : bounds[i + 1]] if np.ndim(threshold) else threshold
            plot_scores(plot_dir / f"scores_{entity.name}.png", entity.test, entity.test_labels, s["test"], entity_threshold, f"{entity.name}: test series, true anomalies (red) and scores")
        shutil.copyfile(plot_dir / f"scores_{data.entities[0].name}.png", folder.scores_plot)
