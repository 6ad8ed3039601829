# Ablation: reconstructor only, widened to the full model's size (d_model 5660: ~7.94M parameters
# on SMAP's 25 channels, like kambaad_smap.py).
_base_ = ["../kambaad_smap.py"]
model = dict(use_encoder=False, reconstructor=dict(d_model=5660))
