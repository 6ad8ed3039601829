# Anomaly Transformer for a user's own series (1k-100k steps, CPU): width 128, 2 layers (paper: 512, 3).
# Scaler, window and width chosen by tools/tune.py on the tuning list (issue 23; docs/results.md, "Tuning protocol"):
# trial t1 (minmax, window 50, d_model = d_ff = 128), mean VUS-PR 0.206 vs 0.182 for the former defaults, 8 SMAP tuning files, one seed.
_base_ = ["../__base__/own_data.py"]
data = dict(scaler="minmax", window=50)
model = dict(type="anomaly_transformer", d_model=128, n_heads=4, e_layers=2, d_ff=128, dropout=0.0, loss=dict(type="minimax", k=3.0))
trainer = dict(optimizer=dict(type="adam", lr=1e-3))
