"""Anomaly Transformer's minimax association loss, and the association-discrepancy helpers
that Anomaly Transformer, MAAT and DCdetector share.

Association lists hold one ``(B, H, W, W)`` row-stochastic map per layer (DCdetector: per
patch size and layer). ``series`` is the learned association, ``prior`` the one it is compared
with (Anomaly Transformer's Gaussian prior; DCdetector's in-patch view).

One backward instead of two. The released code computes ``loss1 = rec - k * series_term`` and
``loss2 = rec + k * prior_term``, calls ``loss1.backward(retain_graph=True)``, ``loss2.backward()``
and then one optimiser step. Gradients accumulate, so the parameters receive
``grad(loss1) + grad(loss2) = grad(loss1 + loss2)``: a single backward of the sum is exactly
equivalent, needs no retained graph and cannot hit in-place autograd errors. The stop-gradients
make the phases act on different parameters: ``series_term`` compares the series with a detached
prior (only the query/key path is pushed to *enlarge* the discrepancy), ``prior_term`` compares
the prior with a detached series (only the sigma path is pulled to *shrink* it). Numerically the
two terms are equal, so the value of ``loss`` is ``2 * rec``.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from loss.reconstruction import reconstruction_residual
from util.registry import LOSSES

KL_EPS = 1e-4  # added inside both logs, as in the released code


def association_kl(p: Tensor, q: Tensor) -> Tensor:
    """Row-wise ``KL(p || q)`` of ``(B, H, W, W)`` maps, averaged over heads: ``(B, W)``."""
    return (p * (torch.log(p + KL_EPS) - torch.log(q + KL_EPS))).sum(-1).mean(1)


def symmetric_kl(p: Tensor, q: Tensor) -> Tensor:
    """``KL(p || q) + KL(q || p)`` per step, averaged over heads: ``(B, W)``."""
    return association_kl(p, q) + association_kl(q, p)


def step_discrepancy(series: list[Tensor], prior: list[Tensor]) -> Tensor:
    """Association discrepancy per step, summed over layers: ``(B, W)`` (the scoring form)."""
    return torch.stack([symmetric_kl(s, p) for s, p in zip(series, prior)]).sum(0)


def stop_gradient_terms(series: list[Tensor], prior: list[Tensor]) -> tuple[Tensor, Tensor]:
    """``(series_term, prior_term)``, scalars averaged over layers, batch and steps.

    ``series_term`` = sym-KL(series, prior.detach()): gradient reaches only ``series``.
    ``prior_term``  = sym-KL(series.detach(), prior): gradient reaches only ``prior``.
    """
    series_term = torch.stack([symmetric_kl(s, p.detach()).mean() for s, p in zip(series, prior)]).mean()
    prior_term = torch.stack([symmetric_kl(s.detach(), p).mean() for s, p in zip(series, prior)]).mean()
    return series_term, prior_term


@LOSSES.register("minimax")
class MinimaxLoss(nn.Module):
    """``(rec - k * series_term) + (rec + k * prior_term)`` with ``rec`` the reconstruction MSE.

    Reads ``outputs["recon"]``, ``outputs["series"]``, ``outputs["prior"]``. The discrepancy is
    averaged over layers, as the released code and the paper do. Logs ``rec`` (MSE) and ``assoc``
    (the mean discrepancy).

    Args:
        k: weight of the association term (the paper's lambda; 3 in all its experiments).
    """

    def __init__(self, k: float = 3.0) -> None:
        super().__init__()
        self.k = k

    def forward(self, outputs: dict, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        rec = reconstruction_residual(outputs, batch).pow(2).mean()
        series_term, prior_term = stop_gradient_terms(outputs["series"], outputs["prior"])
        phase1 = rec - self.k * series_term
        phase2 = rec + self.k * prior_term
        return {"loss": phase1 + phase2, "rec": rec.detach(), "assoc": series_term.detach()}


__all__ = ["MinimaxLoss", "association_kl", "step_discrepancy", "stop_gradient_terms", "symmetric_kl"]
