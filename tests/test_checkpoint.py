"""Checkpoints: atomic, checksummed, corruption is a clear error, and weights load only into their model."""
import pytest
import torch

from trainer.base import restore_weights
from util.checkpoint import load_checkpoint, save_checkpoint
from util.errors import CheckpointError
from util.registry import DETECTORS


def test_round_trip(tmp_path):
    state = {"model": {"w": torch.arange(5.0)}, "epoch": 3}
    save_checkpoint(state, tmp_path / "c.pth")
    loaded = load_checkpoint(tmp_path / "c.pth")
    assert loaded["epoch"] == 3 and torch.equal(loaded["model"]["w"], state["model"]["w"])
    assert [p.name for p in tmp_path.iterdir()] == ["c.pth"]  # no temporary file left


def test_corrupt_truncated_and_foreign_files_are_refused(tmp_path):
    path = tmp_path / "c.pth"
    save_checkpoint({"w": torch.ones(100)}, path)
    raw = bytearray(path.read_bytes())
    raw[-20] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(path)
    path.write_bytes(bytes(raw[: len(raw) // 2]))
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(path)
    torch.save({"w": 1}, path)
    with pytest.raises(CheckpointError, match="not an ssmad checkpoint"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "missing.pth")


def _state(detector, model_cfg):
    return {"model": detector.state_dict(), "model_cfg": model_cfg}


def test_score_only_keys_may_change_when_testing_a_checkpoint(tmp_path):
    trained_cfg = dict(type="dcdetector", patch_sizes=[2, 5], d_model=8, e_layers=1, compat="paper")
    trained = DETECTORS.build(trained_cfg, n_features=2, window=10)
    rescored_cfg = {**trained_cfg, "compat": "release", "temperature": 5.0}
    rescored = DETECTORS.build(rescored_cfg, n_features=2, window=10)
    restore_weights(rescored, _state(trained, trained_cfg), rescored_cfg, tmp_path / "c.pth")
    batch = {"x": torch.randn(3, 10, 2)}
    with torch.no_grad():
        paper, release = trained.score(batch), rescored.score(batch)
    assert torch.allclose(release, torch.softmax(-5.0 * paper, dim=-1))  # same weights, the other score

    other_cfg = {**trained_cfg, "d_model": 16}
    with pytest.raises(CheckpointError, match="differs at: d_model"):
        restore_weights(DETECTORS.build(other_cfg, n_features=2, window=10), _state(trained, trained_cfg), other_cfg, tmp_path / "c.pth")


def test_maat_compat_is_not_score_only(tmp_path):
    paper_cfg = dict(type="maat", d_model=8, n_heads=2, e_layers=2, d_ff=8, compat="paper")
    release_cfg = {**paper_cfg, "compat": "release"}
    paper = DETECTORS.build(paper_cfg, n_features=2, window=10)
    with pytest.raises(CheckpointError, match="differs at: compat"):
        restore_weights(DETECTORS.build(release_cfg, n_features=2, window=10), _state(paper, paper_cfg), release_cfg, tmp_path / "c.pth")
