"""MambaAD: frozen CNN encoder, fusion bottleneck and a Mamba decoder that reconstructs the
encoder's features; the anomaly map is where the reconstruction disagrees (He et al., NeurIPS 2024).

``FeatureReconstructionDetector`` holds what MambaAD and MTAD share (encoder, bottleneck, loss
inputs, anomaly map); each detector only supplies its decoder.

Built as the paper and the released code build it (docs/detectors.md); one difference stays:
weights start from PyTorch's default initialisation, not the release's (no paper states it).
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
DEFAULT_LOSS = dict(type="feature_mse", weight=5.0)


def conv_bn_relu(in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, bias: bool = False) -> nn.Sequential:
    """Conv (``kernel_size`` x ``kernel_size``, padding keeps the size), BatchNorm, ReLU."""
    conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, kernel_size // 2, bias=bias)
    return nn.Sequential(conv, nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))


def resnet_bottlenecks(in_channels: int, out_channels: int, blocks: int, stride: int = 2) -> nn.Sequential:
    """``blocks`` ResNet bottleneck blocks (timm's, expansion 4) from ``in_channels`` to ``out_channels``;
    the first has ``stride`` and a 1x1 conv + BatchNorm shortcut."""
    from timm.models.resnet import Bottleneck  # timm on first use: seconds of start-up that time-series runs skip

    if out_channels % Bottleneck.expansion:
        raise ConfigError(f"model.channels[0]={out_channels} (the bottleneck's width) must be a multiple of {Bottleneck.expansion}.")
    planes = out_channels // Bottleneck.expansion
    shortcut = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride, bias=False), nn.BatchNorm2d(out_channels))
    first = Bottleneck(in_channels, planes, stride=stride, downsample=shortcut)
    return nn.Sequential(first, *(Bottleneck(out_channels, planes) for _ in range(blocks - 1)))


class FusionBottleneck(nn.Module):
    """Encoder maps (finest first) -> one ``(B, out_channels, H / 2r, W / 2r)`` map, r = coarsest reduction.

    MambaAD's multi-scale fusion and one-class embedding (``MFF_OCE`` in the release), FPN-style
    from fine to coarse: the running map (at first the finest level) is brought to the next
    level's resolution and channels by stride-2 3x3 convs and added to that level's 1x1
    projection; a 1x1 conv mixes the sum at the coarsest level and ``blocks`` ResNet bottleneck
    blocks, the first with stride 2, compress it to ``out_channels``. The 3x3 convs have no bias,
    the 1x1 convs do; every conv is followed by BatchNorm and ReLU, as released. With ResNet34
    (64/128/256 channels) and ``out_channels=512``: about 1.46M parameters.
    """

    def __init__(self, channels: Sequence[int], reductions: Sequence[int], out_channels: int, blocks: int = 3) -> None:
        super().__init__()
        self.down, self.lateral = nn.ModuleList(), nn.ModuleList()
        for i in range(1, len(channels)):
            steps = math.log2(reductions[i] / reductions[i - 1])
            if steps < 1 or steps != int(steps):
                raise ConfigError(f"encoder level reductions {list(reductions)} must grow by powers of two (at least 2) from level to level.")
            convs = [conv_bn_relu(channels[i - 1] if k == 0 else channels[i], channels[i], 3, stride=2) for k in range(int(steps))]
            self.down.append(nn.Sequential(*convs))
            self.lateral.append(conv_bn_relu(channels[i], channels[i], 1, bias=True))
        self.mix = conv_bn_relu(channels[-1], channels[-1], 1, bias=True)
        self.embed = resnet_bottlenecks(channels[-1], out_channels, blocks)

    def forward(self, features: list[Tensor]) -> Tensor:
        x = features[0]
        for down, lateral, level in zip(self.down, self.lateral, features[1:]):
            x = down(x) + lateral(level)
        return self.embed(self.mix(x))


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
        loss: a ``LOSSES`` config over ``enc``/``dec`` (default ``feature_mse`` at weight 5, the paper's
            and the release's L2 loss summed over the three scales).
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
