"""FLOP and parameter counts of a detector with fvcore, including the selective scan (a custom handle)."""
from __future__ import annotations

import logging
import warnings

import torch
from torch import nn

from model.ops.selective_scan import FVCORE_HANDLES, flop_counting
from util.logging import get_logger


class _TensorInputs(nn.Module):
    """Adapts a detector (dict in, dict out) to the tensor-tuple interface jit tracing needs."""

    def __init__(self, detector: nn.Module, keys: list[str]) -> None:
        super().__init__()
        self.detector, self.keys = detector, keys

    def forward(self, *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = self.detector(dict(zip(self.keys, tensors)))
        values = out.values() if isinstance(out, dict) else [out]
        flat: list[torch.Tensor] = []
        for v in values:
            flat.extend(v if isinstance(v, (list, tuple)) else [v])
        return tuple(t for t in flat if torch.is_tensor(t))


def parameter_count(model: nn.Module) -> dict[str, int]:
    """Total and trainable parameter counts."""
    return {
        "total": sum(p.numel() for p in model.parameters()),
        "trainable": sum(p.numel() for p in model.parameters() if p.requires_grad),
    }


def profile_flops(detector: nn.Module, batch: dict[str, torch.Tensor]) -> tuple[int | None, str]:
    """(FLOPs of one forward pass on ``batch``, fvcore's per-module table); (None, reason) if it fails."""
    with warnings.catch_warnings():  # fvcore.nn scripts its focal losses on import, which torch>=2.9 deprecates
        warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.* is deprecated", category=FutureWarning)
        from fvcore.nn import FlopCountAnalysis, flop_count_table

    keys = [k for k, v in batch.items() if torch.is_tensor(v)]
    wrapper = _TensorInputs(detector, keys).eval()
    logging.getLogger("fvcore").setLevel(logging.ERROR)
    try:
        with torch.no_grad(), flop_counting():
            analysis = FlopCountAnalysis(wrapper, tuple(batch[k] for k in keys))
            analysis.set_op_handle(**FVCORE_HANDLES)
            analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
            total = int(analysis.total())
            table = flop_count_table(analysis, max_depth=3)
    except Exception as exc:  # noqa: BLE001  fvcore cannot trace every model (e.g. scikit-learn baselines)
        get_logger().info("FLOPs not counted: %s: %s", type(exc).__name__, exc)
        return None, f"(FLOPs not counted: {type(exc).__name__}: {exc})"
    return total, table.replace("detector.", "")
