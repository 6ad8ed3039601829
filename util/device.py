"""Device selection: CUDA when present and asked for, CPU otherwise."""
from __future__ import annotations

import torch

from util.errors import ConfigError


def select_device(name: str = "auto") -> torch.device:
    """``auto`` -> ``cuda`` if available else ``cpu``; an explicit CUDA device must exist."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise ConfigError(f"device='{name}' is not a device name; use auto, cpu, cuda or cuda:N.") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device='{name}' was asked for but CUDA is not available here; use device=auto or device=cpu.")
    return device


def move_batch(batch: dict, device: torch.device) -> dict:
    """Move every tensor of a batch dict to ``device`` (other values unchanged)."""
    return {k: v.to(device, non_blocking=True) if torch.is_tensor(v) else v for k, v in batch.items()}
