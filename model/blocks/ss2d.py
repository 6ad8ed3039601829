"""SS2D (2-D selective scan over several scan orders) and the HSS block built on it (MambaAD)."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from model.blocks.drop_path import DropPath
from model.blocks.hybrid_scan import HybridScan
from model.ops.selective_scan import selective_scan


class SS2D(nn.Module):
    """2-D selective scan: ``(B, H, W, d_model)`` -> ``(B, H, W, d_model)`` (channels last).

    Linear expansion to ``(x, z)``; depthwise 3x3 conv + SiLU on x; x serialised along the
    ``HybridScan`` orders; one selective scan per direction with its own ``x_proj``, ``dt_proj``,
    ``A_log`` and ``D`` (all directions run as one batched scan of ``K * d_inner`` channels, B and C
    grouped per direction); sequences put back in raster order and summed; LayerNorm; gate
    ``silu(z)``; output projection.

    Args:
        d_model: channels in and out.
        size: ``(H, W)`` of the maps this module sees (the scan orders are built for it).
        curve, directions: scan curve and number of directions (see ``HybridScan``).
        d_state, expand, dt_rank: SSM state size, ``d_inner = expand * d_model``, rank of dt
            (``"auto"``: ``ceil(d_model / 16)``).
        dt_min, dt_max: range of the initial step sizes (log-uniform, as Mamba).
        scan_backend: backend of ``selective_scan``.
    """

    def __init__(
        self,
        d_model: int,
        size: tuple[int, int],
        curve: str = "hilbert",
        directions: int = 8,
        d_state: int = 16,
        expand: float = 2.0,
        dt_rank: int | str = "auto",
        dt_min: float = 0.001,
        dt_max: float = 0.1,
        scan_backend: str = "auto",
    ) -> None:
        super().__init__()
        d_inner = int(expand * d_model)
        rank = math.ceil(d_model / 16) if dt_rank == "auto" else int(dt_rank)
        self.scan = HybridScan(*size, curve=curve, n_directions=directions)
        k = self.scan.n_directions
        self.d_inner, self.d_state, self.dt_rank, self.scan_backend = d_inner, d_state, rank, scan_backend
        self.in_proj = nn.Linear(d_model, 2 * d_inner, bias=False)
        self.conv = nn.Conv2d(d_inner, d_inner, 3, padding=1, groups=d_inner)
        self.x_proj_weight = nn.Parameter(torch.empty(k, rank + 2 * d_state, d_inner))  # per direction: x -> (dt, B, C)
        nn.init.uniform_(self.x_proj_weight, -(d_inner**-0.5), d_inner**-0.5)
        self.dt_proj_weight = nn.Parameter(torch.empty(k, d_inner, rank).uniform_(-(rank**-0.5), rank**-0.5))
        dt = torch.exp(torch.rand(k * d_inner) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min)).clamp(min=1e-4)
        self.dt_bias = nn.Parameter(dt + torch.log(-torch.expm1(-dt)))  # softplus(dt_bias) == dt
        self.A_log = nn.Parameter(torch.log(torch.arange(1, d_state + 1, dtype=torch.float32)).repeat(k * d_inner, 1))
        self.D = nn.Parameter(torch.ones(k * d_inner))
        self.out_norm = nn.LayerNorm(d_inner)
        self.out_proj = nn.Linear(d_inner, d_model, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        batch, height, width, _ = x.shape
        x, z = self.in_proj(x).chunk(2, dim=-1)  # each (B, H, W, d_inner)
        x = F.silu(self.conv(x.permute(0, 3, 1, 2)))
        xs = self.scan.serialize(x)  # (B, K, d_inner, L)
        k, length = xs.shape[1], xs.shape[-1]
        dt, B, C = torch.einsum("bkdl,kcd->bkcl", xs, self.x_proj_weight).split([self.dt_rank, self.d_state, self.d_state], dim=2)
        delta = torch.einsum("bkrl,kdr->bkdl", dt, self.dt_proj_weight)
        y = selective_scan(
            xs.reshape(batch, k * self.d_inner, length),
            delta.reshape(batch, k * self.d_inner, length),
            -torch.exp(self.A_log.float()),
            B.contiguous(),  # (B, K, d_state, L): group k serves the channels of direction k
            C.contiguous(),
            self.D.float(),
            delta_bias=self.dt_bias.float(),
            delta_softplus=True,
            backend=self.scan_backend,
        )
        y = self.scan.merge(y.view(batch, k, self.d_inner, length).to(x.dtype))  # (B, d_inner, H, W)
        y = self.out_norm(y.permute(0, 2, 3, 1)) * F.silu(z)
        return self.out_proj(y)


class HSSBlock(nn.Module):
    """Hybrid state-space block: ``x + DropPath(SS2D(LayerNorm(x)))`` on ``(B, H, W, C)`` maps.

    Args:
        dim: channels. drop_path: stochastic-depth rate. ss2d: keyword arguments of ``SS2D``
            (``size`` included).
    """

    def __init__(self, dim: int, drop_path: float = 0.0, **ss2d) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.ss2d = SS2D(dim, **ss2d)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        return x + self.drop_path(self.ss2d(self.norm(x)))
