# UCR anomaly archive (250 univariate series); entities picks series by number, here 001 (override: data.entities=002,
# or data.entities=all for one model over every series). The usual protocol is one model per series.
# Get it: python -m data.download ucr --root datasets/UCR
data = dict(type="ucr", root="datasets/UCR", entities="001", window=100, batch_size=32)
