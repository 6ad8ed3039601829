# KambaAD on SMAP: the paper's settings (patch_len, n_heads, d_model, stride, e_layers) = (1, 2, 512, 8, 1).
_base_ = ["../__base__/runtime.py", "../__base__/datasets/smap.py"]

model = dict(
    type="kambaad",
    d_model=512,
    e_layers=1,
    blocks=[dict(type="kan_window"), dict(type="attention", n_heads=2), dict(type="mamba", d_state=64, d_conv=4, expand=2)],
    reconstructor=dict(type="patch_ci", patch_len=1, stride=8, individual=True),
    dropout=0.3,
    compat="paper",
    loss=dict(type="rmse"),
)
data = dict(window=100, batch_size=8)
trainer = dict(epochs=2, optimizer=dict(type="adam", lr=8e-4))
