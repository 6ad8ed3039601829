# Ablation: KAN + attention (no Mamba).
_base_ = ["../kambaad_smap.py"]
model = dict(blocks=[dict(type="kan_window"), dict(type="attention", n_heads=2)])
