# NeurIPS-TS credit-card transactions; files NIPS_TS_*_{train,test,test_label}.npy or the KambaAD folder layout.
# Get it: python -m data.download ccard --root datasets/NIPS_TS
data = dict(type="ccard", root="datasets/NIPS_TS", window=100, batch_size=32)
