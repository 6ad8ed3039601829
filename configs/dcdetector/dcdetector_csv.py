# DCdetector for a user's own series (1k-100k steps, CPU): width 64, 2 layers, patch sizes 5 and 10 (they divide the window).
_base_ = ["../__base__/own_data.py"]
model = dict(type="dcdetector", patch_sizes=[5, 10], d_model=64, n_heads=1, e_layers=2, dropout=0.0, loss=dict(type="contrastive_kl"))
trainer = dict(epochs=3, select="last", optimizer=dict(type="adam", lr=1e-4))  # its loss is identically 0: keep the last epoch
