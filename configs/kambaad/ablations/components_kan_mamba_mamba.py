# Ablation: KAN + Mamba + Mamba (attention replaced by a second Mamba block).
_base_ = ["../kambaad_smap.py"]
model = dict(blocks=[dict(type="kan_window"), dict(type="mamba", d_state=64, d_conv=4, expand=2), dict(type="mamba", d_state=64, d_conv=4, expand=2)])
