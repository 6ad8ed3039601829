"""Multi-head self-attention over time as a registered mixer (``attention``)."""
from __future__ import annotations

from torch import Tensor, nn

from model.blocks.norm import RMSNorm
from util.errors import ConfigError
from util.registry import MIXERS


@MIXERS.register("attention")
class AttentionMixer(nn.Module):
    """``RMSNorm(x + Dropout(MHSA(x)))`` over the time axis: ``(B, L, d_model)`` -> same.

    ``batch_axis=True`` reproduces a quirk of KambaAD's released code: ``nn.MultiheadAttention``
    with ``batch_first=False`` applied to a batch-first tensor, so each time step attends across the
    *windows of the batch* instead of across time (results then depend on batch composition).
    Only ``compat="release"`` uses it.
    """

    def __init__(self, d_model: int, n_heads: int = 4, dropout: float = 0.0, batch_axis: bool = False) -> None:
        super().__init__()
        if d_model % n_heads:
            raise ConfigError(f"attention: d_model={d_model} is not divisible by n_heads={n_heads}; change one of them.")
        self.attn = nn.MultiheadAttention(d_model, n_heads, dropout=dropout, batch_first=not batch_axis)
        self.dropout = nn.Dropout(dropout)
        self.norm = RMSNorm(d_model)

    def forward(self, x: Tensor) -> Tensor:
        attended, _ = self.attn(x, x, x, need_weights=False)
        return self.norm(x + self.dropout(attended))


__all__ = ["AttentionMixer"]
