# Largest per-channel |z| with training mean/std, for a user's own series.
_base_ = ["../__base__/own_data.py"]
model = dict(type="zscore")
