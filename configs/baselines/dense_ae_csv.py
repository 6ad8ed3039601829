# Dense window autoencoder for a user's own series.
# Scaler, window and width chosen by tools/tune.py on the tuning list (issue 23; docs/results.md, "Tuning protocol"):
# trial t1 (minmax, window 50, hidden [256, 64], bottleneck 16), mean VUS-PR 0.326 vs 0.209 for the former defaults
# on 8 SMAP tuning files, one seed; no evaluation file took part.
_base_ = ["../__base__/own_data.py"]
data = dict(scaler="minmax", window=50)
model = dict(type="dense_ae", hidden=[256, 64], bottleneck=16, dropout=0.1, loss=dict(type="mse"))
trainer = dict(optimizer=dict(type="adam", lr=1e-3))
