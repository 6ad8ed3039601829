"""What the association-discrepancy detectors share: the score's softmax temperature per compat
mode (Anomaly Transformer, MAAT and DCdetector's released score) and Anomaly Transformer's
encoder, loss and score, which ``anomaly_transformer`` registers and MAAT extends.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from loss.minimax import step_discrepancy
from model.blocks.anomaly_attention import AnomalyAttention
from model.blocks.embed import DataEmbedding
from model.detectors.base import Detector

# Temperature of the score's softmax per compat mode: the paper's Eq. 6 has none, the released solver uses 50.
SCORE_TEMPERATURE = {"paper": 1.0, "release": 50.0}


def resolve_temperature(compat: str, temperature: float | None) -> float:
    """The score temperature: ``temperature`` when given, else the default of ``compat`` (a checked mode)."""
    return SCORE_TEMPERATURE[compat] if temperature is None else float(temperature)


class AnomalyEncoderLayer(nn.Module):
    """``(B, W, d_model)`` -> ``(h, series, prior, sigma)``: anomaly attention, then the FFN.

    ``x = LN(x + Drop(attn(x)))``; ``h = LN(x + Drop(W2 Drop(gelu(W1 x))))`` (the released
    kernel-1 Conv1d pair is a Linear pair).
    """

    def __init__(self, d_model: int, n_heads: int, d_ff: int, dropout: float, block_size: int | None, causal: bool) -> None:
        super().__init__()
        self.attention = AnomalyAttention(d_model, n_heads, dropout, block_size=block_size, causal=causal)
        self.ffn_in = nn.Linear(d_model, d_ff)
        self.ffn_out = nn.Linear(d_ff, d_model)
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        attended, series, prior, sigma = self.attention(x)
        x = self.norm1(x + self.dropout(attended))
        y = self.dropout(self.ffn_out(self.dropout(F.gelu(self.ffn_in(x)))))
        return self.norm2(x + y), series, prior, sigma


class AssociationTransformer(Detector):
    """Anomaly Transformer's network, loss and score (``model.detectors.anomaly_transformer``); MAAT
    extends it through ``refine``.

    Args:
        n_features, window: input shape ``(B, window, n_features)``.
        d_model, n_heads, e_layers, d_ff, dropout: encoder sizes (paper: 512, 8, 3, 512, 0.0).
        temperature: multiplies the discrepancy inside the score's softmax (None: 1 for
            ``compat="paper"``, 50 for ``compat="release"``).
        block_size: series attention only inside blocks of this many steps (None: dense).
        causal: causal series attention.
        compat: "paper" (default) or "release"; only the score temperature differs.
        loss: LOSSES config; default ``dict(type="minimax", k=3.0)``.
    """

    score_only_keys = ("compat", "temperature")
    compat_modes = tuple(SCORE_TEMPERATURE)

    def __init__(
        self,
        n_features: int,
        window: int,
        d_model: int = 512,
        n_heads: int = 8,
        e_layers: int = 3,
        d_ff: int = 512,
        dropout: float = 0.0,
        temperature: float | None = None,
        block_size: int | None = None,
        causal: bool = False,
        compat: str = "paper",
        loss: dict | None = None,
    ) -> None:
        super().__init__(loss=loss if loss is not None else dict(type="minimax", k=3.0))
        self.compat = self.check_compat(compat)
        self.temperature = resolve_temperature(compat, temperature)
        self.embedding = DataEmbedding(n_features, d_model, dropout)
        self.layers = nn.ModuleList(
            AnomalyEncoderLayer(d_model, n_heads, d_ff, dropout, block_size, causal) for _ in range(e_layers)
        )
        self.norm = nn.LayerNorm(d_model)
        self.projection = nn.Linear(d_model, n_features)

    def refine(self, index: int, layer_input: Tensor, layer_output: Tensor) -> Tensor:
        """Hook after encoder layer ``index`` (``(B, W, d_model)`` each); identity here, MAAT fuses Mamba."""
        return layer_output

    def extra_repr_info(self) -> dict:
        return {"compat": self.compat, "temperature": self.temperature, **super().extra_repr_info()}

    def forward(self, batch: dict[str, Tensor]) -> dict:
        """``recon`` ``(B, W, F)``; ``series``, ``prior`` lists of ``(B, H, W, W)``; ``sigma`` list of ``(B, H, W)``."""
        h = self.embedding(batch["x"])
        series, prior, sigma = [], [], []
        for index, layer in enumerate(self.layers):
            out, s, p, sg = layer(h)
            h = self.refine(index, h, out)
            series.append(s)
            prior.append(p)
            sigma.append(sg)
        return {"recon": self.projection(self.norm(h)), "series": series, "prior": prior, "sigma": sigma}

    def feature_contributions(self, batch: dict[str, Tensor]) -> Tensor:
        """Each feature's squared reconstruction error times its step's weight, ``(B, W, F)``;
        ``score`` is its mean over the scored features: ``softmax_W(-temperature * discrepancy) * MSE``.

        A step whose series association stays close to its local Gaussian prior (low
        discrepancy: it cannot form wide associations, the paper's anomaly signature) gets a
        large weight on its reconstruction error.
        """
        out = self(batch)
        return association_weight(out, self.temperature)[..., None] * (out["recon"] - batch["x"]).pow(2)


def association_weight(outputs: dict, temperature: float) -> Tensor:
    """The score's weight of each step, ``softmax_W(-temperature * discrepancy)``: ``(B, W)``."""
    return torch.softmax(-temperature * step_discrepancy(outputs["series"], outputs["prior"]), dim=-1)


__all__ = ["SCORE_TEMPERATURE", "AnomalyEncoderLayer", "AssociationTransformer", "association_weight", "resolve_temperature"]
