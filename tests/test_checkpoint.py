"""Checkpoints: atomic, checksummed, and corruption is a clear error."""
import pytest
import torch

from util.checkpoint import load_checkpoint, save_checkpoint
from util.errors import CheckpointError


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
