"""Sanity baselines and reconstruction losses: shapes, determinism, checkpoints, hand values."""
from pathlib import Path

import numpy as np
import pytest
import torch

from model.detectors.baselines import sample_windows, spread_to_steps
from util.errors import ConfigError
from util.registry import DETECTORS, LOSSES

F, W = 3, 20
OFFLINE = [dict(type="random"), dict(type="zscore"), dict(type="pca", n_components=2), dict(type="pca", on="windows", n_components=0.9),
           dict(type="iforest", sub_window=5, n_estimators=20, max_windows=300)]


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def train_series(seed: int = 0) -> list[np.ndarray]:
    """Two correlated noisy series ``(time, F)`` as the pipeline hands them over (float32)."""
    rng = np.random.default_rng(seed)
    out = []
    for length in (300, 150):
        base = rng.standard_normal((length, 1))
        out.append((base @ np.ones((1, F)) + 0.1 * rng.standard_normal((length, F))).astype(np.float32))
    return out


def build(cfg: dict):
    detector = DETECTORS.build(cfg, n_features=F, window=W)
    if not detector.trainable:
        detector.fit_offline(train_series())
    return detector.eval()


def batch(seed: int = 1, size: int = 4) -> dict:
    return {"x": torch.from_numpy(np.stack([train_series(seed)[0][i * W:(i + 1) * W] for i in range(size)]))}


@pytest.mark.parametrize("cfg", OFFLINE + [dict(type="dense_ae")], ids=lambda c: f"{c['type']}-{c.get('on', '')}")
def test_scores_are_per_step_finite_and_deterministic(cfg):
    torch.manual_seed(0)
    detector = build(cfg)
    scores = detector.score(batch())
    assert scores.shape == (4, W) and scores.dtype == torch.float32
    assert torch.isfinite(scores).all()
    assert torch.equal(scores, build(cfg).score(batch())) if not detector.trainable else torch.equal(scores, detector.score(batch()))


def test_random_scores_are_uniform_and_a_function_of_each_step():
    detector = build(dict(type="random"))
    x = torch.randn(64, W, F)
    scores = detector.score({"x": x})
    assert 0.0 <= scores.min() and scores.max() < 1.0
    assert abs(scores.mean().item() - 0.5) < 0.03 and abs(scores.std().item() - (1 / 12) ** 0.5) < 0.03
    # the same step inside a shifted window keeps its score, so overlapping windows agree
    shifted = detector.score({"x": x[:, 5:]})
    assert torch.equal(shifted, scores[:, 5:])
    assert not torch.equal(scores, build(dict(type="random", seed=1)).score({"x": x}))


def test_zscore_flags_an_injected_spike():
    detector = build(dict(type="zscore"))
    x = batch()["x"].clone()
    x[2, 7, 1] += 8.0
    scores = detector.score({"x": x})
    assert scores.flatten().argmax().item() == 2 * W + 7
    assert scores[2, 7] > 5 * scores.median()
    points = np.concatenate(train_series())
    spike_z = (x[2, 7, 1].item() - points[:, 1].mean()) / points[:, 1].std()
    assert scores[2, 7].item() == pytest.approx(abs(spike_z), rel=1e-4)


def test_pca_and_iforest_flag_a_broken_correlation():
    """Channels move together in training; a step where one channel goes its own way is anomalous."""
    for cfg in OFFLINE[2:]:
        detector = build(cfg)
        x = batch()["x"].clone()
        x[1, 10, 0] -= 3.0 * x[1, 10, 0].sign() + 1.0
        scores = detector.score({"x": x})
        assert scores[1, 10] > scores[0].max(), cfg


def test_pca_keeps_the_requested_components():
    assert build(dict(type="pca", n_components=2)).components.shape == (2, F)
    assert build(dict(type="pca", n_components=50)).components.shape == (F, F)
    assert build(dict(type="pca", on="windows", n_components=4)).components.shape == (4, W * F)


