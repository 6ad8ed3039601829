# Isolation forest on flattened 10-step sub-windows, one forest for every SMD machine (the papers'
# joint way), fitted on at most 5,000 training sub-windows.
_base_ = ["../__base__/runtime.py", "../__base__/datasets/smd.py"]
model = dict(type="iforest", sub_window=10, n_estimators=100, max_windows=5000, seed=0)
