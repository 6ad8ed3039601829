"""Time-series metrics on hand-computed cases, their error handling, the threshold rules, and agreement with TSB-AD."""
from __future__ import annotations

import math

import numpy as np
import pytest

from metric.timeseries import METRIC_KEYS, aggregate, compute_metrics
from metric.timeseries.affiliation import affiliation_precision_recall
from metric.timeseries.pointwise import PA_K, adjust_predictions, event_f1, pa_k_f1, pak_auc, precision_recall_f1
from metric.timeseries.vus import range_auc_curves
from util.errors import DataError
from util.registry import THRESHOLDS


def b(values) -> np.ndarray:
    return np.asarray(values, dtype=bool)


# ------------------------------------------------------------------ thresholded metrics
def test_pointwise_precision_recall_f1():
    labels, pred = b([0, 1, 1, 0, 0, 1, 0, 0]), b([0, 1, 0, 0, 1, 0, 0, 0])
    assert precision_recall_f1(labels, pred) == pytest.approx((1 / 2, 1 / 3, 0.4))


def test_nothing_predicted_gives_zero_precision_and_f1():
    assert precision_recall_f1(b([0, 1, 1]), b([0, 0, 0])) == (0.0, 0.0, 0.0)


def test_point_adjustment_fills_hit_segments_including_one_at_index_0():
    labels, pred = b([1, 1, 1, 0, 0, 1, 1, 0]), b([0, 0, 1, 0, 1, 0, 0, 0])
    np.testing.assert_array_equal(adjust_predictions(labels, pred), b([1, 1, 1, 0, 1, 0, 0, 0]))
    assert precision_recall_f1(labels, adjust_predictions(labels, pred)) == pytest.approx((3 / 4, 3 / 5, 2 / 3))


def test_pa_k_adjusts_only_above_k_percent():
    labels, pred = b([0, 1, 1, 1, 1, 1, 0, 0, 0, 0]), b([0, 1, 1, 0, 0, 0, 0, 1, 0, 0])  # 40 % of the segment hit
    adjusted_f1, pointwise_f1 = 10 / 11, 0.5
    np.testing.assert_allclose(pa_k_f1(labels, pred), [adjusted_f1, adjusted_f1, pointwise_f1, pointwise_f1, pointwise_f1])
    expected_area = 0.2 * adjusted_f1 + 0.3 * (adjusted_f1 + pointwise_f1) / 2 + 0.5 * pointwise_f1
    assert pak_auc(labels, pred) == pytest.approx(expected_area)
    # exactly K percent is not "more than K percent"
    one_of_five = b([0, 1, 0, 0, 0, 0, 0, 0, 0, 0])
    np.testing.assert_array_equal(adjust_predictions(labels, one_of_five, k=20), one_of_five)
    assert PA_K[0] == 0 and PA_K[-1] == 100


def test_event_f1_uses_segment_recall_and_point_precision():
    labels, pred = b([1, 1, 0, 0, 0, 1, 1, 0]), b([0, 1, 0, 1, 0, 0, 0, 0])
    assert event_f1(labels, pred) == pytest.approx(0.5)  # event recall 1/2, point precision 1/2
    assert event_f1(labels, b([0, 0, 0, 0, 0, 0, 1, 0])) == pytest.approx(2 * 1 * 0.5 / 1.5)


# ------------------------------------------------------------------ affiliation
def test_affiliation_exact_prediction_is_perfect():
    labels = b([0, 0, 1, 1, 0, 0, 0, 1, 0, 0])
    assert affiliation_precision_recall(labels, labels.copy()) == pytest.approx((1.0, 1.0))


def test_affiliation_single_event_far_prediction():
    # event [4, 5) in [0, 10); prediction [9, 10). Precision: d = x - 5 in [4, 5), survival (5 - d)/10
    # -> integral 0.05. Recall: y in [4, 5), d = 9 - y, survival (max(2y - 9, 0) + 1)/10 -> (0.25 + 1)/10.
    labels, pred = np.zeros(10, bool), np.zeros(10, bool)
    labels[4], pred[9] = True, True
    precision, recall = affiliation_precision_recall(labels, pred)
    assert precision == pytest.approx(0.05)
    assert recall == pytest.approx(0.125)
    assert compute_metrics(labels, np.zeros(10), pred=pred)["affiliation_f1"] == pytest.approx(2 * 0.05 * 0.125 / 0.175)


