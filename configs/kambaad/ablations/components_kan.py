# Ablation: KAN block only.
_base_ = ["../kambaad_smap.py"]
model = dict(blocks=[dict(type="kan_window")])
