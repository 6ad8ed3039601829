# MAAT as its paper describes it: d_model 512, 8 heads, 3 layers, sparse series attention in blocks of
# 10 steps, one Mamba per layer (d_state 8, d_conv 4, expand 2); minimax k=3, lr 1e-4, window 100,
# batch 32; epochs as Anomaly Transformer's scripts (3). model.compat=release reproduces the released
# code instead. The dataset configs in configs/maat/ add the authors' anomaly ratio.
model = dict(
    type="maat", d_model=512, n_heads=8, e_layers=3, d_ff=512, dropout=0.0,
    sparse_attention=True, block_size=10, causal_mask=False, share_mamba_across_layers=False,
    d_state=8, d_conv=4, expand=2, compat="paper", loss=dict(type="minimax", k=3.0),
)
data = dict(window=100, batch_size=32)
trainer = dict(epochs=3, optimizer=dict(type="adam", lr=1e-4))
