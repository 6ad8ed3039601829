# Isolation forest on flattened 10-step sub-windows; a step scores the mean of its sub-windows.
_base_ = ["../__base__/runtime.py", "../__base__/datasets/synthetic.py"]
model = dict(type="iforest", sub_window=10, n_estimators=100, max_windows=5000, seed=0)
