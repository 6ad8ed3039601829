# Uniform random scores (a fixed hash of each step's values): the floor every detector must clear.
_base_ = ["../__base__/runtime.py", "../__base__/datasets/synthetic.py"]
model = dict(type="random", seed=0)
evaluation = dict(baselines=False)  # this run *is* the random baseline
