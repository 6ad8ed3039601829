"""Models: registered blocks (model.blocks), detectors (model.detectors) and ops (model.ops)."""
