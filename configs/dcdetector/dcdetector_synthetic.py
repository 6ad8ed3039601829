# DCdetector on the built-in synthetic series: a small model (d_model 64, 2 layers, window 60,
# patch sizes 3 and 5) so that training takes about a minute on CPU; the paper's sizes are in the other configs.
_base_ = ["../__base__/runtime.py", "../__base__/datasets/synthetic.py"]

model = dict(type="dcdetector", patch_sizes=[3, 5], d_model=64, n_heads=1, e_layers=2, dropout=0.0, loss=dict(type="contrastive_kl"))
data = dict(window=60, batch_size=32)
trainer = dict(epochs=3, select="last", optimizer=dict(type="adam", lr=1e-4))  # its loss is identically 0: keep the last epoch
