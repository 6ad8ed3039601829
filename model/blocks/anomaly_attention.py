"""Anomaly attention (Xu et al., ICLR 2022): a learned Gaussian *prior* association next to the
usual softmax *series* association, plus the attention-map module DCdetector reuses.

Masks (MAAT's options) apply to the series association only; the prior is always the full
Gaussian over ``|i - j|``.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from util.errors import ConfigError


def block_diagonal_mask(length: int, block_size: int, device: torch.device | None = None) -> Tensor:
    """``(length, length)`` bool, True where query ``i`` may attend key ``j``: same block of
    ``block_size`` steps (``i // block_size == j // block_size``); a ragged last block is just shorter."""
    block = torch.arange(length, device=device) // block_size
    return block[:, None] == block[None, :]


def causal_mask(length: int, device: torch.device | None = None) -> Tensor:
    """``(length, length)`` bool, True where key ``j <= i``."""
    return torch.ones(length, length, dtype=torch.bool, device=device).tril()


class AttentionMap(nn.Module):
    """Multi-head attention weights only: ``softmax(Q K^T / sqrt(d_head))``.

    ``(B, L, d_model)`` -> ``(B, n_heads, L, L)``; ``allowed`` ``(L, L)`` bool masks keys out
    (every row must keep at least one key, e.g. the diagonal).
    """

    def __init__(self, d_model: int, n_heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        if d_model % n_heads:
            raise ConfigError(f"model.d_model={d_model} is not divisible by model.n_heads={n_heads}; change one of them.")
        self.n_heads = n_heads
        self.query = nn.Linear(d_model, d_model)
        self.key = nn.Linear(d_model, d_model)
        self.dropout = nn.Dropout(dropout)

    def split_heads(self, x: Tensor) -> Tensor:
        """``(B, L, d_model)`` -> ``(B, n_heads, L, d_head)``."""
        batch, length, _ = x.shape
        return x.view(batch, length, self.n_heads, -1).transpose(1, 2)

    def forward(self, x: Tensor, allowed: Tensor | None = None) -> Tensor:
        q, k = self.split_heads(self.query(x)), self.split_heads(self.key(x))
        scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
        if allowed is not None:
            scores = scores.masked_fill(~allowed, float("-inf"))
        return self.dropout(torch.softmax(scores, dim=-1))


class AnomalyAttention(nn.Module):
    """Anomaly attention: ``(B, L, d_model)`` -> ``(out, series, prior, sigma)``.

    - ``series`` ``(B, H, L, L)``: ``softmax(Q K^T / sqrt(d_head))``, optionally masked to blocks of
      ``block_size`` steps (block-diagonal sparse attention) and/or causally.
    - ``sigma`` ``(B, H, L)``: per step and head, ``3 ** (sigmoid(5 * s) + 1e-5) - 1`` with
      ``s = Linear(d_model -> H)(x)``.
    - ``prior`` ``(B, H, L, L)``: Gaussian ``exp(-|i-j|^2 / (2 sigma_i^2))``, row-normalised (the
      Gaussian's ``1/(sqrt(2 pi) sigma)`` factor cancels in the normalisation).
    - ``out`` ``(B, L, d_model)``: ``Linear(series @ V)``.
    """

    def __init__(self, d_model: int, n_heads: int = 8, dropout: float = 0.0, block_size: int | None = None, causal: bool = False) -> None:
        super().__init__()
        if block_size is not None and block_size < 1:
            raise ConfigError(f"model.block_size={block_size} must be a positive number of steps (or None for dense attention).")
        self.block_size, self.causal = block_size, causal
        self.qk = AttentionMap(d_model, n_heads, dropout)
        self.value = nn.Linear(d_model, d_model)
        self.sigma = nn.Linear(d_model, n_heads)
        self.out = nn.Linear(d_model, d_model)

    def allowed(self, length: int, device: torch.device) -> Tensor | None:
        """The series-association mask ``(L, L)`` (True = may attend), or None when dense."""
        masks = []
        if self.block_size is not None:
            masks.append(block_diagonal_mask(length, self.block_size, device))
        if self.causal:
            masks.append(causal_mask(length, device))
        if not masks:
            return None
        return masks[0] if len(masks) == 1 else masks[0] & masks[1]

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        batch, length, _ = x.shape
        series = self.qk(x, self.allowed(length, x.device))
        values = self.qk.split_heads(self.value(x))
        out = self.out((series @ values).transpose(1, 2).reshape(batch, length, -1))
        sigma = torch.pow(3.0, torch.sigmoid(5.0 * self.sigma(x)) + 1e-5) - 1.0  # (B, L, H)
        sigma = sigma.transpose(1, 2)  # (B, H, L)
        steps = torch.arange(length, device=x.device, dtype=x.dtype)
        distance_sq = (steps[:, None] - steps[None, :]).pow(2)
        prior = torch.exp(-distance_sq / (2.0 * sigma[..., None].pow(2)))
        prior = prior / prior.sum(-1, keepdim=True)
        return out, series, prior, sigma


__all__ = ["AnomalyAttention", "AttentionMap", "block_diagonal_mask", "causal_mask"]
