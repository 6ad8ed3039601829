# Defaults for a user's own series (data.type=csv or tsbad, the Python API): series of 1k-100k steps, trained on a CPU.
# Window 100 (TSB-AD's default buffer); training windows at stride 2, at most 10 epochs and 1500 optimiser steps,
# so a 100k-step series costs about as much as a 30k-step one and a 1k-step series still sees ~250 steps;
# early stopping on the trailing 20 % of the training part.
_base_ = ["runtime.py", "datasets/csv.py"]
data = dict(window=100, batch_size=32, train_stride=2)
trainer = dict(epochs=10, max_steps=1500, patience=3, progress=False)
