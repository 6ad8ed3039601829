"""LSS: MambaAD's locality-enhanced state-space module (global HSS cascade + local convolutions)."""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor, nn

from model.blocks.ss2d import HSSBlock


def local_branch(dim: int, kernel: int) -> nn.Sequential:
    """1x1 conv, depthwise ``kernel x kernel`` conv, 1x1 conv, each followed by InstanceNorm2d + SiLU.

    As released: the 1x1 convs have a bias, the depthwise one has none. Instance norm uses each
    image's own statistics, so a multi-class decoder does not depend at test time on running
    statistics shared by every class (as BatchNorm would).
    """
    def unit(conv: nn.Conv2d) -> list[nn.Module]:
        return [conv, nn.InstanceNorm2d(dim), nn.SiLU()]

    return nn.Sequential(
        *unit(nn.Conv2d(dim, dim, 1)),
        *unit(nn.Conv2d(dim, dim, kernel, padding=kernel // 2, groups=dim, bias=False)),
        *unit(nn.Conv2d(dim, dim, 1)),
    )


class LSS(nn.Module):
    """``(B, C, H, W)`` -> ``(B, C, H, W)``.

    Global path: a cascade of ``depth`` HSS blocks. Local paths: depthwise ``kernels`` (5x5 and
    7x7) convolution branches in parallel. The three outputs are concatenated, fused by a 1x1
    conv and added to the input.

    Args:
        dim: channels. size: ``(H, W)`` of the input maps. depth: HSS blocks in the cascade.
        drop_path: stochastic-depth rate of every HSS block of the module (one rate per LSS, as released).
        kernels: kernel sizes of the local branches.
        ss2d: keyword arguments of ``SS2D`` (curve, directions, d_state, ...).
    """

    def __init__(
        self,
        dim: int,
        size: tuple[int, int],
        depth: int = 2,
        drop_path: float = 0.0,
        kernels: Sequence[int] = (5, 7),
        **ss2d,
    ) -> None:
        super().__init__()
        self.global_path = nn.Sequential(*(HSSBlock(dim, drop_path=drop_path, size=size, **ss2d) for _ in range(depth)))
        self.local_paths = nn.ModuleList(local_branch(dim, k) for k in kernels)
        self.fuse = nn.Conv2d(dim * (1 + len(self.local_paths)), dim, 1)

    def forward(self, x: Tensor) -> Tensor:
        global_features = self.global_path(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        paths = [global_features, *(path(x) for path in self.local_paths)]
        return x + self.fuse(torch.cat(paths, dim=1))
