# NeurIPS-TS SWAN (38 dims); files NIPS_TS_*_{train,test,test_label}.npy or the KambaAD folder layout.
# Get it: python -m data.download swan --root datasets/NIPS_TS
data = dict(type="swan", root="datasets/NIPS_TS", window=100, batch_size=32)
