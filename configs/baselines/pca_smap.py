# PCA reconstruction error per step on every SMAP channel (fit on the training points of all channels).
_base_ = ["../__base__/runtime.py", "../__base__/datasets/smap.py"]
model = dict(type="pca", n_components=0.95, on="points", max_windows=2000, seed=0)
