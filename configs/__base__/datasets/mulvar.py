# NeurIPS-TS Syn_Mulvar (synthetic multivariate); files NIPS_TS_*_{train,test,test_label}.npy or the KambaAD folder layout.
# Get it: python -m data.download mulvar --root datasets/NIPS_TS
data = dict(type="mulvar", root="datasets/NIPS_TS", window=100, batch_size=32)
