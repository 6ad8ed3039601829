"""MTAD: MambaAD's encoder, fusion bottleneck and L2 feature loss with a decoder of windowed
Mamba-Transformer (MTRec) blocks (KBS 2025). There is no public code; where the paper leaves a
choice open (MLP ratio, attention heads, Mamba's expansion and state size) the defaults are the
usual ones (4, 8, 2, 16); see docs/detectors.md for the parameter count they give.

``pad_to_window=False`` (not the paper's) runs a level smaller than the window as one window of
its own side instead of zero-padding it to a whole window: 4x fewer tokens at the 8x8 level.
"""
from __future__ import annotations

from typing import Sequence

from torch import nn

from model.blocks.hybrid_scan import DIRECTIONS
from model.blocks.mtrec import MTRec
from model.detectors.feature_reconstruction import FeatureReconstructionDetector, LevelDecoder
from util.errors import ConfigError
from util.registry import DETECTORS


def upsample(in_channels: int, out_channels: int) -> nn.Sequential:
    """``(B, C_in, H, W)`` -> ``(B, C_out, 2H, 2W)``: ConvTranspose2d 4x4 stride 2, BatchNorm, SiLU."""
    return nn.Sequential(nn.ConvTranspose2d(in_channels, out_channels, 4, stride=2, padding=1, bias=False), nn.BatchNorm2d(out_channels), nn.SiLU(inplace=True))


def mtrec_levels(
    channels: Sequence[int], sides: Sequence[int], depths: Sequence[int], window: int = 16, pad_to_window: bool = True, **mtrec
) -> nn.ModuleList:
    """MTAD's decoder levels: ``depths[j]`` MTRec blocks at level ``j``. Block ``i`` of a level scans
    its windows along Hilbert variant ``i mod 8``, so consecutive blocks alternate views and
    directions. A level smaller than ``window`` is zero-padded to one window (the paper), or with
    ``pad_to_window=False`` is one window of its own side. ``mtrec``: keyword arguments of ``MTRec``."""
    if len(depths) != len(channels):
        raise ConfigError(f"MTAD depths {list(depths)} must have one entry per decoder level ({len(channels)}).")
    return nn.ModuleList(
        nn.Sequential(*(MTRec(c, window=window if pad_to_window else min(window, s), direction=i % len(DIRECTIONS), **mtrec) for i in range(d)))
        for c, s, d in zip(channels, sides, depths)
    )


@DETECTORS.register("mtad")
class MTAD(FeatureReconstructionDetector):
    """MTAD (see the module docstring and ``FeatureReconstructionDetector``).

    Args:
        image_size, encoder, channels, loss: see ``FeatureReconstructionDetector``.
        depths: MTRec blocks per level (paper: 3, 4, 6, 3).
        window: window side of the MTRec blocks (paper: 16).
        pad_to_window: zero-pad a level smaller than ``window`` to one window (paper: True).
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
        pad_to_window: bool = True,
        curve: str = "hilbert",
        heads: int = 8,
        mlp_ratio: float = 4.0,
        d_state: int = 16,
        scan_backend: str = "auto",
        loss: dict | None = None,
    ) -> None:
        super().__init__(image_size, encoder, channels, loss)
        self.decoder = LevelDecoder(
            mtrec_levels(self.channels, self.sides, depths, window, pad_to_window, curve=curve, heads=heads, mlp_ratio=mlp_ratio, d_state=d_state, scan_backend=scan_backend),
            nn.ModuleList(upsample(a, b) for a, b in zip(self.channels[:-1], self.channels[1:])),
            self.output_projections(),
        )
