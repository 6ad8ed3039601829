"""Reconstruction heads mapping a window back to itself: ``(B, W, F)`` -> ``(B, W, F)``.

Registered as RECONSTRUCTORS ``patch_ci`` (KambaAD's channel-independent patch reconstructor),
``patch_cd`` (its channel-dependent ablation) and ``linear`` (a plain linear map over time).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from util.errors import ConfigError
from util.registry import RECONSTRUCTORS


class PatchReconstructor(nn.Module):
    """Per channel: pad the end by ``stride`` (replicating the last value), cut patches
    ``(patch_len, stride)``, embed each with a shared ``Linear(patch_len -> d_model)``, flatten the
    patch embeddings and map them back to ``window`` steps with a linear head.

    The head is shared by all channels (channel independence, as in PatchTST) or, with
    ``individual=True``, one head per channel. ``mix_channels=True`` follows the head with a
    ``Linear(F -> F)`` across channels at every step (the channel-dependent variant).
    """

    def __init__(
        self,
        n_features: int,
        window: int,
        d_model: int = 128,
        patch_len: int = 8,
        stride: int = 4,
        dropout: float = 0.0,
        individual: bool = False,
        mix_channels: bool = False,
    ) -> None:
        super().__init__()
        if patch_len < 1 or stride < 1 or patch_len > window + stride:
            raise ConfigError(
                f"reconstructor: need 1 <= patch_len <= window + stride and stride >= 1, got patch_len={patch_len}, "
                f"stride={stride}, window={window}."
            )
        self.patch_len, self.stride = patch_len, stride
        n_patches = (window + stride - patch_len) // stride + 1
        self.embed = nn.Linear(patch_len, d_model)
        self.dropout = nn.Dropout(dropout)
        flat = n_patches * d_model
        if individual:
            self.head_weight = nn.Parameter(torch.empty(n_features, flat, window).uniform_(-flat**-0.5, flat**-0.5))
            self.head_bias = nn.Parameter(torch.zeros(n_features, window))
            self.head = None
        else:
            self.head = nn.Linear(flat, window)
        self.channel_mix = nn.Linear(n_features, n_features) if mix_channels else None

    def forward(self, x: Tensor) -> Tensor:
        series = F.pad(x.transpose(1, 2), (0, self.stride), mode="replicate")  # (B, F, W + stride)
        patches = series.unfold(-1, self.patch_len, self.stride)  # (B, F, n_patches, patch_len)
        tokens = self.dropout(self.embed(patches).flatten(2))  # (B, F, n_patches * d_model)
        if self.head is not None:
            out = self.head(tokens)
        else:
            out = torch.einsum("bfk,fkw->bfw", tokens, self.head_weight) + self.head_bias
        out = out.transpose(1, 2)  # (B, W, F)
        return self.channel_mix(out) if self.channel_mix is not None else out


@RECONSTRUCTORS.register("patch_ci")
class PatchCIReconstructor(PatchReconstructor):
    """Channel-independent patch reconstructor (KambaAD's). The paper configs set ``individual=True``:
    one flatten head per channel, as in the paper and its released code; the shared head
    (``individual=False``) is the lighter option."""

    def __init__(
        self,
        n_features: int,
        window: int,
        d_model: int = 128,
        patch_len: int = 8,
        stride: int = 4,
        dropout: float = 0.0,
        individual: bool = False,
    ) -> None:
        super().__init__(n_features, window, d_model, patch_len, stride, dropout, individual, mix_channels=False)


@RECONSTRUCTORS.register("patch_cd")
class PatchCDReconstructor(PatchReconstructor):
    """Channel-dependent patch reconstructor: the CI head (shared or, with ``individual=True``,
    per channel) followed by a channel-mixing linear layer."""

    def __init__(
        self,
        n_features: int,
        window: int,
        d_model: int = 128,
        patch_len: int = 8,
        stride: int = 4,
        dropout: float = 0.0,
        individual: bool = False,
    ) -> None:
        super().__init__(n_features, window, d_model, patch_len, stride, dropout, individual, mix_channels=True)


@RECONSTRUCTORS.register("linear")
class LinearReconstructor(nn.Module):
    """A ``Linear(W -> W)`` over time, shared by all channels: ``(B, W, F)`` -> ``(B, W, F)``."""

    def __init__(self, n_features: int, window: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.proj = nn.Linear(window, window)

    def forward(self, x: Tensor) -> Tensor:
        return self.proj(self.dropout(x).transpose(1, 2)).transpose(1, 2)


__all__ = ["LinearReconstructor", "PatchCDReconstructor", "PatchCIReconstructor", "PatchReconstructor"]
