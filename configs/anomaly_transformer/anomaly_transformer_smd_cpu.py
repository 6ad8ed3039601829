# Anomaly Transformer on SMD sized for a 2-core CPU: about 9 min for training and evaluation
# (docs/results.md, "SMD on a CPU"). Every choice below is fixed before any test score is seen:
# - d_model 128, 4 heads, d_ff 128 (paper 512, 8, 512), by principle: still over three times SMD's
#   38 channels, head width 32; 0.32M parameters (paper 4.8M). Kept: 3 layers, k=3, window 100,
#   batch 32, lr 1e-4 (the paper's; a short run at it may stop short of convergence: the
#   validation loss in the log says whether it was still falling).
# - training windows at stride 20 (every step still lies in 5 windows an epoch): 561 steps an
#   epoch, so the validation loss is read at each epoch end and ckpt_best.pth is chosen on it.
# - max_steps 2,500: the budget, from a timing probe (0.22 s a step on 2 threads with its two
#   backward passes: about 9 min). Cost: 80k windows seen, against 358k an epoch at stride 1.
# - threads: the default (every core).
_base_ = ["anomaly_transformer_smd.py"]

cpu_config = None  # this is the CPU alternative
model = dict(d_model=128, n_heads=4, d_ff=128)
data = dict(train_stride=20)
trainer = dict(max_steps=2500)
