# Dense window autoencoder for a user's own series.
_base_ = ["../__base__/own_data.py"]
model = dict(type="dense_ae", hidden=[128, 32], bottleneck=8, dropout=0.1, loss=dict(type="mse"))
trainer = dict(optimizer=dict(type="adam", lr=1e-3))
