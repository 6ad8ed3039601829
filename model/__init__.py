"""Models: registered blocks (model.blocks), detectors (model.detectors) and ops (model.ops)."""
from model import blocks, detectors  # noqa: F401  (registration)
