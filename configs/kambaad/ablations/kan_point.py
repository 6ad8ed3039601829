# Ablation: KAN applied per time step (kan_point) instead of on the whole window.
_base_ = ["../kambaad_smap.py"]
model = dict(blocks=[dict(type="kan_point"), dict(type="attention", n_heads=2), dict(type="mamba", d_state=64, d_conv=4, expand=2)])
