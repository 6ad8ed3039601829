"""Time-series metrics: hand-computed cases, degenerate inputs, purity, threshold rules, TSB-AD agreement."""
from __future__ import annotations

import math

import numpy as np
import pytest

from metric.timeseries import METRIC_KEYS, aggregate, compute_metrics
from metric.timeseries.affiliation import affiliation_precision_recall
from metric.timeseries.pointwise import adjust_predictions, event_f1, pak_auc, precision_recall_f1
from metric.timeseries.vus import range_auc_curves
from util.errors import DataError
from util.registry import THRESHOLDS


def arr(*values: int) -> np.ndarray:
    return np.array(values, dtype=np.int64)


def random_case(rng: np.random.Generator, length: int, n_segments: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Random labels with a few segments away from both ends, and uniform scores."""
    labels = np.zeros(length, dtype=np.int64)
    for start in rng.integers(1, length - 40, n_segments):
        labels[start : start + rng.integers(1, 30)] = 1
    return labels, rng.random(length)


# ----------------------------------------------------------------- hand-computed, one metric at a time
def test_pointwise_precision_recall_f1_by_hand():
    # TP = 1 (index 1), 2 predicted, 3 anomalous: P = 1/2, R = 1/3, F1 = 2PR/(P+R) = 0.4
    p, r, f1 = precision_recall_f1(arr(0, 1, 1, 0, 0, 1).astype(bool), arr(0, 1, 0, 1, 0, 0).astype(bool))
    assert (p, r) == (0.5, pytest.approx(1 / 3)) and f1 == pytest.approx(0.4)


def test_point_adjustment_covers_a_segment_starting_at_index_0():
    labels, pred = arr(1, 1, 1, 0, 0, 1, 1, 0), arr(0, 0, 1, 0, 1, 0, 0, 0)
    adjusted = adjust_predictions(labels.astype(bool), pred.astype(bool))
    np.testing.assert_array_equal(adjusted, [1, 1, 1, 0, 1, 0, 0, 0])  # TSB-AD 1.5 leaves index 0 at 0
    metrics = compute_metrics(labels, np.zeros(8), pred=pred)
    # TP = 3 of 4 predicted, 3 of 5 anomalous
    assert metrics["pa_precision"] == 0.75 and metrics["pa_recall"] == 0.6
    assert metrics["pa_f1"] == pytest.approx(2 * 0.75 * 0.6 / 1.35)


def test_pa_percent_k_and_its_area_by_hand():
    labels, pred = np.zeros(10, dtype=bool), np.zeros(10, dtype=bool)
    labels[:4], pred[0] = True, True  # 25 % of the segment found
    # F1(K): K=0, 20 adjust the segment -> 1; K=50, 80, 100 do not -> P=1, R=1/4, F1=0.4
    # trapezoid over K/100 = 0, .2, .5, .8, 1: .2*1 + .3*.7 + .3*.4 + .2*.4 = 0.61
    assert pak_auc(labels, pred) == pytest.approx(0.61)
    assert adjust_predictions(labels, pred, k=20).sum() == 4 and adjust_predictions(labels, pred, k=50).sum() == 1


def test_event_f1_counts_a_segment_ending_the_series_whole():
    labels, pred = arr(1, 1, 0, 0, 1, 0, 0, 1, 1), arr(0, 1, 0, 1, 0, 0, 0, 0, 1)
    # 2 of 3 segments hit (the last one only at its final point, which TSB-AD 1.5 drops);
    # point precision 2/3 -> F1 2/3
    assert event_f1(labels.astype(bool), pred.astype(bool)) == pytest.approx(2 / 3)


def test_affiliation_prediction_after_the_event_by_hand():
    # T = 10, event [4, 6), prediction [7, 8); one zone [0, 10) with 4 units each side of the event.
    # precision: y in [7, 8) is d = y - 6 in [1, 2) away; P(dist(X, gt) >= d) = 2 (4 - d) / 10,
    #   mean over d in [1, 2] = 0.5.
    # recall: x in [4, 6) is 7 - x from the prediction; P(|X - x| >= 7 - x) = ((2x - 7) + 3) / 10,
    #   mean over x in [4, 6] = 0.6.
    labels, pred = np.zeros(10, dtype=np.int64), np.zeros(10, dtype=np.int64)
    labels[4:6], pred[7] = 1, 1
    assert affiliation_precision_recall(labels, pred) == (pytest.approx(0.5), pytest.approx(0.6))
    assert compute_metrics(labels, np.zeros(10), pred=pred)["affiliation_f1"] == pytest.approx(2 * 0.5 * 0.6 / 1.1)


def test_affiliation_prediction_inside_the_event_by_hand():
    # prediction [4, 5) inside event [4, 6): precision 1; recall: [4, 5) covered (1), and x in [5, 6)
    # is x - 5 away: P(|X - x| >= x - 5) = (5 + (15 - 2x)) / 10, mean over [5, 6] = 0.9 -> 0.95
    labels, pred = np.zeros(10, dtype=np.int64), np.zeros(10, dtype=np.int64)
    labels[4:6], pred[4] = 1, 1
    assert affiliation_precision_recall(labels, pred) == (pytest.approx(1.0), pytest.approx(0.95))


def test_range_auc_and_vus_of_a_perfect_ranking():
    labels = np.zeros(20, dtype=bool)
    labels[5:8] = True
    # every rank is a threshold: all anomalies rank first, so TPR reaches 1 at FPR 0 and
    # precision is 1 while recall grows: every Range-AUC is 1
    roc, pr = range_auc_curves(labels, labels + 0.01 * np.arange(20), window=0, n_thresholds=20)
    assert roc.tolist() == [1.0] and pr.tolist() == [pytest.approx(1.0)]


def test_vus_buffer_rewards_a_near_miss():
    labels = np.zeros(300, dtype=np.int64)
    labels[100:110] = 1
    near = np.zeros(300)
    near[112:118] = 1.0  # just after the event
    metrics = compute_metrics(labels, near, threshold=0.5, window=20)
    assert metrics["auc_pr"] < 0.1 < metrics["vus_pr"] < metrics["range_auc_pr"]


# ----------------------------------------------------------------- suite: keys, degenerate inputs, errors
def test_compute_metrics_returns_exactly_the_keys():
    labels, scores = random_case(np.random.default_rng(0), 400)
    metrics = compute_metrics(labels, scores, threshold=0.9)
    assert tuple(metrics) == METRIC_KEYS and len(METRIC_KEYS) == 17
    assert all(isinstance(v, float) and 0 <= v <= 1 for v in metrics.values())


def test_threshold_may_be_one_value_per_point():
    labels, scores = random_case(np.random.default_rng(1), 300)
    per_point = compute_metrics(labels, scores, threshold=np.full(300, 0.8))
    assert per_point == compute_metrics(labels, scores, threshold=0.8) == compute_metrics(labels, scores, pred=scores >= 0.8)


def test_inputs_are_never_modified():
    labels, scores = random_case(np.random.default_rng(2), 300)
    labels[0] = 1  # a segment at index 0 exercises the point adjustment
    pred = (scores > 0.7).astype(np.int64)
    copies = [a.copy() for a in (labels, scores, pred)]
    for a in (labels, scores, pred):
        a.setflags(write=False)  # an in-place write would raise
    compute_metrics(labels, scores, pred=pred)
    compute_metrics(labels, scores, threshold=0.5)
    for original, copy in zip((labels, scores, pred), copies):
        np.testing.assert_array_equal(original, copy)


def test_labels_without_anomaly_give_nan_not_a_crash():
    metrics = compute_metrics(np.zeros(50, dtype=np.int64), np.linspace(0, 1, 50), threshold=0.9)
    assert metrics["precision"] == 0.0  # something was predicted, all of it false
    nan_keys = [k for k, v in metrics.items() if np.isnan(v)]
    assert set(nan_keys) == set(METRIC_KEYS) - {"precision", "pa_precision"}


def test_constant_scores_and_empty_predictions_have_documented_values():
    labels = np.zeros(100, dtype=np.int64)
    labels[40:50] = 1
    metrics = compute_metrics(labels, np.ones(100), threshold=2.0)  # nothing predicted
    assert metrics["auc_roc"] == 0.5 and metrics["auc_pr"] == pytest.approx(0.1)
    assert np.isfinite(metrics["vus_roc"]) and np.isfinite(metrics["vus_pr"])
    assert metrics["precision"] == metrics["f1"] == metrics["affiliation_f1"] == metrics["affiliation_recall"] == 0.0
    assert np.isnan(metrics["affiliation_precision"])


@pytest.mark.parametrize(
    "labels, scores, kwargs, message",
    [
        (np.zeros(5), np.zeros(4), dict(threshold=0.5), "as long as"),
        (np.zeros(5), np.array([0, 1, np.nan, 0, 0]), dict(threshold=0.5), "NaN/inf"),
        (np.zeros(5), np.array([0, 1, np.inf, 0, 0]), dict(threshold=0.5), "NaN/inf"),
        (np.array([0, 2, 0, 0, 0]), np.zeros(5), dict(threshold=0.5), "only 0 and 1"),
        (np.zeros(5), np.zeros(5), dict(pred=np.zeros(4)), "as long as"),
        (np.zeros(5), np.zeros(5), dict(threshold=np.zeros(3)), "as long as"),
        (np.zeros(5), np.zeros(5), {}, "pred"),
    ],
)
def test_invalid_inputs_raise_data_error(labels, scores, kwargs, message):
    with pytest.raises(DataError, match=message):
        compute_metrics(labels, scores, **kwargs)


def test_aggregate_is_a_nan_aware_mean():
    a, b = dict.fromkeys(METRIC_KEYS, 0.2), dict.fromkeys(METRIC_KEYS, 0.6)
    b["recall"], a["vus_pr"], b["vus_pr"] = float("nan"), float("nan"), float("nan")
    mean = aggregate({"a": a, "b": b})
    assert mean["f1"] == pytest.approx(0.4) and mean["recall"] == 0.2 and np.isnan(mean["vus_pr"])


# ----------------------------------------------------------------- threshold rules
def test_rules_declare_what_they_look_at():
    flags = {name: (THRESHOLDS.get(name).uses_test_scores, THRESHOLDS.get(name).uses_test_labels, THRESHOLDS.get(name).legacy) for name in THRESHOLDS.names()}
    assert flags == {
        "percentile": (False, False, False),
        "pot": (False, False, False),
        "anomaly_ratio": (True, False, True),
        "spot": (True, False, False),
        "best_f1": (True, True, False),
    }


def test_percentile_and_anomaly_ratio():
    val, train, test = np.arange(101.0), np.zeros(50), np.ones(50)
    assert THRESHOLDS.build(dict(type="percentile", q=90))(val) == 90.0
    # (100 - 40)-th percentile of 50 zeros then 50 ones lies among the ones
    assert THRESHOLDS.build(dict(type="anomaly_ratio", ratio=40))(val, test_scores=test, train_scores=train) == 1.0
    with pytest.raises(DataError, match="validation scores"):
        THRESHOLDS.build(dict(type="percentile"))(np.empty(0))


def test_pot_recovers_an_exponential_tail_quantile():
    scores = np.random.default_rng(0).exponential(size=20000)
    threshold = THRESHOLDS.build(dict(type="pot", q=1e-3, level=0.98))(scores)
    assert threshold == pytest.approx(-np.log(1e-3), rel=0.1)  # P(X > z) = q for Exp(1)


def test_spot_streams_per_point_or_returns_the_final_threshold():
    rng = np.random.default_rng(1)
    val, test = rng.exponential(size=2000), rng.exponential(size=300)
    test[150] = 50.0  # an alarm: must not be learnt from
    per_point = THRESHOLDS.build(dict(type="spot"))(val, test_scores=test)
    final = THRESHOLDS.build(dict(type="spot", per_point=False))(val, test_scores=test)
    initial = THRESHOLDS.build(dict(type="pot"))(val)
    assert per_point.shape == (300,) and per_point[0] == pytest.approx(initial)
    assert per_point[151] == per_point[150] and np.isfinite(final)


def test_best_f1_is_an_oracle_on_the_test_labels():
    scores, labels = np.array([0.1, 0.9, 0.8, 0.2, 0.85]), arr(0, 1, 1, 0, 0)
    # >= 0.8 flags 3 points with 2 true (F1 0.8); >= 0.9 flags 1 true (F1 2/3)
    assert THRESHOLDS.build(dict(type="best_f1"))(None, test_scores=scores, test_labels=labels) == 0.8


# ----------------------------------------------------------------- agreement with TSB-AD
@pytest.mark.parametrize("seed", range(4))
def test_agrees_with_tsb_ad_where_definitions_agree(seed):
    tsb_metrics = pytest.importorskip("TSB_AD.evaluation.metrics")
    rng = np.random.default_rng(seed)
    labels, scores = random_case(rng, 500)
    pred = (scores >= np.quantile(scores, 0.9)).astype(np.int64)
    window = int(rng.integers(2, 40))
    ours = compute_metrics(labels, scores, pred=pred, window=window)
    theirs = tsb_metrics.get_metrics(scores, labels, slidingWindow=window, pred=pred)
    # segments avoid index 0 and the last point, where TSB-AD's PA and event F1 differ (documented)
    pairs = {"auc_roc": "AUC-ROC", "auc_pr": "AUC-PR", "vus_roc": "VUS-ROC", "vus_pr": "VUS-PR", "f1": "Standard-F1",
             "pa_f1": "PA-F1", "event_f1": "Event-based-F1", "affiliation_f1": "Affiliation-F"}  # fmt: skip
    for ours_key, theirs_key in pairs.items():
        assert ours[ours_key] == pytest.approx(theirs[theirs_key], abs=1e-6), ours_key


def test_tsb_ad_differs_only_at_documented_edges():
    tsb_metrics = pytest.importorskip("TSB_AD.evaluation.metrics")
    labels, pred = arr(1, 1, 0, 0, 0, 0, 1, 0, 1), arr(0, 1, 0, 1, 0, 0, 0, 0, 1)
    ours = compute_metrics(labels, np.linspace(0, 1, 9), pred=pred)
    theirs = tsb_metrics.get_metrics(np.linspace(0, 1, 9), labels, slidingWindow=2, pred=pred)
    # TSB-AD: index 0 never adjusted (PA TP 2 of 3 predicted, not 3 of 4), last one-point segment never found
    assert ours["pa_precision"] == 0.75 and theirs["PA-F1"] == pytest.approx(2 * (2 / 3) * (2 / 4) / (2 / 3 + 2 / 4))
    assert ours["event_f1"] == pytest.approx(2 / 3) and theirs["Event-based-F1"] < ours["event_f1"]


def test_affiliation_agrees_with_tsb_ad_including_series_edges():
    pytest.importorskip("TSB_AD")
    from TSB_AD.evaluation.affiliation.generics import convert_vector_to_events
    from TSB_AD.evaluation.affiliation.metrics import pr_from_events

    rng = np.random.default_rng(7)
    for _ in range(40):
        length = int(rng.integers(5, 200))
        labels, pred = (rng.random(length) < 0.05).astype(np.int64), (rng.random(length) < 0.08).astype(np.int64)
        labels[rng.integers(0, length)], labels[0], pred[-1] = 1, rng.integers(0, 2), rng.integers(0, 2)
        if not pred.any():
            continue
        theirs = pr_from_events(convert_vector_to_events(pred), convert_vector_to_events(labels), (0, length))
        precision, recall = affiliation_precision_recall(labels, pred)
        assert precision == pytest.approx(theirs["Affiliation_Precision"], abs=1e-9)
        assert recall == pytest.approx(theirs["Affiliation_Recall"], abs=1e-9)


# Hand-worked cases: two affiliation zones, random predictions, the soft Range-AUC buffer
def test_affiliation_zones_split_at_midpoints():
    # events [0, 1) and [7, 8): zones [0, 4) and [4, 8). Prediction [3, 4) belongs to the first zone only.
    labels, pred = np.asarray([1, 0, 0, 0, 0, 0, 0, 1], dtype=bool), np.asarray([0, 0, 0, 1, 0, 0, 0, 0], dtype=bool)
    precision, recall = affiliation_precision_recall(labels, pred)
    assert precision == pytest.approx(0.5 / 4)  # d in [2, 3), survival (3 - d)/4
    assert recall == pytest.approx((0.25 + 0.0) / 2)  # zone 2 has no prediction


def test_affiliation_of_random_predictions_is_about_one_half():
    rng = np.random.default_rng(0)
    labels = np.zeros(20000, bool)
    labels[10000:10050] = True
    precisions = [affiliation_precision_recall(labels, rng.random(20000) < 0.001)[0] for _ in range(20)]
    assert np.mean(precisions) == pytest.approx(0.5, abs=0.05)



def test_range_auc_with_soft_buffer_by_hand():
    # buffer 2 extends the event [2, 3] by one point each side with weight sqrt(1 - 1/2)
    labels, scores = np.asarray([0, 0, 1, 1, 0, 0], dtype=bool), np.array([0.0, 1.0, 0.5, 0.0, 0.0, 0.0])
    w = math.sqrt(0.5)
    rows = []  # (n_pred, TP) at thresholds 1, 0.5, 0
    for n_pred, tp, tp_original in ((1, w, 0), (2, 1 + w, 1), (6, 2 + 2 * w, 2)):
        soft_positives = (2 + 2 + tp - tp_original) / 2
        rows.append((min(tp / soft_positives, 1), (n_pred - tp) / (6 - soft_positives), tp / n_pred))
    tpr, fpr, precision = (np.array(c) for c in zip(*rows))
    fpr_curve, tpr_curve = np.r_[0, fpr, 1], np.r_[0, tpr, 1]
    expected_roc = np.sum(np.diff(fpr_curve) * (tpr_curve[1:] + tpr_curve[:-1]) / 2)
    expected_pr = np.sum(np.diff(np.r_[0, tpr]) * precision)
    roc, pr = range_auc_curves(labels, scores, window=2)
    np.testing.assert_allclose(roc, [0.5625, 0.5625, expected_roc])  # buffers 0 and 1 add nothing
    np.testing.assert_allclose(pr, [5 / 12, 5 / 12, expected_pr])
    out = compute_metrics(labels, scores, threshold=0.5, window=2)
    assert out["range_auc_roc"] == pytest.approx(expected_roc) and out["vus_roc"] == pytest.approx((2 * 0.5625 + expected_roc) / 3)
    assert out["range_auc_pr"] == pytest.approx(expected_pr) and out["vus_pr"] == pytest.approx((10 / 12 + expected_pr) / 3)
