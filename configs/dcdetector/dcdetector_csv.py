# DCdetector for a user's own series (1k-100k steps, CPU): width 64, 2 layers, patch sizes 5 and 10 (they divide the window).
# Scaler, epochs and lr chosen by tools/tune.py on the tuning list (issue 23; docs/results.md, "Tuning protocol"):
# trial t3 (minmax, 10 epochs, lr 1e-3), mean VUS-PR 0.152 vs 0.112 for 3 epochs at 1e-4, 8 SMAP tuning files, one seed.
_base_ = ["../__base__/own_data.py"]
data = dict(scaler="minmax")
model = dict(type="dcdetector", patch_sizes=[5, 10], d_model=64, n_heads=1, e_layers=2, dropout=0.0, loss=dict(type="contrastive_kl"))
trainer = dict(epochs=10, select="last", optimizer=dict(type="adam", lr=1e-3))  # its loss is identically 0: keep the last epoch
