"""Reconstruction losses: how far ``outputs["recon"]`` is from ``batch["x"]``.

Each loss averages over every element of the batch (batch, window, features) and returns
``dict(loss=scalar)``.
"""
from __future__ import annotations

import torch
from torch import nn

from util.registry import LOSSES


def reconstruction_residual(outputs: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """``recon - x``, both ``(batch, window, features)``; a shape mismatch is a model bug."""
    recon, x = outputs["recon"], batch["x"]
    if recon.shape != x.shape:
        raise ValueError(f"reconstruction has shape {tuple(recon.shape)} but the input has {tuple(x.shape)}")
    return recon - x


@LOSSES.register("mse")
class MSELoss(nn.Module):
    """Mean squared reconstruction error."""

    def forward(self, outputs: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {"loss": reconstruction_residual(outputs, batch).pow(2).mean()}


@LOSSES.register("rmse")
class RMSELoss(nn.Module):
    """Root of the mean squared error over the whole batch (KambaAD's objective).

    Args:
        eps: added under the root so the gradient stays finite at a perfect reconstruction.
    """

    def __init__(self, eps: float = 1e-8) -> None:
        super().__init__()
        self.eps = eps

    def forward(self, outputs: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        mse = reconstruction_residual(outputs, batch).pow(2).mean()
        return {"loss": torch.sqrt(mse + self.eps), "mse": mse.detach()}


@LOSSES.register("mae")
class MAELoss(nn.Module):
    """Mean absolute reconstruction error."""

    def forward(self, outputs: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {"loss": reconstruction_residual(outputs, batch).abs().mean()}