def test_affiliation_zones_split_at_midpoints():
    # events [0, 1) and [7, 8): zones [0, 4) and [4, 8). Prediction [3, 4) belongs to the first zone only.
    labels, pred = b([1, 0, 0, 0, 0, 0, 0, 1]), b([0, 0, 0, 1, 0, 0, 0, 0])
    precision, recall = affiliation_precision_recall(labels, pred)
    assert precision == pytest.approx(0.5 / 4)  # d in [2, 3), survival (3 - d)/4
    assert recall == pytest.approx((0.25 + 0.0) / 2)  # zone 2 has no prediction


def test_affiliation_of_random_predictions_is_about_one_half():
    rng = np.random.default_rng(0)
    labels = np.zeros(20000, bool)
    labels[10000:10050] = True
    precisions = [affiliation_precision_recall(labels, rng.random(20000) < 0.001)[0] for _ in range(20)]
    assert np.mean(precisions) == pytest.approx(0.5, abs=0.05)


def test_affiliation_without_predictions():
    out = compute_metrics(b([0, 1, 1, 0]), np.zeros(4), pred=b([0, 0, 0, 0]))
    assert math.isnan(out["affiliation_precision"]) and out["affiliation_recall"] == 0 and out["affiliation_f1"] == 0


# ------------------------------------------------------------------ Range-AUC / VUS
def test_range_auc_without_buffer_by_hand():
    # thresholds 1, 0.5, 0: (FPR, TPR, precision) = (1/4, 0, 0), (1/4, 1/2, 1/2), (1, 1, 1/3)
    labels, scores = b([0, 0, 1, 1, 0, 0]), np.array([1.0, 0.0, 0.5, 0.0, 0.0, 0.0])
    roc, pr = range_auc_curves(labels, scores, window=0)
    assert roc[0] == pytest.approx(0.75 * 0.75)
    assert pr[0] == pytest.approx(0.5 * 0.5 + 0.5 / 3)


def test_range_auc_with_soft_buffer_by_hand():
    # buffer 2 extends the event [2, 3] by one point each side with weight sqrt(1 - 1/2)
    labels, scores = b([0, 0, 1, 1, 0, 0]), np.array([0.0, 1.0, 0.5, 0.0, 0.0, 0.0])
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


def test_perfect_scores_give_perfect_threshold_free_metrics():
    labels = np.zeros(500, bool)
    labels[100:120] = labels[300:305] = True
    out = compute_metrics(labels, labels.astype(float), threshold=0.5, window=10)
    for key in ("auc_roc", "auc_pr", "range_auc_roc", "vus_roc", "f1", "pa_f1", "event_f1", "affiliation_f1"):
        assert out[key] == pytest.approx(1.0), key


# ------------------------------------------------------------------ the suite
def test_compute_metrics_keys_threshold_and_pred():
    rng = np.random.default_rng(1)
    labels = rng.random(300) < 0.1
    scores = rng.random(300)
    out = compute_metrics(labels, scores, threshold=0.7, window=20)
    assert tuple(out) == METRIC_KEYS and len(METRIC_KEYS) == 17
    assert out == compute_metrics(labels.astype(int), scores, pred=(scores >= 0.7).astype(int), window=20)
    per_point = np.full(300, 0.7)
    per_point[:150] = 2.0  # nothing predicted in the first half
    assert compute_metrics(labels, scores, threshold=per_point, window=20) == compute_metrics(
        labels, scores, pred=(scores >= 0.7) & (np.arange(300) >= 150), window=20
    )


def test_compute_metrics_is_pure():
    rng = np.random.default_rng(2)
    labels, scores, pred = rng.random(200) < 0.1, rng.random(200), rng.random(200) < 0.1
    copies = labels.copy(), scores.copy(), pred.copy()
    for array in (labels, scores, pred):
        array.setflags(write=False)
    compute_metrics(labels, scores, pred=pred, window=10)
    for array, copy in zip((labels, scores, pred), copies):
        np.testing.assert_array_equal(array, copy)


