"""Anomaly Transformer (Xu et al., ICLR 2022): reconstruction with anomaly attention, trained by
the minimax association loss; score = softmax over the window of the negative association
discrepancy, times the per-step reconstruction error.

The softmax's temperature is where paper and release part: the paper's score (its Eq. 6) is
``Softmax(-AssDis) * error`` (temperature 1); the released solver multiplies the discrepancy by 50,
which makes the softmax pick about one step per window and zeroes the error of all others, so
the score stops ranking steps across windows (on the synthetic benchmark: VUS-PR at the random
baseline). ``compat="paper"`` (default) uses 1, ``compat="release"`` 50; an explicit
``temperature`` wins over either.

Architecture as released: data embedding (circular conv + sinusoidal positions) -> ``e_layers``
encoder layers (anomaly attention + residual + LayerNorm, position-wise FFN with GELU + residual
+ LayerNorm) -> LayerNorm -> ``Linear(d_model -> F)``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from loss.minimax import step_discrepancy
from model.blocks.anomaly_attention import AnomalyAttention
from model.blocks.embed import DataEmbedding
from model.detectors.base import Detector
from util.errors import ConfigError
from util.registry import DETECTORS

# Temperature of the score's softmax per compat mode: the paper's Eq. 6 has none, the released solver uses 50.
SCORE_TEMPERATURE = {"paper": 1.0, "release": 50.0}


def check_compat(owner: str, compat: str) -> str:
    """``compat`` when it is "paper" or "release"; a ConfigError naming ``owner`` otherwise."""
    if compat not in SCORE_TEMPERATURE:
        raise ConfigError(f"{owner}: model.compat must be one of {', '.join(SCORE_TEMPERATURE)}, got '{compat}'.")
    return compat


def resolve_temperature(owner: str, compat: str, temperature: float | None) -> float:
    """The score temperature: ``temperature`` when given, else the default of ``compat``."""
    return SCORE_TEMPERATURE[check_compat(owner, compat)] if temperature is None else float(temperature)


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


@DETECTORS.register("anomaly_transformer")
class AnomalyTransformer(Detector):
    """Anomaly Transformer (see the module docstring).

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
        self.compat, self.temperature = compat, resolve_temperature(type(self).__name__.lower(), compat, temperature)
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

    def score(self, batch: dict[str, Tensor]) -> Tensor:
        """``softmax_W(-temperature * discrepancy) * MSE over features``: ``(B, W)``, higher = more anomalous.

        A step whose series association stays close to its local Gaussian prior (low
        discrepancy: it cannot form wide associations, the paper's anomaly signature) gets a
        large weight on its reconstruction error.
        """
        return self.scored(self.feature_contributions(batch)).mean(-1)

    def feature_contributions(self, batch: dict[str, Tensor]) -> Tensor:
        """Each feature's squared reconstruction error times its step's weight (see ``score``):
        ``(B, W, F)``; ``score`` is its mean over the scored features."""
        out = self(batch)
        weight = torch.softmax(-self.temperature * step_discrepancy(out["series"], out["prior"]), dim=-1)
        return weight[..., None] * (out["recon"] - batch["x"]).pow(2)


__all__ = ["SCORE_TEMPERATURE", "AnomalyEncoderLayer", "AnomalyTransformer", "check_compat", "resolve_temperature"]
