# Per-channel z-score baseline on every MSL channel.
_base_ = ["../__base__/runtime.py", "../__base__/datasets/msl.py"]
model = dict(type="zscore")
evaluation = dict(baselines=False)  # this run *is* the z-score baseline
