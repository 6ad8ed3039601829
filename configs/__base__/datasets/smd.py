# Server Machine Dataset (28 machines, 38 dims), one entity per machine, one model for all.
# Get it: python -m data.download smd --root datasets/SMD
data = dict(type="smd", root="datasets/SMD", entities="all", window=100, batch_size=32)
