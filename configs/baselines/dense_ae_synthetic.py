# Small dense window autoencoder; trains in seconds on CPU.
_base_ = ["../__base__/runtime.py", "../__base__/datasets/synthetic.py"]
model = dict(type="dense_ae", hidden=[128, 32], bottleneck=8, dropout=0.1, loss=dict(type="mse"))
data = dict(window=50, batch_size=64, train_stride=5)
trainer = dict(epochs=5, optimizer=dict(type="adam", lr=1e-3))
