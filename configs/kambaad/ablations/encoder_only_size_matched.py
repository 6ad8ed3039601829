# Ablation: encoder layers only, widened towards the full model's size (KAN hidden width 41 instead
# of 8: 24.94M parameters on SMAP's 25 channels vs 25.14M for kambaad_smap.py; width 42 would overshoot to 25.47M).
_base_ = ["../kambaad_smap.py"]
model = dict(use_reconstructor=False, blocks=[dict(type="kan_window", hidden=41), dict(type="attention", n_heads=2), dict(type="mamba", d_state=64, d_conv=4, expand=2)])
