# NASA MSL (telemanom layout; 27 channels x 55 dims).
# Get it: python -m data.download smap_msl --root datasets/SMAP_MSL
data = dict(type="msl", root="datasets/SMAP_MSL", entities="all", window=100, batch_size=32)
