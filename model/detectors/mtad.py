"""MTAD: MambaAD's encoder and bottleneck with a decoder of windowed Mamba-Transformer (MTRec)
blocks (KBS 2025)."""
from __future__ import annotations

from typing import Sequence

from torch import nn

from model.blocks.hybrid_scan import DIRECTIONS
from model.blocks.mtrec import MTRec
from model.detectors.mambaad import FeatureReconstructionDetector, LevelDecoder
from util.errors import ConfigError
from util.registry import DETECTORS


def upsample(in_channels: int, out_channels: int) -> nn.Sequential:
    """``(B, C_in, H, W)`` -> ``(B, C_out, 2H, 2W)``: ConvTranspose2d 4x4 stride 2, BatchNorm, SiLU."""
    return nn.Sequential(nn.ConvTranspose2d(in_channels, out_channels, 4, stride=2, padding=1, bias=False), nn.BatchNorm2d(out_channels), nn.SiLU(inplace=True))


def mtrec_levels(channels: Sequence[int], sides: Sequence[int], depths: Sequence[int], window: int = 16, **mtrec) -> nn.ModuleList:
    """MTAD's decoder levels: ``depths[j]`` MTRec blocks at level ``j``. Block ``i`` of a level scans
    its windows along Hilbert variant ``i mod 8``, so consecutive blocks alternate views and
    directions. A level smaller than ``window`` uses one window of its own side rather than
    windows padded mostly with zeros. ``mtrec``: keyword arguments of ``MTRec``."""
    if len(depths) != len(channels):
        raise ConfigError(f"MTAD depths {list(depths)} must have one entry per decoder level ({len(channels)}).")
    return nn.ModuleList(
        nn.Sequential(*(MTRec(c, window=min(window, s), direction=i % len(DIRECTIONS), **mtrec) for i in range(d)))
        for c, s, d in zip(channels, sides, depths)
    )


@DETECTORS.register("mtad")
class MTAD(FeatureReconstructionDetector):
    """MTAD (see the module docstring and ``FeatureReconstructionDetector``).

    Args:
        image_size, encoder, channels, loss: see ``FeatureReconstructionDetector``.
        depths: MTRec blocks per level (paper: 3, 4, 6, 3).
        window: window side of the MTRec blocks (paper: 16).
        curve: scan curve inside the windows (paper: Hilbert).
        heads, mlp_ratio: linear attention heads and MLP expansion. d_state: Mamba state size.
        scan_backend: backend of the selective scan.
    """

    def __init__(
        self,
        image_size: int,
        encoder: dict | None = None,
        channels: Sequence[int] | None = None,
        depths: Sequence[int] = (3, 4, 6, 3),
        window: int = 16,
        curve: str = "hilbert",
        heads: int = 8,
        mlp_ratio: float = 4.0,
        d_state: int = 16,
        scan_backend: str = "auto",
        loss: dict | None = None,
    ) -> None:
        super().__init__(image_size, encoder, channels, loss)
        self.decoder = LevelDecoder(
            mtrec_levels(self.channels, self.sides, depths, window, curve=curve, heads=heads, mlp_ratio=mlp_ratio, d_state=d_state, scan_backend=scan_backend),
            nn.ModuleList(upsample(a, b) for a, b in zip(self.channels[:-1], self.channels[1:])),
            self.output_projections(),
        )
