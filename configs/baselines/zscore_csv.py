# Per-channel z-score for a user's own series: the pipeline's floored standard scaler (fit on the training part)
# already gives each channel its z, so it is scored as it is (standardise=False, as in zscore_smap.py).
_base_ = ["../__base__/own_data.py"]
model = dict(type="zscore", standardise=False)
data = dict(scaler="standard")
