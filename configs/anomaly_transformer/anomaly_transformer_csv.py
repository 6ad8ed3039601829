# Anomaly Transformer for a user's own series (1k-100k steps, CPU): width 64, 2 layers (paper: 512, 3).
_base_ = ["../__base__/own_data.py"]
model = dict(type="anomaly_transformer", d_model=64, n_heads=4, e_layers=2, d_ff=64, dropout=0.0, loss=dict(type="minimax", k=3.0))
trainer = dict(optimizer=dict(type="adam", lr=1e-3))
