"""Kolmogorov-Arnold network layers (B-spline KAN) and the KambaAD KAN encoders ``kan_window``/``kan_point``."""
from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from model.blocks.norm import RMSNorm
from util.registry import ENCODERS


class KANLinear(nn.Module):
    """KAN layer: every input-output edge carries ``w_b * act(x) + s * spline(x)``.

    The spline is a B-spline of order ``spline_order`` on ``grid_size`` intervals of ``grid_range``
    (the knot vector is extended by ``spline_order`` intervals on each side). Outside the extended
    grid the spline is 0 and only the base branch acts. Shapes ``(..., in_features)`` -> ``(..., out_features)``.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        grid_size: int = 5,
        spline_order: int = 3,
        grid_range: Sequence[float] = (-1.0, 1.0),
        base_activation: type[nn.Module] = nn.SiLU,
        scale_noise: float = 0.1,
        scale_base: float = 1.0,
        scale_spline: float = 1.0,
        grid_eps: float = 0.02,
    ) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.grid_size, self.spline_order, self.grid_eps = grid_size, spline_order, grid_eps
        step = (grid_range[1] - grid_range[0]) / grid_size
        knots = torch.arange(-spline_order, grid_size + spline_order + 1, dtype=torch.float32) * step + grid_range[0]
        self.register_buffer("grid", knots.expand(in_features, -1).contiguous())  # (in, G + 2k + 1)
        self.base_weight = nn.Parameter(torch.empty(out_features, in_features))
        self.spline_weight = nn.Parameter(torch.empty(out_features, in_features, grid_size + spline_order))
        self.spline_scaler = nn.Parameter(torch.empty(out_features, in_features))
        self.base_activation = base_activation()
        nn.init.kaiming_uniform_(self.base_weight, a=math.sqrt(5) * scale_base)
        nn.init.uniform_(self.spline_weight, -scale_noise / grid_size, scale_noise / grid_size)
        nn.init.kaiming_uniform_(self.spline_scaler, a=math.sqrt(5) * scale_spline)

    def b_splines(self, x: Tensor) -> Tensor:
        """B-spline basis values ``(N, in) -> (N, in, grid_size + spline_order)`` (Cox-de Boor recursion)."""
        g = self.grid
        x = x.unsqueeze(-1)
        bases = ((x >= g[:, :-1]) & (x < g[:, 1:])).to(x.dtype)
        for p in range(1, self.spline_order + 1):
            left = (x - g[:, : -(p + 1)]) / (g[:, p:-1] - g[:, : -(p + 1)]) * bases[..., :-1]
            right = (g[:, p + 1 :] - x) / (g[:, p + 1 :] - g[:, 1:-p]) * bases[..., 1:]
            bases = left + right
        return bases

    @property
    def scaled_spline_weight(self) -> Tensor:
        return self.spline_weight * self.spline_scaler.unsqueeze(-1)

    def forward(self, x: Tensor) -> Tensor:
        lead = x.shape[:-1]
        x = x.reshape(-1, self.in_features)
        base = F.linear(self.base_activation(x), self.base_weight)
        spline = F.linear(self.b_splines(x).flatten(1), self.scaled_spline_weight.flatten(1))
        return (base + spline).reshape(*lead, self.out_features)

    @torch.no_grad()
    def update_grid(self, x: Tensor, margin: float = 0.01) -> None:
        """Refit the grid to the inputs ``x`` ``(N, in)`` while keeping the spline outputs on ``x``.

        New knots mix quantiles of ``x`` (weight ``1 - grid_eps``) with a uniform grid over its range;
        the spline coefficients are refitted by least squares.
        """
        x = x.reshape(-1, self.in_features)
        n = x.shape[0]
        old_bases = self.b_splines(x).permute(1, 0, 2)  # (in, N, coeff)
        old_out = old_bases @ self.scaled_spline_weight.permute(1, 2, 0)  # (in, N, out)
        x_sorted = torch.sort(x, dim=0).values
        idx = torch.linspace(0, n - 1, self.grid_size + 1, device=x.device).long()
        adaptive = x_sorted[idx]  # (G + 1, in)
        step = (x_sorted[-1] - x_sorted[0] + 2 * margin) / self.grid_size
        uniform = torch.arange(self.grid_size + 1, device=x.device, dtype=x.dtype).unsqueeze(1) * step
        uniform = uniform + x_sorted[0] - margin
        core = self.grid_eps * uniform + (1 - self.grid_eps) * adaptive
        k = self.spline_order
        ends = torch.arange(1, k + 1, device=x.device, dtype=x.dtype).unsqueeze(1) * step
        grid = torch.cat([core[:1] - ends.flip(0), core, core[-1:] + ends], dim=0)
        self.grid.copy_(grid.t())
        new_bases = self.b_splines(x).permute(1, 0, 2)
        coeff = torch.linalg.lstsq(new_bases, old_out).solution  # (in, coeff, out)
        scaler = self.spline_scaler.unsqueeze(-1)
        safe = torch.where(scaler.abs() < 1e-8, torch.full_like(scaler, 1e-8), scaler)
        self.spline_weight.copy_(coeff.permute(2, 0, 1) / safe)

    def regularization_loss(self, regularize_activation: float = 1.0, regularize_entropy: float = 1.0) -> Tensor:
        """KAN's sparsity regulariser: L1 of the spline weights plus the entropy of their distribution."""
        l1 = self.spline_weight.abs().mean(-1)
        total = l1.sum()
        p = l1 / total
        entropy = -(p * torch.log(p + 1e-12)).sum()
        return regularize_activation * total + regularize_entropy * entropy


