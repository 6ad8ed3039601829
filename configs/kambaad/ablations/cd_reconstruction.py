# Ablation: channel-dependent reconstructor (the per-channel heads followed by channel mixing).
_base_ = ["../kambaad_smap.py"]
model = dict(reconstructor=dict(type="patch_cd"))
