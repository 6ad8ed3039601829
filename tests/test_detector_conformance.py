"""Every registered detector keeps the contract of ``model/detectors/base.py`` (as timm tests every
model): it builds at a small size, ``forward`` returns a dict, ``score`` has the documented shape,
honours a feature subset (or refuses one with a ConfigError), survives a checkpoint round trip and,
when trainable, learns from one step. A new detector only needs an entry in ``SMALL``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from model.detectors.base import Detector
from util.checkpoint import load_checkpoint, save_checkpoint
from util.errors import ConfigError
from util.registry import DETECTORS

BATCH, WINDOW, FEATURES, IMAGE_SIZE = 2, 16, 4, 64
SUBSET = [0, 2]
ENCODER = dict(type="timm", name="resnet18", pretrained=False, checkpoint=None)
SMALL = {
    "kambaad": dict(d_model=16, e_layers=1, reconstructor=dict(type="patch_ci", patch_len=4, stride=2)),
    "maat": dict(d_model=16, n_heads=2, e_layers=1, d_ff=16, block_size=4, d_state=4),
    "anomaly_transformer": dict(d_model=16, n_heads=2, e_layers=1, d_ff=16),
    "dcdetector": dict(patch_sizes=[4], d_model=16, e_layers=1),
    "dense_ae": dict(hidden=[16], bottleneck=4),
    "random": {},
    "zscore": {},
    "pca": dict(n_components=2),
    "iforest": dict(n_estimators=10, max_windows=200),
    "mambaad": dict(encoder=ENCODER, channels=(32, 24, 16, 8), depths=(1, 2, 1, 1), lss_per_level=(1, 2, 1, 1), d_state=4),
    "mtad": dict(encoder=ENCODER, channels=(32, 24, 16, 8), depths=(1, 2, 1, 1), window=4, heads=4, mlp_ratio=2, d_state=4),
}

pytestmark = pytest.mark.usefixtures("seeded_one_thread")


def build(name: str, fit: bool = True) -> Detector:
    """``name`` at its small size; a non-gradient detector fit on random series unless ``fit=False``."""
    if name not in SMALL:
        pytest.fail(f"detector '{name}' has no small config in tests/test_detector_conformance.py SMALL; add one.")
    cls = DETECTORS.get(name)
    size = dict(image_size=IMAGE_SIZE) if cls.family == "image" else dict(n_features=FEATURES, window=WINDOW)
    detector = DETECTORS.build(dict(type=name, **SMALL[name]), **size)
    if fit and not detector.trainable:
        rng = np.random.default_rng(0)
        detector.fit_offline([rng.normal(size=(120, FEATURES)).astype(np.float32) for _ in range(2)])
    return detector.eval()


def example_batch(detector: Detector) -> dict[str, torch.Tensor]:
    if detector.family == "image":
        return {"img": torch.randn(BATCH, 3, IMAGE_SIZE, IMAGE_SIZE)}
    return {"x": torch.randn(BATCH, WINDOW, FEATURES)}


def expected_shape(detector: Detector) -> tuple[int, ...]:
    return (BATCH, IMAGE_SIZE, IMAGE_SIZE) if detector.family == "image" else (BATCH, WINDOW)


@torch.no_grad()
def check_feature_subset(detector: Detector, batch: dict[str, torch.Tensor]) -> None:
    """``score(batch, features=SUBSET)`` does not move when what lies outside ``SUBSET`` does: the
    other features' contributions (detectors whose score splits over features) or the other
    features' inputs (the rest). A detector that cannot score subsets must refuse with a ConfigError."""
    if not detector.scores_feature_subsets:
        with pytest.raises(ConfigError, match="score_features=all"):
            detector.score(batch, features=SUBSET)
        return
    expected = detector.score(batch, features=SUBSET)
    outside = [f for f in range(FEATURES) if f not in SUBSET]
    if detector.feature_contributions(batch) is None:
        x = batch["x"].clone()
        x[..., outside] += 10.0
        moved = detector.score({**batch, "x": x}, features=SUBSET)
    else:
        contributions = detector.feature_contributions

        def distorted(b: dict[str, torch.Tensor]) -> torch.Tensor:
            out = contributions(b).clone()
            out[..., outside] += 1e3
            return out

        detector.feature_contributions = distorted
        try:
            moved = detector.score(batch, features=SUBSET)
        finally:
            del detector.feature_contributions
    torch.testing.assert_close(moved, expected, msg=f"{type(detector).__name__}.score ignores features={SUBSET}")


@pytest.mark.parametrize("name", DETECTORS.names())
def test_detector_keeps_the_contract(name, tmp_path):
    detector = build(name)
    batch = example_batch(detector)
    with torch.no_grad():
        assert isinstance(detector(batch), dict)
        score = detector.score(batch)
    assert isinstance(score, torch.Tensor) and score.shape == expected_shape(detector)
    assert torch.isfinite(score).all()
    check_feature_subset(detector, batch)

    path = Path(tmp_path) / "detector.pth"
    save_checkpoint({"model": detector.state_dict()}, path)
    restored = build(name, fit=False)
    restored.load_state_dict(load_checkpoint(path)["model"])
    with torch.no_grad():
        torch.testing.assert_close(restored.eval().score(batch), score)

    if detector.trainable:
        detector.train()
        params = [p for p in detector.parameters() if p.requires_grad]
        before = [p.detach().clone() for p in params]
        optimizer = torch.optim.Adam(params, lr=1e-2)
        loss = detector.loss(batch)["loss"]
        assert torch.isfinite(loss)
        loss.backward()
        optimizer.step()
        assert any(not torch.equal(b, p) for b, p in zip(before, params)), f"{name}: one training step changed no parameter"


@pytest.mark.parametrize("name", [n for n in DETECTORS.names() if DETECTORS.get(n).compat_modes])
def test_unknown_compat_mode_names_the_detector_and_the_allowed_values(name):
    cls = DETECTORS.get(name)
    with pytest.raises(ConfigError, match=f"{cls.__name__.lower()}: model.compat must be one of {', '.join(cls.compat_modes)}"):
        DETECTORS.build(dict(type=name, compat="nonsense", **SMALL[name]), n_features=FEATURES, window=WINDOW)


class ReadsEveryFeature(Detector):
    """Breaks the contract: overrides ``score`` and averages every feature whatever ``features`` says."""

    def forward(self, batch):
        return {"recon": batch["x"]}

    def feature_contributions(self, batch):
        return batch["x"].abs()

    def score(self, batch, features=None):
        return self.feature_contributions(batch).mean(-1)


class JointScoreReadsEveryFeature(Detector):
    """Breaks the contract: its ``joint_score`` receives ``features`` and ignores them."""

    def forward(self, batch):
        return {"score": self.joint_score(batch, None)}

    def joint_score(self, batch, features):
        return batch["x"].abs().mean(-1)


@pytest.mark.parametrize("cls", [ReadsEveryFeature, JointScoreReadsEveryFeature])
def test_the_check_catches_a_detector_that_ignores_the_feature_subset(cls):
    with pytest.raises(AssertionError, match="ignores features"):
        check_feature_subset(cls(), {"x": torch.randn(BATCH, WINDOW, FEATURES)})