class KAN(nn.Module):
    """A stack of ``KANLinear`` layers of widths ``layers_hidden`` (e.g. ``[in, hidden, out]``)."""

    def __init__(self, layers_hidden: Sequence[int], **layer_kwargs) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            KANLinear(a, b, **layer_kwargs) for a, b in zip(layers_hidden[:-1], layers_hidden[1:])
        )

    def forward(self, x: Tensor) -> Tensor:
        for layer in self.layers:
            x = layer(x)
        return x

    @torch.no_grad()
    def update_grid(self, x: Tensor) -> None:
        """Refit every layer's grid to the activations that ``x`` produces at its input."""
        for layer in self.layers:
            layer.update_grid(x)
            x = layer(x)

    def regularization_loss(self, regularize_activation: float = 1.0, regularize_entropy: float = 1.0) -> Tensor:
        return sum(layer.regularization_loss(regularize_activation, regularize_entropy) for layer in self.layers)


@ENCODERS.register("kan_window")
class KANWindowEncoder(nn.Module):
    """KambaAD's KAN block on the whole window: ``(B, W, F)`` -> ``(B, W, d_model)``.

    ``RMSNorm(Dropout(KAN(flatten(x)) reshaped to (B, W, d)) + Linear(F->d)(x))`` with the KAN of widths
    ``[W*F, hidden, W*d]``. The released code's hidden width was its batch size (8); here it is a
    parameter with that default.
    """

    def __init__(
        self,
        n_features: int,
        window: int,
        d_model: int,
        hidden: int = 8,
        grid_size: int = 5,
        spline_order: int = 3,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.window, self.d_model = window, d_model
        self.kan = KAN([window * n_features, hidden, window * d_model], grid_size=grid_size, spline_order=spline_order)
        self.skip = nn.Linear(n_features, d_model)
        self.dropout = nn.Dropout(dropout)
        self.norm = RMSNorm(d_model)

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[1] != self.window:
            raise ValueError(f"kan_window was built for windows of {self.window} steps, got {x.shape[1]}")
        mixed = self.kan(x.flatten(1)).reshape(x.shape[0], self.window, self.d_model)
        return self.norm(self.dropout(mixed) + self.skip(x))


@ENCODERS.register("kan_point")
class KANPointEncoder(nn.Module):
    """KambaAD's KAN block per time step (shared over time): ``(B, W, F)`` -> ``(B, W, d_model)``.

    ``RMSNorm(Dropout(KAN(x_t)) + Linear(F->d)(x_t))`` with the KAN of widths ``[F, hidden, d]``.
    ``window`` is accepted for the common encoder signature and not needed.
    """

    def __init__(
        self,
        n_features: int,
        window: int,
        d_model: int,
        hidden: int = 64,
        grid_size: int = 5,
        spline_order: int = 3,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.kan = KAN([n_features, hidden, d_model], grid_size=grid_size, spline_order=spline_order)
        self.skip = nn.Linear(n_features, d_model)
        self.dropout = nn.Dropout(dropout)
        self.norm = RMSNorm(d_model)

    def forward(self, x: Tensor) -> Tensor:
        return self.norm(self.dropout(self.kan(x)) + self.skip(x))


__all__ = ["KAN", "KANLinear", "KANPointEncoder", "KANWindowEncoder"]
