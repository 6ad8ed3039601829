"""Anomaly Transformer's data embedding: circular-conv token embedding + fixed sinusoidal positions."""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn


def sinusoidal_positions(length: int, d_model: int) -> Tensor:
    """Fixed sine/cosine position table ``(length, d_model)`` (Vaswani et al.); odd widths are cut."""
    position = torch.arange(length, dtype=torch.float32)[:, None]
    freq = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float32) * (-math.log(10000.0) / d_model))
    table = torch.zeros(length, d_model + d_model % 2)
    table[:, 0::2] = torch.sin(position * freq)
    table[:, 1::2] = torch.cos(position * freq)
    return table[:, :d_model]


class DataEmbedding(nn.Module):
    """``Dropout(Conv1d_k3_circular(x) + positions)``: ``(B, L, c_in)`` -> ``(B, L, d_model)``.

    The token embedding is a bias-free Conv1d over time with kernel 3 and circular padding
    (Kaiming-normal init), so each token also sees its two neighbours. Positions are
    computed for the sequence length of each call, so one module serves any length.
    """

    def __init__(self, c_in: int, d_model: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.d_model = d_model
        self.token = nn.Conv1d(c_in, d_model, kernel_size=3, padding=1, padding_mode="circular", bias=False)
        nn.init.kaiming_normal_(self.token.weight, mode="fan_in", nonlinearity="leaky_relu")
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        tokens = self.token(x.transpose(1, 2)).transpose(1, 2)
        positions = sinusoidal_positions(x.shape[1], self.d_model).to(device=x.device, dtype=tokens.dtype)
        return self.dropout(tokens + positions)


__all__ = ["DataEmbedding", "sinusoidal_positions"]
