# KambaAD on NIPS-TS GECCO: the paper's settings (patch_len, n_heads, d_model, stride, e_layers) = (32, 2, 64, 4, 2).
_base_ = ["../__base__/runtime.py", "../__base__/datasets/gecco.py"]

model = dict(
    type="kambaad",
    d_model=64,
    e_layers=2,
    blocks=[dict(type="kan_window"), dict(type="attention", n_heads=2), dict(type="mamba", d_state=64, d_conv=4, expand=2)],
    reconstructor=dict(type="patch_ci", patch_len=32, stride=4, individual=True),
    dropout=0.3,
    compat="paper",
    loss=dict(type="rmse"),
)
data = dict(window=100, batch_size=8)
trainer = dict(epochs=2, optimizer=dict(type="adam", lr=8e-3))  # NIPS-TS learning rate
