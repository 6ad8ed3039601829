# Ablation: attention only (a linear F -> d_model embedding comes first).
_base_ = ["../kambaad_smap.py"]
model = dict(blocks=[dict(type="attention", n_heads=2)])
