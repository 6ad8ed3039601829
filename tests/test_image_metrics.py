"""Image metrics on hand-computed cases and against scikit-learn; the image evaluator end to end."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score

from metric.image import METRIC_KEYS, aupro, auroc, average_precision, compute_image_metrics, f1_max, mean_over_classes
from metric.image.pro import label_regions
from model.detectors.base import Detector
from trainer.run_folder import RunFolder
from util.registry import DATASETS, EVALUATORS


def test_hand_computed_detection_metrics():
    labels, scores = np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8])
    assert auroc(labels, scores) == pytest.approx(0.75)  # 3 of 4 (positive, negative) pairs ordered
    assert average_precision(labels, scores) == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)
    assert f1_max(labels, scores) == pytest.approx(0.8)  # threshold 0.35: P = 2/3, R = 1


def test_ties_count_half():
    labels, scores = np.array([0, 1, 0, 1]), np.array([0.5, 0.5, 0.2, 0.9])
    assert auroc(labels, scores) == pytest.approx((1 + 1 + 1 + 0.5) / 4)


def test_undefined_without_both_classes():
    assert np.isnan(auroc(np.zeros(5), np.arange(5.0)))
    assert np.isnan(average_precision(np.ones(5), np.arange(5.0)))
    assert np.isnan(f1_max(np.zeros(5), np.arange(5.0)))


@pytest.mark.parametrize("n", [7, 500, 20_000])
def test_detection_metrics_equal_scikit_learn(n):
    rng = np.random.default_rng(n)
    labels = np.r_[0, 1, rng.integers(0, 2, n - 2)]
    scores = np.round(rng.normal(size=n) + labels, 1)  # rounding makes many ties
    precision, recall, _ = precision_recall_curve(labels, scores)
    f1 = np.where(precision + recall > 0, 2 * precision * recall / np.maximum(precision + recall, 1e-300), 0)
    assert auroc(labels, scores) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    assert average_precision(labels, scores) == pytest.approx(average_precision_score(labels, scores), abs=1e-12)
    assert f1_max(labels, scores) == pytest.approx(f1.max(), abs=1e-12)


def test_regions_are_8_connected_within_each_image_only():
    masks = np.zeros((2, 5, 5), dtype=bool)
    masks[0, 0, 0] = masks[0, 1, 1] = True  # diagonal neighbours: one region
    masks[0, 4, 4] = True  # a second region
    masks[1, 0, 0] = True  # same place, other image: a third region
    assert len(np.unique(label_regions(masks))) - 1 == 3


def brute_force_aupro(masks: np.ndarray, maps: np.ndarray, max_fpr: float = 0.3) -> float:
    """Definition-level AUPRO: per-region overlap and FPR at every distinct threshold, then the area."""
    regions = label_regions(masks)
    ids = [r for r in np.unique(regions) if r]
    normal = regions == 0
    points = [(0.0, 0.0)]
    for t in np.unique(maps)[::-1]:
        hit = maps >= t
        points.append(((hit & normal).sum() / normal.sum(), np.mean([hit[regions == r].mean() for r in ids])))
    fpr, pro = np.array(points).T
    last = int(np.searchsorted(fpr, max_fpr, side="right")) - 1  # last point with fpr <= max_fpr
    end = pro[last] if last + 1 == len(fpr) else np.interp(max_fpr, fpr[last : last + 2], pro[last : last + 2])
    x, y = np.r_[fpr[: last + 1], max_fpr], np.r_[pro[: last + 1], end]
    return float(np.sum(np.diff(x) * (y[1:] + y[:-1]) / 2) / max_fpr)


def test_aupro_hand_computed_cases():
    masks = np.zeros((1, 8, 8), dtype=bool)
    masks[0, 1:3, 1:3] = True
    masks[0, 6, 6] = True
    assert aupro(masks, masks.astype(float)) == pytest.approx(1.0)  # perfect map
    assert aupro(masks, 1.0 - masks) == pytest.approx(0.0)  # defects scored lowest
    # a constant map jumps from (0, 0) to (1, 1): the area up to 0.3 is the triangle 0.3 * 0.3 / 2
    assert aupro(masks, np.zeros((1, 8, 8))) == pytest.approx(0.15)
    # the small region fully found before any false positive, the large one never: PRO 1/2 flat
    maps = np.zeros((1, 8, 8))
    maps[0, 6, 6] = 1.0
    assert aupro(masks, maps) == pytest.approx(0.5 + (0.3 * 0.3 / 2 * 0.5) / 0.3)


def test_aupro_matches_its_definition_on_random_maps():
    rng = np.random.default_rng(0)
    masks = np.zeros((3, 16, 16), dtype=bool)
    masks[0, 2:6, 3:9] = True
    masks[1, 10:12, 10:15] = True
    masks[1, 0, 0] = True
    maps = np.round(rng.random((3, 16, 16)) + 0.6 * masks, 2)
    assert aupro(masks, maps) == pytest.approx(brute_force_aupro(masks, maps), abs=1e-9)


def perfect_case(n: int = 6, size: int = 16):
    masks = np.zeros((n, size, size), dtype=bool)
    masks[n // 2 :, 4:8, 4:10] = True
    labels = masks.reshape(n, -1).any(1).astype(int)
    return labels, masks


def test_suite_keys_values_and_purity():
    labels, masks = perfect_case()
    maps = masks.astype(np.float32) + 0.1
    snapshot = (labels.copy(), masks.copy(), maps.copy())
    result = compute_image_metrics(labels, maps.max(axis=(1, 2)), masks, maps)
    assert tuple(result) == METRIC_KEYS
    assert all(v == pytest.approx(1.0) for v in result.values())
    for before, after in zip(snapshot, (labels, masks, maps)):
        np.testing.assert_array_equal(before, after)
    rng = np.random.default_rng(1)
    noisy = maps + rng.normal(0, 0.5, maps.shape).astype(np.float32)
    result = compute_image_metrics(labels, noisy.max(axis=(1, 2)), masks, noisy)
    assert all(0.0 <= v <= 1.0 for v in result.values())
    assert result["mad"] == pytest.approx(np.mean([result[k] for k in METRIC_KEYS[:-1]]))


def test_pixel_subsampling_stays_close():
    labels, masks = perfect_case(8, 64)
    maps = np.random.default_rng(2).random(masks.shape) + masks
    full = compute_image_metrics(labels, maps.max(axis=(1, 2)), masks, maps)
    sampled = compute_image_metrics(labels, maps.max(axis=(1, 2)), masks, maps, max_pixels=maps.size // 4)
    for key in ("p_auroc", "p_ap", "aupro"):
        assert sampled[key] == pytest.approx(full[key], abs=0.03)


def test_mean_over_classes_skips_undefined_values():
    a = dict.fromkeys(METRIC_KEYS, 0.5)
    b = {**dict.fromkeys(METRIC_KEYS, 1.0), "p_auroc": float("nan")}
    mean = mean_over_classes({"a": a, "b": b})
    assert mean["i_auroc"] == pytest.approx(0.75) and mean["p_auroc"] == pytest.approx(0.5)


class ColourDeviation(Detector):
    """Anomaly map = largest per-channel z-score against the training images' colour statistics."""

    family = "image"

    def __init__(self, data, with_image_score: bool = False) -> None:
        super().__init__()
        imgs = torch.cat([b["img"] for b in data.train_loader(seed=0)])
        self.mean, self.std = imgs.mean((0, 2, 3), keepdim=True), imgs.std((0, 2, 3), keepdim=True)
        self.with_image_score = with_image_score

    def joint_score(self, batch, features):
        return ((batch["img"] - self.mean) / self.std).abs().amax(1)

    def image_scores(self, batch, maps):
        return maps.flatten(1).mean(1) if self.with_image_score else None


