# DCdetector on SMD: the paper's model (d_model 256, 1 head, 3 layers, lr 1e-4) with its window 105 and
# patch sizes [5, 7]; anomaly ratio, batch size and epochs from the released script.
_base_ = ["../__base__/runtime.py", "../__base__/datasets/smd.py"]

model = dict(type="dcdetector", patch_sizes=[5, 7], d_model=256, n_heads=1, e_layers=3, dropout=0.0, loss=dict(type="contrastive_kl"))
data = dict(window=105, batch_size=256)
trainer = dict(epochs=2, select="last", optimizer=dict(type="adam", lr=1e-4))  # its loss is identically 0: keep the last epoch
evaluation = dict(legacy_anomaly_ratio=0.6)  # percent flagged under evaluation.protocol=legacy
cpu_config = "configs/dcdetector/dcdetector_smd_cpu.py"  # the paper model on a CPU takes hours: the documented CPU budget
