# PCA reconstruction error on flattened windows, one PCA for every SMD machine (the papers' joint
# way); 95% of the variance kept, fitted on at most 2,000 training windows.
_base_ = ["../__base__/runtime.py", "../__base__/datasets/smd.py"]
model = dict(type="pca", n_components=0.95, on="windows", max_windows=2000, seed=0)
data = dict(window=100)
