"""Low-level operators. ``model.ops.selective_scan``: Mamba's selective scan (S6), its backends,
the causal depthwise convolution and fvcore FLOP handles. Import from the module itself."""
