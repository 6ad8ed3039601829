# Ablation: channel-dependent reconstructor (the CI head followed by channel mixing).
_base_ = ["../kambaad_smap.py"]
model = dict(reconstructor=dict(type="patch_cd"))
