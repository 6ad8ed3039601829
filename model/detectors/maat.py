"""MAAT (Mamba Adaptive Anomaly Transformer): Anomaly Transformer whose encoder layers are each
followed by a Mamba branch and a gated fusion.

After encoder layer ``l`` (input ``x_in``, output ``x``)::

    x_skip = LayerNorm(Mamba(x) + x_in)
    g      = sigmoid(Linear([x, x_skip]))
    x      = g * x_skip + (1 - g) * x

The series association is sparse (block-diagonal: a query attends only inside its block of
``block_size`` steps; a ragged last block is shorter). Loss and score are Anomaly Transformer's.

``compat="release"`` follows the authors' released code instead of the paper: sparse attention
off (it is dead code there), causal series attention, one Mamba block shared by all layers, and
Anomaly Transformer's released score temperature (50 instead of the paper's 1).
Switches given explicitly (not None) win over either mode's defaults.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from model.blocks.mamba import Mamba
from model.detectors.association import AssociationTransformer
from util.registry import DETECTORS

COMPAT_DEFAULTS = {
    "paper": dict(sparse_attention=True, causal_mask=False, share_mamba_across_layers=False),
    "release": dict(sparse_attention=False, causal_mask=True, share_mamba_across_layers=True),
}


@DETECTORS.register("maat")
class MAAT(AssociationTransformer):
    """MAAT (see the module docstring).

    Args:
        n_features, window, d_model, n_heads, e_layers, d_ff, dropout, temperature, loss:
            as Anomaly Transformer (paper: 512, 8, 3, 512, 0.0, None, minimax k=3).
        sparse_attention: block-diagonal series attention (None: the compat mode's default).
        block_size: steps per attention block (paper: 10).
        causal_mask: causal series attention (None: the compat mode's default).
        share_mamba_across_layers: one Mamba for all layers (None: the compat mode's default).
        d_state, d_conv, expand: Mamba sizes (paper: 8, 4, 2).
        compat: "paper" (default) or "release".
    """

    score_only_keys = ("temperature",)  # compat also switches the architecture
    compat_modes = tuple(COMPAT_DEFAULTS)

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
        sparse_attention: bool | None = None,
        block_size: int = 10,
        causal_mask: bool | None = None,
        share_mamba_across_layers: bool | None = None,
        d_state: int = 8,
        d_conv: int = 4,
        expand: int = 2,
        compat: str = "paper",
        loss: dict | None = None,
    ) -> None:
        self.check_compat(compat)
        given = dict(sparse_attention=sparse_attention, causal_mask=causal_mask, share_mamba_across_layers=share_mamba_across_layers)
        switches = {k: (v if v is not None else COMPAT_DEFAULTS[compat][k]) for k, v in given.items()}
        super().__init__(
            n_features,
            window,
            d_model=d_model,
            n_heads=n_heads,
            e_layers=e_layers,
            d_ff=d_ff,
            dropout=dropout,
            temperature=temperature,
            block_size=block_size if switches["sparse_attention"] else None,
            causal=switches["causal_mask"],
            compat=compat,
            loss=loss,
        )
        self.switches = switches
        n_mamba = 1 if switches["share_mamba_across_layers"] else e_layers
        self.mambas = nn.ModuleList(Mamba(d_model, d_state=d_state, d_conv=d_conv, expand=expand) for _ in range(n_mamba))
        self.skip_norms = nn.ModuleList(nn.LayerNorm(d_model) for _ in range(e_layers))
        self.gates = nn.ModuleList(nn.Linear(2 * d_model, d_model) for _ in range(e_layers))

    def refine(self, index: int, layer_input: Tensor, layer_output: Tensor) -> Tensor:
        """Mamba skip branch and gated fusion after layer ``index``: ``(B, W, d_model)`` -> same."""
        mamba = self.mambas[index if len(self.mambas) > 1 else 0]
        skip = self.skip_norms[index](mamba(layer_output) + layer_input)
        gate = torch.sigmoid(self.gates[index](torch.cat([layer_output, skip], dim=-1)))
        return gate * skip + (1 - gate) * layer_output

    def extra_repr_info(self) -> dict:
        return {**super().extra_repr_info(), **self.switches}


__all__ = ["MAAT"]
