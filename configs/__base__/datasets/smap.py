# NASA SMAP (telemanom layout; 53 channels x 25 dims, P-2 left out as in the usual concatenated form).
# Get it: python -m data.download smap_msl --root datasets/SMAP_MSL
data = dict(type="smap", root="datasets/SMAP_MSL", entities="all", window=100, batch_size=32)
