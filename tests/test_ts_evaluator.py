"""The time-series evaluator's per-entity score scaling (evaluation.entity_scaling=val)."""
import numpy as np
import pytest
import torch

import trainer  # noqa: F401  (registers the evaluators)
from data.timeseries.base import Entity, TimeSeriesSource
from model.detectors.base import Detector
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

    def score(self, batch):
        return batch["x"].abs().mean(-1)


@pytest.mark.parametrize("scaling", [None, "val"])
def test_entity_scaling_puts_entities_on_one_scale_without_changing_each_ones_ranking(tmp_path, scaling):
    data = TwoScales(window=10, batch_size=64, val_fraction=0.25, scaler="none").prepare()
    evaluator = EVALUATORS.build(dict(type="timeseries", entity_scaling=scaling, baselines=False, plots=False))
    results = evaluator.evaluate(Magnitude(), data, tmp_path, torch.device("cpu"))
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
