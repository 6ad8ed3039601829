# MTAD on MVTec AD, multi-class: MambaAD's encoder (ResNet34, resnet34.bt_in1k), fusion bottleneck
# and L2 feature loss (weight 5, summed over the scales) with a decoder of MTRec blocks (channels
# 512/256/128/64, depths 3/4/6/3, 16x16 windows, the 8x8 level zero-padded to one window, Hilbert
# variant i for block i), AdamW lr 5e-4, batch 8, 256 px. MTAD has no public code; choices its
# paper leaves open: weight decay (MambaAD's 1e-4 here), the schedule (MambaAD's paper's 500
# epochs with the release's cut at 80%), MLP ratio 4, 8 attention heads, Mamba d_state 16.
# Encoder weights: as mambaad_mvtec.py (downloaded on first use; offline alternatives there).
_base_ = ["../__base__/runtime.py", "../__base__/datasets/mvtec.py"]

model = dict(
    type="mtad",
    encoder=dict(type="timm", name="resnet34.bt_in1k", out_indices=(1, 2, 3), pretrained=True, checkpoint=None),
    channels=(512, 256, 128, 64),
    depths=(3, 4, 6, 3),
    window=16,
    pad_to_window=True,
    curve="hilbert",
    heads=8,
    mlp_ratio=4.0,
    d_state=16,
    loss=dict(type="feature_mse", weight=5.0),
)
data = dict(image_size=256, batch_size=8)
trainer = dict(
    epochs=500,
    patience=500,  # fixed schedule; no early stopping
    optimizer=dict(type="adamw", lr=5e-4, weight_decay=1e-4),
    scheduler=dict(type="step", step_size=400, gamma=0.1),
)