@pytest.mark.parametrize("with_image_score", [False, True])
def test_image_evaluator_writes_reports(tmp_path, with_image_score):
    data = DATASETS.build(
        dict(type="textures", root=str(tmp_path / "tex"), classes=["brick", "tissue"], generated_size=32,
             n_train=4, n_test_good=2, n_test_per_defect=1, image_size=32, batch_size=4)
    ).prepare()
    evaluator = EVALUATORS.build(dict(type="image", gaussian_sigma=1, grid_images=4))
    results = evaluator.evaluate(ColourDeviation(data, with_image_score), data, RunFolder(tmp_path), torch.device("cpu"), {"detector": "colour"})
    saved = json.loads((tmp_path / "results.json").read_text())
    assert tuple(saved["metrics"]) == METRIC_KEYS and set(saved["per_class"]) == {"brick", "tissue"}
    assert saved["metrics"] == pytest.approx(results["metrics"])
    for metrics in saved["per_class"].values():
        assert all(0.0 <= v <= 1.0 for v in metrics.values())
    assert saved["metrics"]["i_auroc"] == pytest.approx(np.mean([m["i_auroc"] for m in saved["per_class"].values()]))
    table = (tmp_path / "results.md").read_text()
    assert "| brick |" in table and "| **mean** |" in table and "AUPRO" in table
    assert (tmp_path / "plots" / "brick.png").stat().st_size > 0 and (tmp_path / "plots" / "tissue.png").is_file()
    assert saved["gaussian_sigma"] == 1.0


def test_blur_sigma_is_four_px_at_256_px_and_scales_unless_set():
    auto, fixed, off = (EVALUATORS.build(dict(type="image", gaussian_sigma=s)) for s in (None, 3, 0))
    assert [auto.blur_sigma(side) for side in (256, 128, 512)] == [4.0, 2.0, 8.0]
    assert fixed.blur_sigma(128) == 3.0 and off.blur_sigma(256) == 0.0
