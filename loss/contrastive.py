"""DCdetector's contrastive KL loss between its patch-wise and in-patch association views.

With ``P`` the patch-wise maps and ``N`` the in-patch maps (lists over patch sizes x layers,
each ``(B, H, W, W)``), the released solver minimises ``L_N - L_P`` where

    L_P = mean sym-KL(P, stopgrad(N))      # gradient only through the patch-wise view
    L_N = mean sym-KL(stopgrad(P), N)      # gradient only through the in-patch view

(sym-KL(a, b) = KL(a||b) + KL(b||a), averaged over the list, heads, batch and steps). So the
in-patch view is pulled towards the patch-wise one while the patch-wise view is pushed away
from the in-patch one; the two terms are numerically equal, so the value of ``loss`` is 0 and
only its gradient matters. ``disc`` logs the discrepancy itself.

Model selection caveat: a validation loss that is always 0 never "improves", so a trainer that
keeps the best-validation checkpoint keeps the first epoch's weights. The released early
stopping (ties count as improvements) keeps the last epoch instead.
"""
from __future__ import annotations

from torch import Tensor, nn

from loss.minimax import stop_gradient_terms
from util.registry import LOSSES


@LOSSES.register("contrastive_kl")
class ContrastiveKLLoss(nn.Module):
    """``L_N - L_P`` on ``outputs["patch_wise"]`` and ``outputs["in_patch"]`` (see the module docstring)."""

    def forward(self, outputs: dict, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        patch_term, in_patch_term = stop_gradient_terms(outputs["patch_wise"], outputs["in_patch"])
        return {"loss": in_patch_term - patch_term, "disc": patch_term.detach()}


__all__ = ["ContrastiveKLLoss"]
