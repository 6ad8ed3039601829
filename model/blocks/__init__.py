"""Registered building blocks: encoders, mixers, reconstructors, backbones."""
from model.blocks import anomaly_attention, attention, embed, kan, mamba, norm, reconstruct, revin  # noqa: F401  (registration)
from util.imports import optional_import

optional_import("model.blocks.encoder", requires="timm")
