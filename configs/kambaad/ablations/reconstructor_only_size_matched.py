# Ablation: reconstructor only, widened to the full model's size (d_model 718: 25.13M parameters
# on SMAP's 25 channels, like kambaad_smap.py's 25.14M with its per-channel heads).
_base_ = ["../kambaad_smap.py"]
model = dict(use_encoder=False, reconstructor=dict(d_model=718))
