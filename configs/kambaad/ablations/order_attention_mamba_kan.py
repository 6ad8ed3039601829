# Ablation: component order attention -> Mamba -> KAN (the KAN block then maps d_model -> d_model).
_base_ = ["../kambaad_smap.py"]
model = dict(blocks=[dict(type="attention", n_heads=2), dict(type="mamba", d_state=64, d_conv=4, expand=2), dict(type="kan_window")])
