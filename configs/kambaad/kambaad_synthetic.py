# KambaAD on the built-in synthetic series: a deliberately small model (d_model 32, one layer,
# d_state 16) so that training takes about a minute on CPU; the paper's sizes are in the other configs.
_base_ = ["../__base__/runtime.py", "../__base__/datasets/synthetic.py"]

model = dict(
    type="kambaad",
    d_model=32,
    e_layers=1,
    blocks=[dict(type="kan_window"), dict(type="attention", n_heads=2), dict(type="mamba", d_state=16)],
    reconstructor=dict(type="patch_ci", patch_len=8, stride=4, individual=True),
    dropout=0.1,
    loss=dict(type="rmse"),
)
data = dict(window=64, batch_size=16)
trainer = dict(epochs=2, optimizer=dict(type="adam", lr=1e-3))
