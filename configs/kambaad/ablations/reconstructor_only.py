# Ablation: the patch reconstructor alone, no encoder layers.
_base_ = ["../kambaad_smap.py"]
model = dict(use_encoder=False)
