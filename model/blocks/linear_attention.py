"""Multi-head linear attention with the ``elu(x) + 1`` feature map (Katharopoulos et al., 2020)."""
from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from util.errors import ConfigError


class LinearAttention(nn.Module):
    """``(B, L, dim)`` -> ``(B, L, dim)`` in O(L) time and memory.

    ``out_i = phi(q_i) . sum_j phi(k_j) v_j^T / (phi(q_i) . sum_j phi(k_j))`` per head, with
    ``phi(x) = elu(x) + 1`` (positive, so the normaliser never vanishes).

    Args:
        dim: channels. heads: attention heads (must divide ``dim``). eps: added to the normaliser.
    """

    def __init__(self, dim: int, heads: int = 8, eps: float = 1e-6) -> None:
        super().__init__()
        if dim % heads:
            raise ConfigError(f"linear attention: heads={heads} must divide the channels ({dim}).")
        self.heads, self.eps = heads, eps
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        batch, length, dim = x.shape
        q, k, v = self.qkv(x).view(batch, length, 3, self.heads, dim // self.heads).permute(2, 0, 3, 1, 4)  # (B, h, L, d)
        q, k = F.elu(q) + 1, F.elu(k) + 1
        context = k.transpose(-2, -1) @ v  # (B, h, d, d)
        normaliser = q @ k.sum(dim=2, keepdim=True).transpose(-2, -1)  # (B, h, L, 1)
        out = (q @ context) / (normaliser + self.eps)
        return self.proj(out.transpose(1, 2).reshape(batch, length, dim))
