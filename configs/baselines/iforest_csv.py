# Isolation forest on flattened 10-step sub-windows for a user's own series.
_base_ = ["../__base__/own_data.py"]
model = dict(type="iforest", sub_window=10, n_estimators=100, max_windows=5000, seed=0)
