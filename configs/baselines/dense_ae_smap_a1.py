# Dense window autoencoder on the single SMAP channel A-1 (a quick real-data check).
_base_ = ["./dense_ae_smap.py"]
data = dict(entities="A-1")
