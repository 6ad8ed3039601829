# PCA reconstruction error for a user's own series, on flattened windows (a PCA of single points is
# degenerate on a univariate series: it reconstructs every step exactly).
_base_ = ["../__base__/own_data.py"]
model = dict(type="pca", n_components=0.95, on="windows", max_windows=2000, seed=0)