@pytest.mark.parametrize("cfg", OFFLINE[1:], ids=lambda c: f"{c['type']}-{c.get('on', '')}")
def test_fitted_state_survives_a_state_dict_round_trip(cfg, tmp_path: Path):
    fitted = build(cfg)
    path = tmp_path / "ckpt.pth"
    torch.save(fitted.state_dict(), path)
    restored = DETECTORS.build(cfg, n_features=F, window=W).eval()
    with pytest.raises(RuntimeError, match="fit_offline"):
        restored.score(batch())
    restored.load_state_dict(torch.load(path, weights_only=True))
    assert torch.equal(restored.score(batch()), fitted.score(batch()))


def test_iforest_state_dict_holds_the_forest_as_bytes():
    state = build(OFFLINE[-1]).state_dict()
    assert state["_extra_state"].dtype == torch.uint8 and state["_extra_state"].numel() > 1000


def test_bad_configs_are_rejected_with_the_key_named():
    with pytest.raises(ConfigError, match="on"):
        DETECTORS.build(dict(type="pca", on="steps"), n_features=F, window=W)
    with pytest.raises(ConfigError, match="n_components"):
        DETECTORS.build(dict(type="pca", n_components=1.5), n_features=F, window=W)
    with pytest.raises(ConfigError, match="sub_window"):
        DETECTORS.build(dict(type="iforest", sub_window=W + 1), n_features=F, window=W)


def test_dense_ae_loss_falls_on_a_tiny_batch():
    torch.manual_seed(0)
    detector = DETECTORS.build(dict(type="dense_ae", hidden=[32], bottleneck=4, dropout=0.0), n_features=F, window=W)
    optimizer = torch.optim.Adam(detector.parameters(), lr=1e-2)
    data = batch()
    losses = []
    for _ in range(50):
        loss = detector.loss(data)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.2 * losses[0]


def test_sample_windows_are_flattened_step_major_and_capped():
    series = [np.arange(12, dtype=np.float64).reshape(6, 2), np.zeros((2, 2))]
    windows = sample_windows(series, length=3, max_count=None, seed=0)
    assert windows.shape == (4, 6)
    np.testing.assert_array_equal(windows[1], [2, 3, 4, 5, 6, 7])
    capped = sample_windows(series, length=3, max_count=2, seed=0)
    assert capped.shape == (2, 6) and all(any((c == w).all() for w in windows) for c in capped)


def test_spread_to_steps_averages_the_covering_sub_windows():
    sub_scores = torch.tensor([[1.0, 2.0, 4.0]])
    np.testing.assert_allclose(spread_to_steps(sub_scores, 2).numpy(), [[1.0, 1.5, 3.0, 4.0]])


def test_losses_on_a_hand_case():
    x = torch.zeros(1, 2, 2)
    outputs = {"recon": torch.tensor([[[1.0, -1.0], [3.0, 0.0]]])}
    assert LOSSES.build(dict(type="mse"))(outputs, {"x": x})["loss"].item() == pytest.approx(11 / 4)
    assert LOSSES.build(dict(type="rmse"))(outputs, {"x": x})["loss"].item() == pytest.approx((11 / 4) ** 0.5)
    assert LOSSES.build(dict(type="mae"))(outputs, {"x": x})["loss"].item() == pytest.approx(5 / 4)
    with pytest.raises(ValueError, match="shape"):
        LOSSES.build(dict(type="mse"))(outputs, {"x": torch.zeros(1, 2, 3)})


def test_rmse_gradient_is_finite_at_a_perfect_reconstruction():
    recon = torch.zeros(2, 3, 1, requires_grad=True)
    LOSSES.build(dict(type="rmse"))({"recon": recon}, {"x": torch.zeros(2, 3, 1)})["loss"].backward()
    assert torch.isfinite(recon.grad).all()


CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs" / "baselines").glob("*.py"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_configs_load_and_build(path: Path):
    from util.config import load

    dataset = path.stem.split("_")[-1] if not path.stem.endswith("_a1") else "smap"
    if not (path.parents[1] / "__base__" / "datasets" / f"{dataset}.py").is_file():
        pytest.skip(f"dataset base config {dataset}.py not written yet")
    cfg = load(path)
    detector = DETECTORS.build(cfg["model"], n_features=F, window=cfg["data"]["window"])
    assert detector.trainable == (cfg["model"]["type"] == "dense_ae")
    if path.stem == "dense_ae_smap_a1":
        assert cfg["data"]["entities"] == "A-1" and cfg["data"]["type"] == "smap"
