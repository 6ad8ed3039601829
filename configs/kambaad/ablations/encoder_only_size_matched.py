# Ablation: encoder layers only, widened towards the full model's size (KAN hidden width 9 instead
# of 8: ~7.75M parameters on SMAP's 25 channels vs 7.93M for kambaad_smap.py; width 10 would overshoot to 8.3M).
_base_ = ["../kambaad_smap.py"]
model = dict(use_reconstructor=False, blocks=[dict(type="kan_window", hidden=9), dict(type="attention", n_heads=2), dict(type="mamba", d_state=64, d_conv=4, expand=2)])
