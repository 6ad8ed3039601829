# Ablation: Mamba only (a linear F -> d_model embedding comes first).
_base_ = ["../kambaad_smap.py"]
model = dict(blocks=[dict(type="mamba", d_state=64, d_conv=4, expand=2)])
