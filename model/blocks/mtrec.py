"""MTRec: MTAD's windowed Mamba-Transformer reconstruction block."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from model.blocks.hybrid_scan import scan_order
from model.blocks.linear_attention import LinearAttention
from model.blocks.mamba import Mamba


def sincos_position_embedding(height: int, width: int, dim: int) -> Tensor:
    """Fixed 2-D sine-cosine positions ``(height * width, dim)`` in raster order: half of the
    channels encode the row, half the column, each as sines and cosines of geometric frequencies."""
    quarter = -(-dim // 4)
    frequencies = 1.0 / 10000 ** (torch.arange(quarter, dtype=torch.float32) / quarter)
    rows, cols = torch.meshgrid(torch.arange(height, dtype=torch.float32), torch.arange(width, dtype=torch.float32), indexing="ij")
    angles = [coordinate.reshape(-1, 1) * frequencies for coordinate in (rows, cols)]
    return torch.cat([f(a) for a in angles for f in (torch.sin, torch.cos)], dim=1)[:, :dim]


def window_partition(x: Tensor, window: int) -> Tensor:
    """``(B, C, H, W)`` with H, W multiples of ``window`` -> ``(B * nH * nW, window**2, C)``."""
    batch, channels, height, width = x.shape
    x = x.view(batch, channels, height // window, window, width // window, window)
    return x.permute(0, 2, 4, 3, 5, 1).reshape(-1, window * window, channels)


def window_reverse(tokens: Tensor, window: int, height: int, width: int) -> Tensor:
    """Inverse of ``window_partition``: ``(B * nH * nW, window**2, C)`` -> ``(B, C, H, W)``."""
    channels = tokens.shape[-1]
    x = tokens.view(-1, height // window, width // window, window, window, channels)
    return x.permute(0, 5, 1, 3, 2, 4).reshape(-1, channels, height, width)


class MLP(nn.Sequential):
    """``Linear(dim, ratio * dim)``, GELU, ``Linear(ratio * dim, dim)`` on ``(..., dim)``."""

    def __init__(self, dim: int, ratio: float = 4.0) -> None:
        hidden = int(dim * ratio)
        super().__init__(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))


class MambaTransformerBlock(nn.Module):
    """``(N, L, dim)`` -> ``(N, L, dim)``, tokens in scan order:
    ``x += Mamba(LN x); x += MLP(LN x); x += LinearAttn(LN x); x += MLP(LN x)``."""

    def __init__(self, dim: int, heads: int = 8, mlp_ratio: float = 4.0, d_state: int = 16, scan_backend: str = "auto") -> None:
        super().__init__()
        self.norms = nn.ModuleList(nn.LayerNorm(dim) for _ in range(4))
        self.mixers = nn.ModuleList(
            [
                Mamba(dim, d_state=d_state, scan_backend=scan_backend),
                MLP(dim, mlp_ratio),
                LinearAttention(dim, heads=heads),
                MLP(dim, mlp_ratio),
            ]
        )

    def forward(self, x: Tensor) -> Tensor:
        for norm, mixer in zip(self.norms, self.mixers):
            x = x + mixer(norm(x))
        return x


class MTRec(nn.Module):
    """``(B, C, H, W)`` -> ``(B, C, H, W)``.

    Pads H and W to multiples of ``window``, cuts ``window x window`` windows, adds 2-D sin-cos
    positions, reorders each window's tokens along Hilbert path variant ``direction`` (0-7: the
    eight views/reversals of ``hybrid_scan.DIRECTIONS``), applies one ``MambaTransformerBlock``,
    restores raster order, reverses the windows and crops; local fusion then concatenates the
    result with the block input and mixes them with a 1x1 conv.

    Args:
        dim: channels. window: window side (px of the feature map). direction: Hilbert variant.
        curve: scan curve of the windows. heads, mlp_ratio, d_state, scan_backend: see
            ``MambaTransformerBlock``.
    """

    def __init__(
        self,
        dim: int,
        window: int = 16,
        direction: int = 0,
        curve: str = "hilbert",
        heads: int = 8,
        mlp_ratio: float = 4.0,
        d_state: int = 16,
        scan_backend: str = "auto",
    ) -> None:
        super().__init__()
        self.window = window
        order = torch.from_numpy(scan_order(window, window, curve, direction))
        self.register_buffer("order", order, persistent=False)
        self.register_buffer("inverse", torch.argsort(order), persistent=False)
        self.register_buffer("position", sincos_position_embedding(window, window, dim), persistent=False)
        self.block = MambaTransformerBlock(dim, heads, mlp_ratio, d_state, scan_backend)
        self.fuse = nn.Conv2d(2 * dim, dim, 1)

    def forward(self, x: Tensor) -> Tensor:
        height, width = x.shape[-2:]
        w = self.window
        padded = F.pad(x, (0, -width % w, 0, -height % w))
        tokens = window_partition(padded, w) + self.position.to(x.dtype)
        tokens = self.block(tokens[:, self.order])[:, self.inverse]
        y = window_reverse(tokens, w, *padded.shape[-2:])[..., :height, :width]
        return self.fuse(torch.cat([y, x], dim=1))
