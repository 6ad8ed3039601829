# Anomaly Transformer on SMD: the paper's model (d_model 512, 8 heads, 3 layers, k=3, lr 1e-4, window 100).
# Batch 32 (the released default is 256); anomaly ratio and epochs: released scripts/SMD.sh.
_base_ = ["../__base__/runtime.py", "../__base__/datasets/smd.py"]

model = dict(type="anomaly_transformer", d_model=512, n_heads=8, e_layers=3, d_ff=512, dropout=0.0, loss=dict(type="minimax", k=3.0))
data = dict(window=100, batch_size=32)
trainer = dict(epochs=10, optimizer=dict(type="adam", lr=1e-4))
evaluation = dict(legacy_anomaly_ratio=0.5)  # percent flagged under evaluation.protocol=legacy
cpu_config = "configs/anomaly_transformer/anomaly_transformer_smd_cpu.py"  # the paper model on a CPU takes hours: the documented CPU budget
