# MAAT for a user's own series (1k-100k steps, CPU): width 64, 2 layers, sparse blocks of 10 steps, one Mamba per layer.
_base_ = ["../__base__/own_data.py"]
model = dict(
    type="maat", d_model=64, n_heads=4, e_layers=2, d_ff=64, dropout=0.0,
    sparse_attention=True, block_size=10, d_state=8, d_conv=4, expand=2, compat="paper",
    loss=dict(type="minimax", k=3.0),
)
data = dict(train_stride=4)  # the CPU Mamba scan is the slow part
trainer = dict(optimizer=dict(type="adam", lr=1e-3))