def test_labels_without_anomaly_give_documented_nans():
    out = compute_metrics(np.zeros(50), np.linspace(0, 1, 50), threshold=0.9)
    defined = {"precision", "pa_precision"}
    assert out["precision"] == 0.0
    assert all(math.isnan(v) for k, v in out.items() if k not in defined)


def test_all_anomalous_labels_leave_threshold_free_metrics_undefined():
    out = compute_metrics(np.ones(50), np.linspace(0, 1, 50), threshold=0.5)
    assert all(math.isnan(out[k]) for k in METRIC_KEYS[:6])
    assert out["precision"] == 1.0 and out["recall"] == pytest.approx(0.5)


@pytest.mark.parametrize(
    "labels, scores, kwargs, message",
    [
        (np.zeros(4), np.array([0.1, np.nan, 0.2, 0.3]), dict(threshold=0.5), "NaN/inf"),
        (np.zeros(4), np.array([0.1, np.inf, 0.2, 0.3]), dict(threshold=0.5), "NaN/inf"),
        (np.zeros(3), np.zeros(4), dict(threshold=0.5), "as long as the scores"),
        (np.zeros(4), np.zeros(4), dict(pred=np.zeros(5)), "as long as the scores"),
        (np.array([0, 2, 0, 1]), np.zeros(4), dict(threshold=0.5), "only 0 and 1"),
        (np.zeros(4), np.zeros(4), dict(threshold=np.zeros(3)), "threshold"),
        (np.zeros(4), np.zeros(4), {}, "pred"),
        (np.zeros(0), np.zeros(0), dict(threshold=0.5), "non-empty"),
    ],
)
def test_bad_inputs_raise_data_error(labels, scores, kwargs, message):
    with pytest.raises(DataError, match=message):
        compute_metrics(labels, scores, **kwargs)


def test_aggregate_is_nan_aware_mean():
    out = aggregate({"a": {"f1": 0.2, "recall": float("nan")}, "b": {"f1": 0.4, "recall": float("nan")}, "c": {"f1": float("nan"), "recall": float("nan")}})
    assert out["f1"] == pytest.approx(0.3) and math.isnan(out["recall"])


def test_100k_points_run_fast():
    import time

    rng = np.random.default_rng(3)
    labels = np.zeros(100_000, bool)
    for start in rng.integers(0, 99_000, 50):
        labels[start : start + rng.integers(1, 400)] = True
    start = time.perf_counter()
    compute_metrics(labels, rng.random(100_000), threshold=0.99)
    assert time.perf_counter() - start < 20


# ------------------------------------------------------------------ threshold rules
def rule(name: str, **kwargs):
    return THRESHOLDS.build(dict(type=name, **kwargs))


def test_threshold_rules_declare_what_they_use():
    flags = {name: (rule(name).uses_test_scores, rule(name).uses_test_labels, rule(name).legacy) for name in ("percentile", "anomaly_ratio", "pot", "spot", "best_f1")}
    assert flags == {
        "percentile": (False, False, False),
        "anomaly_ratio": (True, False, True),
        "pot": (False, False, False),
        "spot": (True, False, False),
        "best_f1": (True, True, False),
    }


def test_percentile_and_anomaly_ratio():
    val, train, test = np.arange(101.0), np.zeros(50), np.arange(50.0)
    assert rule("percentile", q=90)(val) == pytest.approx(90.0)
    assert rule("anomaly_ratio", ratio=10)(val, test_scores=test, train_scores=train) == pytest.approx(np.percentile(np.r_[train, test], 90))
    with pytest.raises(DataError, match="val_fraction"):
        rule("percentile")(np.empty(0))


def test_pot_recovers_an_exponential_tail_quantile():
    scores = np.random.default_rng(4).exponential(size=50_000)
    assert rule("pot", q=1e-3, level=0.98)(scores) == pytest.approx(math.log(1000), rel=0.05)


def test_spot_keeps_its_threshold_on_alarms_and_updates_on_excesses():
    rng = np.random.default_rng(5)
    val = rng.exponential(size=5000)
    test = np.r_[50.0, 0.1, 5.0, 0.1]
    thresholds = rule("spot")(val, test_scores=test)
    initial = rule("pot")(val)
    assert thresholds.shape == (4,) and thresholds[0] == pytest.approx(initial)
    assert thresholds[1] == thresholds[0] == thresholds[2]  # 50 was an alarm, 0.1 is below the tail
    assert thresholds[3] != thresholds[2]  # 5.0 was a new excess: refitted


