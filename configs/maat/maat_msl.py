# MAAT on MSL: the paper's model (d_model 512, 8 heads, 3 layers, sparse blocks of 10 steps, one Mamba
# per layer with d_state 8, d_conv 4, expand 2; k=3, lr 1e-4, window 100, batch 32) and the authors' anomaly ratio.
# Epochs as Anomaly Transformer's scripts (3). compat="release" reproduces the released code instead.
_base_ = ["../__base__/runtime.py", "../__base__/datasets/msl.py"]

model = dict(
    type="maat", d_model=512, n_heads=8, e_layers=3, d_ff=512, dropout=0.0,
    sparse_attention=True, block_size=10, causal_mask=False, share_mamba_across_layers=False,
    d_state=8, d_conv=4, expand=2, compat="paper", loss=dict(type="minimax", k=3.0),
)
data = dict(window=100, batch_size=32)
trainer = dict(epochs=3, optimizer=dict(type="adam", lr=1e-4))
evaluation = dict(legacy_anomaly_ratio=0.85)  # percent flagged under evaluation.protocol=legacy
