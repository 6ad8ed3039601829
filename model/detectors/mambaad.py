"""MambaAD: frozen CNN encoder, fusion bottleneck and a Mamba decoder that reconstructs the
encoder's features; the anomaly map is where the reconstruction disagrees (He et al., NeurIPS 2024).

``model.detectors.feature_reconstruction`` holds what MambaAD and MTAD share (encoder, bottleneck,
loss inputs, anomaly map); each detector only supplies its decoder.

Built as the paper and the released code build it (docs/detectors.md); one difference stays:
weights start from PyTorch's default initialisation, not the release's (no paper states it).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch.nn.functional as F
from torch import Tensor, nn

from model.blocks.lss import LSS
from model.detectors.feature_reconstruction import FeatureReconstructionDetector, LevelDecoder
from util.errors import ConfigError
from util.registry import DETECTORS


class PatchExpand(nn.Module):
    """``(B, C_in, H, W)`` -> ``(B, C_out, 2H, 2W)``: linear map to ``4 * C_out`` channels,
    pixel shuffle, LayerNorm over channels (Swin-Unet's patch expanding)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.expand = nn.Conv2d(in_channels, 4 * out_channels, 1, bias=False)
        self.norm = nn.LayerNorm(out_channels)

    def forward(self, x: Tensor) -> Tensor:
        x = F.pixel_shuffle(self.expand(x), 2)
        return self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


def lss_drop_path_rates(depths: Sequence[int], lss_per_level: Sequence[int], drop_path: float) -> list[list[float]]:
    """Stochastic-depth rate of each LSS module, per level (coarsest first), as released: the rates
    fall linearly from ``drop_path`` to 0 over all HSS blocks, coarse to fine, and LSS module ``i``
    of a level takes the rate of that level's ``i``-th block for all its blocks. Paper depths,
    ``drop_path=0.2``: ``[[0.2], [0.16, 0.147], [0.107, 0.093], [0.027]]`` (8x8 down to 64x64 at 256 px)."""
    rates = np.linspace(drop_path, 0.0, sum(depths)).tolist()
    starts = np.cumsum([0, *depths[:-1]]).tolist()
    return [rates[start : start + n] for start, n in zip(starts, lss_per_level)]


def mamba_levels(
    channels: Sequence[int],
    sides: Sequence[int],
    depths: Sequence[int],
    lss_per_level: Sequence[int],
    drop_path: float = 0.2,
    **ss2d,
) -> nn.ModuleList:
    """MambaAD's decoder levels: level ``j`` is ``lss_per_level[j]`` LSS modules sharing
    ``depths[j]`` HSS blocks, with the stochastic depth of ``lss_drop_path_rates``.
    ``ss2d``: keyword arguments of ``SS2D`` (curve, directions, d_state, expand, scan_backend)."""
    if not len(channels) == len(depths) == len(lss_per_level):
        raise ConfigError(f"decoder channels {list(channels)}, depths {list(depths)} and lss_per_level {list(lss_per_level)} must have one entry per level ({len(channels)}).")
    if any(d % n for d, n in zip(depths, lss_per_level)):
        raise ConfigError(f"every depth {list(depths)} must be divisible by its lss_per_level {list(lss_per_level)}.")
    rates = lss_drop_path_rates(depths, lss_per_level, drop_path)
    return nn.ModuleList(
        nn.Sequential(*(LSS(c, (s, s), depth=d // n, drop_path=rate, **ss2d) for rate in level_rates))
        for c, s, d, n, level_rates in zip(channels, sides, depths, lss_per_level, rates)
    )


def scan_settings(scan: dict | None) -> dict:
    """``scan=dict(curve=..., directions=...)`` checked, with defaults (Hilbert, 8 directions)."""
    settings = dict(curve="hilbert", directions=8)
    unknown = set(scan or {}) - set(settings)
    if unknown:
        raise ConfigError(f"Unknown key(s) {sorted(unknown)} in model.scan; accepted: curve, directions.")
    return {**settings, **(scan or {})}


@DETECTORS.register("mambaad")
class MambaAD(FeatureReconstructionDetector):
    """MambaAD (see the module docstring and ``FeatureReconstructionDetector``).

    Args:
        image_size, encoder, channels, loss: see ``FeatureReconstructionDetector``.
        depths: HSS blocks per level (paper: 3, 4, 6, 3). lss_per_level: LSS modules per level
            (paper: 1, 2, 2, 1, i.e. LSS of 3, 2, 3, 3 HSS blocks).
        scan: ``dict(curve=..., directions=...)``: one of ``SCAN_CURVES`` and 1, 2, 4 or 8.
        d_state, expand: SS2D state size and channel expansion.
        drop_path: stochastic depth of the coarsest LSS module (paper: 0.2), ramped down to the finest
            (``lss_drop_path_rates``).
        scan_backend: backend of the selective scan (``auto``, ``cpp``, ``torch_loop``, ``torch_chunked``, ``torch_ref``, ``mamba_ssm``).
    """

    def __init__(
        self,
        image_size: int,
        encoder: dict | None = None,
        channels: Sequence[int] | None = None,
        depths: Sequence[int] = (3, 4, 6, 3),
        lss_per_level: Sequence[int] = (1, 2, 2, 1),
        scan: dict | None = None,
        d_state: int = 16,
        expand: float = 2.0,
        drop_path: float = 0.2,
        scan_backend: str = "auto",
        loss: dict | None = None,
    ) -> None:
        super().__init__(image_size, encoder, channels, loss)
        if self.sides[0] < 2:
            raise ConfigError(
                f"image_size={image_size} gives a {self.sides[0]}x{self.sides[0]} bottleneck map; the LSS modules' instance norm "
                f"needs at least 2x2: set data.image_size to {4 * self.encoder.reductions[-1]} or more."
            )
        self.scan = scan_settings(scan)
        self.decoder = LevelDecoder(
            mamba_levels(self.channels, self.sides, depths, lss_per_level, drop_path, d_state=d_state, expand=expand, scan_backend=scan_backend, **self.scan),
            nn.ModuleList(PatchExpand(a, b) for a, b in zip(self.channels[:-1], self.channels[1:])),
            self.output_projections(),
        )

    def extra_repr_info(self) -> dict:
        return {"scan": self.scan, **super().extra_repr_info()}
