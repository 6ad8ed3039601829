# KambaAD on SMD sized for a 2-core CPU: about 15 min for training and evaluation (docs/results.md,
# "SMD on a CPU"). The paper model (kambaad_smd.py: 63.3M parameters, 44,787 steps an epoch at batch 8)
# takes about 10 h an epoch here. Every choice below is fixed before any test score is seen:
# - d_model 64 (paper 512), by principle: the paper's own width for PSM (25 channels), still above
#   SMD's 38; it cuts the per-channel heads, 48.6M of the 63.3M parameters, eightfold (to 6.1M).
#   Kept: both layers, KAN window -> attention -> Mamba, patch 8 / stride 4, per-channel (CI) heads.
# - batch 32 (paper 8): a CPU step costs far less than four of batch 8; Adam at the paper's lr 1e-3.
# - training windows at stride 20 (every step still lies in 5 windows an epoch): 560 steps an
#   epoch, so the validation loss (the tail 20% of each machine's training data) is read three
#   times and ckpt_best.pth is chosen on it.
# - max_steps 1,500: the budget, from a timing probe (0.48 s a step on 2 threads, 12 min), leaving
#   room for evaluation and a shared CPU. Cost: about 48k windows seen against the paper's 717k.
# - threads: the default (every core).
_base_ = ["kambaad_smd.py"]

cpu_config = None  # this is the CPU alternative
model = dict(d_model=64)
data = dict(batch_size=32, train_stride=20)
trainer = dict(epochs=10, max_steps=1500)