def test_best_f1_is_the_oracle_threshold():
    scores, labels = np.array([0.9, 0.8, 0.7, 0.2, 0.1]), np.array([1, 0, 1, 0, 0])
    # >= 0.9: F1 2/3; >= 0.8: 1/2; >= 0.7: 0.8 (best); lower thresholds add false positives
    assert rule("best_f1")(None, test_scores=scores, test_labels=labels) == pytest.approx(0.7)


# ------------------------------------------------------------------ agreement with TSB-AD
def random_case(seed: int):
    """Random labels (a few segments, none touching the series' ends) and scores with ties."""
    rng = np.random.default_rng(seed)
    length = int(rng.integers(80, 500))
    labels = np.zeros(length, dtype=int)
    for start in rng.integers(1, length - 45, int(rng.integers(1, 6))):
        labels[start : start + rng.integers(1, 40)] = 1
    scores = np.round(rng.random(length) + 0.4 * labels * rng.random(), 2)
    return labels, scores, int(rng.integers(0, 40))


@pytest.mark.parametrize("seed", range(8))
def test_agrees_with_tsb_ad(seed):
    pytest.importorskip("TSB_AD")
    from TSB_AD.evaluation.basic_metrics import basic_metricor, generate_curve

    labels, scores, window = random_case(seed)
    pred = (scores >= np.quantile(scores, 0.85)).astype(int)  # int: bool inputs corrupt TSB-AD's range F1
    ours = compute_metrics(labels, scores, pred=pred, window=window)
    grader = basic_metricor()
    vus = generate_curve(labels, scores, window, "opt", 250)
    theirs = {
        "auc_roc": grader.metric_ROC(labels, scores),
        "auc_pr": grader.metric_PR(labels, scores),
        "vus_roc": vus[6],
        "vus_pr": vus[7],
        "f1": grader.metric_PointF1(labels, scores, preds=pred),
        "pa_f1": grader.metric_PointF1PA(labels, scores, preds=pred),
        "event_f1": grader.metric_EventF1PA(labels, scores, preds=pred),
        "affiliation_f1": grader.metric_Affiliation(labels, scores, preds=pred),
    }
    for key, value in theirs.items():
        assert ours[key] == pytest.approx(value, abs=1e-6), key
    roc_surface, pr_surface = range_auc_curves(labels.astype(bool), scores, window)
    tpr, fpr, precision = (np.asarray(a) for a in grader.RangeAUC_volume_opt(labels, scores, window, 250)[:3])
    assert ours["range_auc_roc"] == pytest.approx(roc_surface[-1]) and ours["range_auc_pr"] == pytest.approx(pr_surface[-1])
    np.testing.assert_allclose(roc_surface[-1], np.sum(np.diff(fpr[-1]) * (tpr[-1][1:] + tpr[-1][:-1]) / 2), atol=1e-6)
    np.testing.assert_allclose(pr_surface[-1], np.sum(np.diff(tpr[-1][:-1]) * precision[-1][1:]), atol=1e-6)


def test_deliberate_differences_from_tsb_ad():
    pytest.importorskip("TSB_AD")
    from TSB_AD.evaluation.basic_metrics import basic_metricor

    grader = basic_metricor()
    labels, pred = np.array([1, 1, 1, 0, 0, 0, 1, 1]), np.array([0, 1, 0, 0, 0, 0, 0, 1])
    scores = pred.astype(float)
    ours = compute_metrics(labels, scores, pred=pred, window=2)
    # TSB-AD's point adjustment never fills index 0 (its backward loop stops at 1): PA recall 4/5, not 5/5
    assert ours["pa_recall"] == 1.0 and grader.metric_PointF1PA(labels, scores, preds=pred) < ours["pa_f1"]
    # TSB-AD's events drop the last point of a segment that ends the series, so a hit there is missed
    assert ours["event_f1"] == pytest.approx(2 * 1 * 1 / 2) and grader.metric_EventF1PA(labels, scores, preds=pred) < ours["event_f1"]
