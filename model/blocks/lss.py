"""LSS: MambaAD's locality-enhanced state-space module (global HSS cascade + local convolutions)."""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor, nn

from model.blocks.ss2d import HSSBlock


def local_branch(dim: int, kernel: int) -> nn.Sequential:
    """1x1 conv, depthwise ``kernel x kernel`` conv, 1x1 conv, each followed by BatchNorm + ReLU."""
    def unit(conv: nn.Conv2d) -> list[nn.Module]:
        return [conv, nn.BatchNorm2d(dim), nn.ReLU(inplace=True)]

    return nn.Sequential(
        *unit(nn.Conv2d(dim, dim, 1, bias=False)),
        *unit(nn.Conv2d(dim, dim, kernel, padding=kernel // 2, groups=dim, bias=False)),
        *unit(nn.Conv2d(dim, dim, 1, bias=False)),
    )


class LSS(nn.Module):
    """``(B, C, H, W)`` -> ``(B, C, H, W)``.

    Global path: a cascade of ``depth`` HSS blocks. Local paths: depthwise ``kernels`` (5x5 and
    7x7) convolution branches in parallel. The three outputs are concatenated, fused by a 1x1
    conv and added to the input.

    Args:
        dim: channels. size: ``(H, W)`` of the input maps. depth: HSS blocks in the cascade.
        drop_path: stochastic-depth rate of each HSS block (one value or one per block).
        kernels: kernel sizes of the local branches.
        ss2d: keyword arguments of ``SS2D`` (curve, directions, d_state, ...).
    """

    def __init__(
        self,
        dim: int,
        size: tuple[int, int],
        depth: int = 2,
        drop_path: float | Sequence[float] = 0.0,
        kernels: Sequence[int] = (5, 7),
        **ss2d,
    ) -> None:
        super().__init__()
        rates = [drop_path] * depth if isinstance(drop_path, (int, float)) else list(drop_path)
        self.global_path = nn.Sequential(*(HSSBlock(dim, drop_path=rate, size=size, **ss2d) for rate in rates))
        self.local_paths = nn.ModuleList(local_branch(dim, k) for k in kernels)
        self.fuse = nn.Conv2d(dim * (1 + len(self.local_paths)), dim, 1)

    def forward(self, x: Tensor) -> Tensor:
        global_features = self.global_path(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        paths = [global_features, *(path(x) for path in self.local_paths)]
        return x + self.fuse(torch.cat(paths, dim=1))
