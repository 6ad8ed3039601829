# MAAT on the built-in synthetic series: a small model (d_model 64, 2 layers, window 64, paper
# switches: sparse blocks of 8 steps, one Mamba per layer) so that training takes about a minute
# on CPU (training windows at stride 4); the paper's sizes are in the other configs.
_base_ = ["../__base__/runtime.py", "../__base__/datasets/synthetic.py"]

model = dict(
    type="maat", d_model=64, n_heads=4, e_layers=2, d_ff=64, dropout=0.0,
    sparse_attention=True, block_size=8, d_state=8, d_conv=4, expand=2, compat="paper",
    loss=dict(type="minimax", k=3.0),
)
data = dict(window=64, batch_size=32, train_stride=4)  # every 4th training window: the CPU Mamba scan is the slow part
# lr 1e-3 and 10 epochs (paper: 1e-4, 3), as for Anomaly Transformer: the paper's setting stops
# this small model while its validation loss is still falling fast.
trainer = dict(epochs=10, optimizer=dict(type="adam", lr=1e-3))
