# MAAT on SMD sized for a 2-core CPU: about 20 min for training and evaluation (docs/results.md,
# "SMD on a CPU"). Every choice below is fixed before any test score is seen, and matches the
# Anomaly Transformer CPU config so that the two stay comparable:
# - d_model 128, 4 heads, d_ff 128 (paper 512, 8, 512), by principle: still over three times SMD's
#   38 channels, head width 32; 0.75M parameters. Kept: 3 layers, sparse series attention in blocks
#   of 10, one Mamba per layer (d_state 8, d_conv 4, expand 2), k=3, window 100, batch 32, lr 1e-4.
# - training windows at stride 20 (every step still lies in 5 windows an epoch): 561 steps an
#   epoch; the validation loss is read at each epoch end and ckpt_best.pth is chosen on it.
# - epochs 10 (paper 3) with max_steps 2,500 as the budget, Anomaly Transformer's: 0.45 s a step on
#   2 threads (its Mamba branch doubles AT's step), about 19 min; the cap, or early stopping, ends the
#   run. Cost: 80k windows seen, against 358k an epoch at stride 1.
# - threads: the default (every core).
_base_ = ["maat_smd.py"]

cpu_config = None  # this is the CPU alternative
model = dict(d_model=128, n_heads=4, d_ff=128)
data = dict(train_stride=20)
trainer = dict(epochs=10, max_steps=2500)
