"""The time-series evaluator's per-entity score scaling (evaluation.entity_scaling=val) and scored features."""
import numpy as np
import pytest
import torch

from data.timeseries.base import TimeSeriesSource
from data.timeseries.entity import Entity
from model.detectors.base import Detector
from model.detectors.baselines import IsolationForestDetector, ZScoreDetector
from trainer.run_folder import RunFolder
from trainer.ts_evaluator import SPREAD_FLOOR, validation_scaling
from util.errors import ConfigError
from util.registry import DATASETS, EVALUATORS


@DATASETS.register("_test_two_scales")
class TwoScales(TimeSeriesSource):
    """Two entities of noise, one 100x louder; each test half has one burst of 10x its noise."""

    def read(self):
        entities = []
        for k, (name, level) in enumerate((("quiet", 1.0), ("loud", 100.0))):
            rng = np.random.default_rng(k)
            series = level * rng.standard_normal((800, 2))
            labels = np.zeros(400, int)
            labels[200:230] = 1
            series[600:630] *= 10.0
            entities.append(Entity(name, series[:400], series[400:], labels))
        return entities


class Magnitude(Detector):
    """Score = mean absolute value over features: the loud entity's normal steps outscore the quiet one's bursts."""

    def feature_contributions(self, batch):
        return batch["x"].abs()


@pytest.mark.parametrize("scaling", [None, "val"])
def test_entity_scaling_puts_entities_on_one_scale_without_changing_each_ones_ranking(tmp_path, scaling):
    data = TwoScales(window=10, batch_size=64, val_fraction=0.25, scaler="none").prepare()
    evaluator = EVALUATORS.build(dict(type="timeseries", entity_scaling=scaling, baselines=False, plots=False))
    results = evaluator.evaluate(Magnitude(), data, RunFolder(tmp_path), torch.device("cpu"))
    assert all(m["auc_roc"] > 0.95 for m in results["per_entity"].values())  # monotone per entity: ranking kept
    if scaling is None:
        assert results["metrics"]["auc_roc"] < 0.8 and results["score_scaling"] == {}
    else:
        assert results["metrics"]["auc_roc"] > 0.95
        assert results["score_scaling"]["loud"]["spread"] > 50 * results["score_scaling"]["quiet"]["spread"]
        assert "entity_scaling=val" in (tmp_path / "results.md").read_text()


def test_unknown_entity_scaling_is_a_config_error():
    with pytest.raises(ConfigError, match="entity_scaling='train'"):
        EVALUATORS.build(dict(type="timeseries", entity_scaling="train"))


def test_a_near_constant_entity_cannot_divide_its_scores_by_float_noise():
    rng = np.random.default_rng(0)
    val = {"lively": rng.random(500), "other": 2 * rng.random(500), "flat": np.full(500, 0.3) + 1e-17 * rng.random(500)}
    scaling = validation_scaling(val)
    iqrs = [np.subtract(*np.percentile(v, [75, 25])) for v in val.values()]
    median_iqr = float(np.median([s for s in iqrs if s > 0]))
    assert scaling["flat"]["spread"] == pytest.approx(SPREAD_FLOOR * median_iqr)
    assert scaling["lively"]["spread"] == pytest.approx(np.subtract(*np.percentile(val["lively"], [75, 25])))
    assert validation_scaling({"alone": np.full(10, 2.0)})["alone"]["spread"] == 1.0  # nothing to compare with


@DATASETS.register("_test_labelled_feature")
class LabelledFeature(TimeSeriesSource):
    """Feature 0 carries the labelled anomaly; feature 1 (a 'command') has a larger, unlabelled burst."""

    def read(self):
        rng = np.random.default_rng(0)
        train, test = rng.standard_normal((600, 2)), rng.standard_normal((600, 2))
        labels = np.zeros(600, int)
        labels[100:120] = 1
        test[100:120, 0] += 4.0
        test[300:340, 1] += 8.0
        return [Entity("one", train, test, labels)]


@pytest.mark.parametrize("choice", ["labelled", "all"])
def test_score_features_labelled_scores_the_features_the_labels_describe(tmp_path, choice):
    data = LabelledFeature(window=20, batch_size=64, label_features=[0]).prepare()
    evaluator = EVALUATORS.build(dict(type="timeseries", score_features=choice, baselines=True, plots=False))
    detector = ZScoreDetector(n_features=2, window=20)
    detector.fit_offline(data.train_series())
    results = evaluator.evaluate(detector, data, RunFolder(tmp_path), torch.device("cpu"))
    report = (tmp_path / "results.md").read_text()
    if choice == "labelled":
        assert results["scored_features"] == [0] and results["metrics"]["auc_pr"] > 0.9
        assert results["all_features"]["metrics"]["auc_pr"] < 0.6  # the command burst outranks the anomaly
        assert results["baselines"]["zscore"]["auc_pr"] == pytest.approx(results["metrics"]["auc_pr"])  # scored alike
        assert "feature 0 only" in report and "scored from all features" in report
    else:
        assert results["scored_features"] is None and "all_features" not in results and "Scored features: all" in report


def test_a_detector_that_cannot_score_a_feature_subset_is_refused_before_scoring(tmp_path):
    data = LabelledFeature(window=20, batch_size=64, label_features=[0]).prepare()
    evaluator = EVALUATORS.build(dict(type="timeseries", baselines=False, plots=False))
    with pytest.raises(ConfigError, match="score_features=all"):
        evaluator.check_detector(IsolationForestDetector(n_features=2, window=20), data)


def test_label_features_must_index_the_features():
    with pytest.raises(ConfigError, match="label_features"):
        LabelledFeature(window=20, label_features=[5]).prepare()


@DATASETS.register("_test_repeated_values")
class RepeatedValues(TimeSeriesSource):
    """Telemetry that repeats one value for long stretches, as SMAP/MSL channels do."""

    def read(self):
        train = np.repeat(np.arange(10.0), 60)[:, None]
        test = np.repeat(np.arange(10.0), 60)[:, None]
        labels = np.zeros(600, int)
        labels[300:360] = 1
        return [Entity("flat", train, test, labels)]


def test_the_random_baseline_is_iid_uniform_without_ties_and_the_same_in_every_run(tmp_path):
    data = RepeatedValues(window=20, batch_size=64).prepare()
    evaluator = EVALUATORS.build(dict(type="timeseries", baselines=True, plots=False))
    first = evaluator._score_baseline("random", data, None)[0]
    second = evaluator._score_baseline("random", data, None)[0]
    np.testing.assert_array_equal(first["test"], second["test"])
    assert len(np.unique(first["test"])) == len(first["test"])  # a hash of the values would give 10 distinct scores
    assert 0.0 <= first["test"].min() and first["test"].max() < 1.0
