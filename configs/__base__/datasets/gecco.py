# NeurIPS-TS GECCO water quality (9 dims); files NIPS_TS_*_{train,test,test_label}.npy or the KambaAD folder layout.
# Get it: python -m data.download gecco --root datasets/NIPS_TS
data = dict(type="gecco", root="datasets/NIPS_TS", window=100, batch_size=32)
