"""Registered building blocks: encoders, mixers, reconstructors, backbones."""
from model.blocks import anomaly_attention, attention, embed, encoder, kan, mamba, norm, reconstruct, revin  # noqa: F401  (registration)
