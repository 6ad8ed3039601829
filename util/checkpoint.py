"""Checkpoints written atomically with a checksum, and verified when read.

File format: a header line ``SSMAD-CKPT 1 <sha256 of payload>`` then the ``torch.save`` payload.
A write goes to a temporary file in the same folder, is flushed and fsynced, then renamed
over the target, so a crash never leaves a half-written checkpoint under the real name.
"""
from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path
from typing import Any

import torch

from util.errors import CheckpointError

MAGIC = b"SSMAD-CKPT 1 "


def save_checkpoint(state: dict[str, Any], path: str | Path) -> None:
    """Atomically write ``state`` to ``path``."""
    path = Path(path)
    buffer = io.BytesIO()
    torch.save(state, buffer)
    payload = buffer.getvalue()
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            f.write(MAGIC + hashlib.sha256(payload).hexdigest().encode() + b"\n")
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise CheckpointError(f"Could not write checkpoint {path}: {exc}. Check free disk space and folder permissions.") from exc


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read and verify a checkpoint written by ``save_checkpoint``."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"Checkpoint not found: {path}. Train first (-m train) or pass checkpoint=PATH.")
    raw = path.read_bytes()
    header, _, payload = raw.partition(b"\n")
    if not header.startswith(MAGIC):
        raise CheckpointError(f"{path} is not an ssmad checkpoint (no header). Pass a ckpt_*.pth written by run.py.")
    if hashlib.sha256(payload).hexdigest().encode() != header[len(MAGIC):]:
        raise CheckpointError(
            f"Checkpoint {path} is corrupt (checksum mismatch; truncated or modified). "
            "Use the other checkpoint of the run (ckpt_last.pth / ckpt_best.pth) or retrain."
        )
    try:
        # Our own, checksum-verified file: full unpickling is needed for RNG states.
        return torch.load(io.BytesIO(payload), map_location=map_location, weights_only=False)
    except Exception as exc:
        raise CheckpointError(f"Checkpoint {path} could not be read: {exc}") from exc
