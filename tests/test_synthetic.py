"""The built-in synthetic benchmark: deterministic, the requested anomaly ratio, anomaly-free
training data, fast, and hard for a z-score but not for a window-based model."""
import time

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score
from sklearn.neighbors import NearestNeighbors

from data.timeseries.synthetic import ANOMALY_TYPES, SyntheticSource, generate
from util.errors import ConfigError


def test_same_seed_same_data_other_seed_other_data():
    a, b, c = generate(seed=3), generate(seed=3), generate(seed=4)
    np.testing.assert_array_equal(a.train, b.train)
    np.testing.assert_array_equal(a.test, b.test)
    np.testing.assert_array_equal(a.test_labels, b.test_labels)
    assert a.meta["anomalies"] == b.meta["anomalies"]
    assert not np.allclose(a.test, c.test)


@pytest.mark.parametrize("ratio", [0.01, 0.05, 0.1, 0.2])
def test_anomaly_ratio_is_met(ratio):
    entity = generate(anomaly_ratio=ratio, seed=1)
    assert abs(entity.test_labels.mean() - ratio) <= 0.0025


def test_labels_match_the_injected_anomalies_and_every_type_appears():
    entity = generate(anomaly_ratio=0.1, seed=0)
    labels = np.zeros_like(entity.test_labels)
    for anomaly in entity.meta["anomalies"]:
        labels[anomaly["start"] : anomaly["end"]] = 1
    np.testing.assert_array_equal(labels, entity.test_labels)
    assert {a["kind"] for a in entity.meta["anomalies"]} == set(ANOMALY_TYPES)


def test_training_part_is_anomaly_free_and_shapes_follow_the_parameters():
    clean = generate(n_features=5, train_length=3000, test_length=1000, anomaly_ratio=0.0, seed=2)
    dirty = generate(n_features=5, train_length=3000, test_length=1000, anomaly_ratio=0.1, seed=2)
    assert clean.train.shape == (3000, 5) and clean.test.shape == (1000, 5) and clean.train.dtype == np.float32
    np.testing.assert_array_equal(clean.train, dirty.train)  # injection never touches the training series
    assert clean.test_labels.sum() == 0
    changed = np.any(clean.test != dirty.test, axis=1)
    assert not changed[dirty.test_labels == 0].any()  # only labelled steps were modified


def test_only_the_requested_types_are_injected():
    entity = generate(anomaly_types=("shapelet",), seed=0)
    assert {a["kind"] for a in entity.meta["anomalies"]} == {"shapelet"}


def test_generation_is_fast():
    start = time.perf_counter()
    SyntheticSource().read()
    assert time.perf_counter() - start < 1.0


def test_bad_parameters_are_config_errors():
    with pytest.raises(ConfigError, match="wiggle"):
        SyntheticSource(anomaly_types=["wiggle"])
    with pytest.raises(ConfigError, match="anomaly_ratio"):
        SyntheticSource(anomaly_ratio=0.9)


def _per_type_auroc(entity, score):
    normal = score[entity.test_labels == 0]
    out = {}
    for kind in ANOMALY_TYPES:
        steps = np.concatenate([np.arange(a["start"], a["end"]) for a in entity.meta["anomalies"] if a["kind"] == kind])
        out[kind] = roc_auc_score(np.r_[np.zeros(len(normal)), np.ones(len(steps))], np.r_[normal, score[steps]])
    return out


def _window_nn_score(train, test, window=16):
    """Distance of each test window to its nearest training window, spread back to steps (max)."""
    def windows(x):
        return np.lib.stride_tricks.sliding_window_view(x, (window, x.shape[1]))[:, 0].reshape(-1, window * x.shape[1])

    distance = NearestNeighbors(n_neighbors=1).fit(windows(train)[::2]).kneighbors(windows(test))[0][:, 0]
    score = np.zeros(len(test))
    for i, d in enumerate(distance):
        score[i : i + window] = np.maximum(score[i : i + window], d)
    return score


def test_zscore_misses_shape_anomalies_that_a_window_model_finds():
    zscore, window = [], []
    for seed in (0, 1):
        entity = generate(anomaly_ratio=0.1, seed=seed)
        mean, std = entity.train.mean(0), entity.train.std(0)
        train, test = (entity.train - mean) / std, (entity.test - mean) / std
        zscore.append(_per_type_auroc(entity, np.abs(test).max(axis=1)))
        window.append(_per_type_auroc(entity, _window_nn_score(train, test)))
    z = {k: np.mean([r[k] for r in zscore]) for k in ANOMALY_TYPES}
    w = {k: np.mean([r[k] for r in window]) for k in ANOMALY_TYPES}
    assert z["point_global"] > 0.95
    assert z["shapelet"] < 0.65 and z["seasonal"] < 0.65 and z["point_contextual"] < 0.8
    for kind in ("point_contextual", "shapelet", "seasonal", "trend"):
        assert w[kind] > z[kind] + 0.1 and w[kind] > 0.75, (kind, w[kind], z[kind])
