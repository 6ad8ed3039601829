# Per-channel z-score baseline on every SMD machine: each machine standardised by its own training
# statistics (the pipeline's floored standard scaler, one per machine), scored as it is.
_base_ = ["../__base__/runtime.py", "../__base__/datasets/smd.py"]
model = dict(type="zscore", standardise=False)
data = dict(scaler="standard", scaler_scope="entity")
evaluation = dict(baselines=False)  # this run *is* the z-score baseline
