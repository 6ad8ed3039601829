# NASA SMAP (telemanom layout). Get it: python -m data.download smap_msl --root datasets/SMAP_MSL
data = dict(type="smap", root="datasets/SMAP_MSL", entities="all", window=100, batch_size=32)
