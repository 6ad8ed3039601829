# Largest per-channel |z| with training mean/std: catches spikes, misses correlation breaks.
_base_ = ["../__base__/runtime.py", "../__base__/datasets/synthetic.py"]
model = dict(type="zscore")
evaluation = dict(baselines=False)  # this run *is* the z-score baseline
