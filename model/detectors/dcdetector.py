"""DCdetector (Yang et al., KDD 2023): dual attention contrastive representation learning.

No reconstruction. The input is instance-normalised (RevIN, no affine: the released code builds
a fresh RevIN in every forward, so its affine parameters are never trained) and handled
channel-independently, ``(B, W, F)`` -> ``(B*F, W)``. For each patch size ``p`` (``n = W / p``
patches) two token sets are embedded (circular-conv + positions, as Anomaly Transformer):

- patch-wise: the ``n`` patches, each a token of its ``p`` values -> attention ``(B*F, H, n, n)``,
  upsampled to ``(W, W)`` by repeating each entry ``p x p`` (divided by ``p``, so rows stay
  distributions);
- in-patch: the ``p`` positions inside a patch, each a token of the ``n`` values at that position
  -> attention ``(B*F, H, p, p)``, tiled ``n x n`` times to ``(W, W)`` (divided by ``n``).

Each of the ``e_layers`` attention layers works on the same embedded tokens (as released: the
layers are parallel views, not a stack); query/key projections are shared by both branches.
Maps are averaged over channels, giving one ``(B, H, W, W)`` map per branch, patch size and
layer. Differences from the released code: its in-patch tokens are contiguous chunks of ``n``
steps (``(p n)`` split) although the tiling indexes positions within patches, and its
patch-wise map is not renormalised (rows sum to ``p``); here both follow the paper's meaning.

Score, ``compat="paper"`` (default): the paper's anomaly score, the discrepancy between the two
views summed over patch sizes and layers (anomalies score higher). ``compat="release"``: the
released solver's ``softmax_W(-50 * discrepancy)``, which flags the steps whose views agree
*most* within their window and ranks steps only inside a window.

The two directions disagree because the loss ``L_N - L_P`` pushes the patch-wise view away from
the in-patch one: the discrepancy on the (normal) training windows grows during training (logged
as ``train/disc``), so nothing in training raises it on anomalies. docs/results.md measures both.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from loss.minimax import step_discrepancy
from model.blocks.anomaly_attention import AttentionMap
from model.blocks.embed import DataEmbedding
from model.blocks.revin import RevIN
from model.detectors.association import resolve_temperature
from model.detectors.base import Detector
from util.errors import ConfigError
from util.registry import DETECTORS


@DETECTORS.register("dcdetector")
class DCdetector(Detector):
    """DCdetector (see the module docstring).

    Args:
        n_features, window: input shape ``(B, window, n_features)``.
        patch_sizes: each must divide ``window``.
        d_model, n_heads, e_layers, dropout: attention sizes (paper: 256, 1, 3, 0.0).
        temperature: multiplies the discrepancy inside the released score's softmax (None: 50).
        compat: "paper" (default: the discrepancy is the score) or "release" (its softmax).
        loss: LOSSES config; default ``dict(type="contrastive_kl")``.
    """

    score_only_keys = ("compat", "temperature")
    compat_modes = ("paper", "release")

    def __init__(
        self,
        n_features: int,
        window: int,
        patch_sizes: tuple[int, ...] | list[int] = (3, 5),
        d_model: int = 256,
        n_heads: int = 1,
        e_layers: int = 3,
        dropout: float = 0.0,
        temperature: float | None = None,
        compat: str = "paper",
        loss: dict | None = None,
    ) -> None:
        super().__init__(loss=loss if loss is not None else dict(type="contrastive_kl"))
        patch_sizes = tuple(int(p) for p in patch_sizes)
        bad = [p for p in patch_sizes if p < 1 or window % p]
        if not patch_sizes or bad:
            raise ConfigError(
                f"dcdetector: model.patch_sizes={list(patch_sizes)} must be non-empty and each divide the window "
                f"({window}); {bad} do not. Change model.patch_sizes or data.window."
            )
        self.patch_sizes, self.window, self.compat = patch_sizes, window, self.check_compat(compat)
        self.temperature = resolve_temperature("release", temperature)  # used by the released score only
        self.revin = RevIN(n_features, affine=False)
        self.patch_embeddings = nn.ModuleList(DataEmbedding(p, d_model, dropout) for p in patch_sizes)
        self.in_patch_embeddings = nn.ModuleList(DataEmbedding(window // p, d_model, dropout) for p in patch_sizes)
        self.layers = nn.ModuleList(AttentionMap(d_model, n_heads, dropout) for _ in range(e_layers))

    def branch_maps(self, series: Tensor, index: int) -> tuple[list[Tensor], list[Tensor]]:
        """Raw attention of patch size ``patch_sizes[index]`` for channel-independent ``series`` ``(B*F, W)``.

        Returns per layer the patch-wise maps ``(B*F, H, n, n)`` and the in-patch maps ``(B*F, H, p, p)``.
        """
        p = self.patch_sizes[index]
        patches = series.view(series.shape[0], -1, p)  # (B*F, n, p): patch i holds steps i*p .. i*p+p-1
        patch_tokens = self.patch_embeddings[index](patches)
        in_patch_tokens = self.in_patch_embeddings[index](patches.transpose(1, 2))  # (B*F, p, n) -> d_model
        return [layer(patch_tokens) for layer in self.layers], [layer(in_patch_tokens) for layer in self.layers]

    def forward(self, batch: dict[str, Tensor], features: list[int] | None = None) -> dict[str, list[Tensor]]:
        """``patch_wise`` and ``in_patch``: lists (patch size major, then layer) of ``(B, H, W, W)``,
        each averaged over ``features`` (all when None)."""
        x = self.revin(batch["x"])
        if features is not None:  # channel-independent: the other channels' maps are not needed
            x = x[..., features]
        n_batch, window, n_features = x.shape
        series = x.transpose(1, 2).reshape(n_batch * n_features, window)
        patch_wise, in_patch = [], []
        for index, p in enumerate(self.patch_sizes):
            n = window // p
            between, inside = self.branch_maps(series, index)
            for a_between, a_inside in zip(between, inside):
                a_between = a_between.view(n_batch, n_features, *a_between.shape[1:]).mean(1)
                a_inside = a_inside.view(n_batch, n_features, *a_inside.shape[1:]).mean(1)
                patch_wise.append(a_between.repeat_interleave(p, dim=-2).repeat_interleave(p, dim=-1) / p)
                in_patch.append(a_inside.repeat(1, 1, n, n) / n)
        return {"patch_wise": patch_wise, "in_patch": in_patch}

    def joint_score(self, batch: dict[str, Tensor], features: list[int] | None) -> Tensor:
        """``(B, W)`` from the maps of ``features`` (None: all), higher = more anomalous.

        ``compat="paper"``: the discrepancy between the two views. ``compat="release"``:
        ``softmax_W(-temperature * discrepancy)``; the released solver thresholds it from above,
        so the steps flagged are those whose views *agree* most within the window, following
        Anomaly Transformer's intuition that anomalies cannot form rich associations.
        """
        out = self(batch, features)
        discrepancy = step_discrepancy(out["patch_wise"], out["in_patch"])
        if self.compat == "paper":
            return discrepancy
        return torch.softmax(-self.temperature * discrepancy, dim=-1)

    def extra_repr_info(self) -> dict:
        return {"compat": self.compat, **super().extra_repr_info()}


__all__ = ["DCdetector"]
