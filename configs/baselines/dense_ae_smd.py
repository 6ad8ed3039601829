# Dense window autoencoder on every SMD machine (one model for all machines).
_base_ = ["../__base__/runtime.py", "../__base__/datasets/smd.py"]
model = dict(type="dense_ae", hidden=[256, 64], bottleneck=16, dropout=0.1, loss=dict(type="mse"))
data = dict(window=100, batch_size=64, train_stride=5)
trainer = dict(epochs=5, optimizer=dict(type="adam", lr=1e-3))
