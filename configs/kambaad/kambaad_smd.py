# KambaAD on SMD: the paper's settings (patch_len, n_heads, d_model, stride, e_layers) = (8, 4, 512, 4, 2).
_base_ = ["../__base__/runtime.py", "../__base__/datasets/smd.py"]

model = dict(
    type="kambaad",
    d_model=512,
    e_layers=2,
    blocks=[dict(type="kan_window"), dict(type="attention", n_heads=4), dict(type="mamba", d_state=64, d_conv=4, expand=2)],
    reconstructor=dict(type="patch_ci", patch_len=8, stride=4, individual=True),
    dropout=0.3,
    compat="paper",
    loss=dict(type="rmse"),
)
data = dict(window=100, batch_size=8)
trainer = dict(epochs=2, optimizer=dict(type="adam", lr=1e-3))
cpu_config = "configs/kambaad/kambaad_smd_cpu.py"  # ~10 h an epoch on a CPU: the documented CPU budget
