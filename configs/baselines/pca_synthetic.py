# PCA reconstruction error per step; on="windows" fits flattened windows instead of points.
_base_ = ["../__base__/runtime.py", "../__base__/datasets/synthetic.py"]
model = dict(type="pca", n_components=0.95, on="points", max_windows=2000, seed=0)
