"""KambaAD: KAN + attention + Mamba encoder layers, then a patch reconstructor; score = reconstruction error.

Per encoder layer, the configured blocks run in order on ``(B, W, width)``: an ENCODERS block
(``kan_window``, ``kan_point``, ...) maps the current width to ``d_model``; a MIXERS block
(``attention``, ``mamba``, ...) works at ``d_model`` (a plain ``Linear(F -> d_model)`` is put in front
when no encoder has run yet); the layer ends with ``Linear(d_model -> F)``. ``e_layers`` such layers
are stacked, then the reconstructor maps ``(B, W, F)`` to the reconstruction.

``compat="release"`` reproduces what the authors' released code does instead of the paper: Mamba
blocks are dropped, attention attends across the batch axis, and the score of step ``t`` compares
the reconstruction of ``x[t]`` with ``x[t+1]`` (the last step, which has no successor, repeats the
score of the step before). It exists to reproduce published numbers and is never the default.
"""
from __future__ import annotations

import copy

import torch
from torch import Tensor, nn

from model.detectors.base import Detector
from util.errors import ConfigError
from util.registry import DETECTORS, ENCODERS, MIXERS, RECONSTRUCTORS, Registry, accepted_params

DEFAULT_BLOCKS = (dict(type="kan_window"), dict(type="attention", n_heads=4), dict(type="mamba"))
DEFAULT_RECONSTRUCTOR = dict(type="patch_ci", patch_len=8, stride=4)


def build_with_context(registry: Registry, cfg: dict, **context) -> nn.Module:
    """Build ``cfg``, passing each ``context`` value (d_model, window, dropout...) that the
    component accepts and the config does not set itself."""
    names, open_ended = accepted_params(registry.get(cfg["type"]))
    extra = {k: v for k, v in context.items() if k not in cfg and (open_ended or k in names)}
    return registry.build(cfg, **extra)


class EncoderLayer(nn.Module):
    """One KambaAD layer: the configured blocks in order, then ``Linear(d_model -> F)``.

    Shapes: ``(B, W, F)`` -> ``(B, W, F)``.
    """

    def __init__(self, n_features: int, window: int, d_model: int, blocks: list[dict], dropout: float) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = n_features
        for cfg in blocks:
            name = cfg.get("type") if isinstance(cfg, dict) else None
            if name in ENCODERS:
                layers.append(
                    build_with_context(ENCODERS, cfg, n_features=width, window=window, d_model=d_model, dropout=dropout)
                )
            elif name in MIXERS:
                if width != d_model or not layers:
                    layers.append(nn.Linear(width, d_model))
                layers.append(build_with_context(MIXERS, cfg, d_model=d_model, dropout=dropout))
            else:
                known = ", ".join(ENCODERS.names() + MIXERS.names())
                raise ConfigError(f"kambaad: block {cfg!r} is neither a registered encoder nor a mixer. Known: {known}.")
            width = d_model
        if not layers:
            raise ConfigError("kambaad: 'blocks' is empty; list at least one encoder or mixer.")
        self.blocks = nn.Sequential(*layers)
        self.out = nn.Linear(d_model, n_features)

    def forward(self, x: Tensor) -> Tensor:
        return self.out(self.blocks(x))


@DETECTORS.register("kambaad")
class KambaAD(Detector):
    """KambaAD reconstruction detector (see the module docstring).

    Args:
        n_features, window: input shape ``(B, window, n_features)``.
        d_model: width of the blocks and the reconstructor's patch embedding.
        e_layers: number of stacked encoder layers.
        blocks: block configs per layer, in order (looked up in ENCODERS, then MIXERS).
        reconstructor: RECONSTRUCTORS config; ``d_model`` and ``dropout`` are passed when not set.
        use_encoder / use_reconstructor: switch either stage off (the paper's ablations).
        dropout: default dropout for every block that takes one.
        compat: "paper" (default) or "release" (see the module docstring).
        loss: LOSSES config (RMSE of the reconstruction by default).
    """

    compat_modes = ("paper", "release")

    def __init__(
        self,
        n_features: int,
        window: int,
        d_model: int = 512,
        e_layers: int = 2,
        blocks: list[dict] | tuple[dict, ...] = DEFAULT_BLOCKS,
        reconstructor: dict | None = None,
        use_encoder: bool = True,
        use_reconstructor: bool = True,
        dropout: float = 0.3,
        compat: str = "paper",
        loss: dict | None = None,
    ) -> None:
        super().__init__(loss=loss if loss is not None else dict(type="rmse"))
        if not (use_encoder or use_reconstructor):
            raise ConfigError("kambaad: use_encoder and use_reconstructor are both False; nothing would be learned.")
        self.compat = self.check_compat(compat)
        blocks = [copy.deepcopy(dict(b)) for b in blocks]
        if compat == "release":
            blocks = [b for b in blocks if b.get("type") != "mamba"]
            for b in blocks:
                if b.get("type") == "attention":
                    b["batch_axis"] = True
        self.layers = nn.ModuleList(
            EncoderLayer(n_features, window, d_model, blocks, dropout) for _ in range(e_layers if use_encoder else 0)
        )
        rec_cfg = dict(reconstructor if reconstructor is not None else DEFAULT_RECONSTRUCTOR)
        self.reconstructor = (
            build_with_context(RECONSTRUCTORS, rec_cfg, n_features=n_features, window=window, d_model=d_model, dropout=dropout)
            if use_reconstructor
            else None
        )

    def forward(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """``{"recon": (B, W, F)}`` for ``batch["x"]`` of shape ``(B, W, F)``."""
        h = batch["x"]
        for layer in self.layers:
            h = layer(h)
        if self.reconstructor is not None:
            h = self.reconstructor(h)
        return {"recon": h}

    def feature_contributions(self, batch: dict[str, Tensor]) -> Tensor:
        """Squared reconstruction error per step and feature, ``(B, W, F)`` (``compat="release"``: against
        the next step, the last step repeating the one before); ``score`` is its mean over the scored features."""
        x, recon = batch["x"], self(batch)["recon"]
        if self.compat == "release":
            err = (recon[:, :-1] - x[:, 1:]).pow(2)
            return torch.cat([err, err[:, -1:]], dim=1)
        return (recon - x).pow(2)

    def extra_repr_info(self) -> dict:
        return {"compat": self.compat, **super().extra_repr_info()}


__all__ = ["EncoderLayer", "KambaAD", "build_with_context"]
