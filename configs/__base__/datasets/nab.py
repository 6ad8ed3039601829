# Numenta Anomaly Benchmark: leading 15 % of each series trains (NAB's probationary period); NAB's label windows if
# combined_windows.json is present, else window_fraction x length / #anomalies steps around each labelled timestamp.
# Get it: python -m data.download nab --root datasets/NAB
data = dict(type="nab", root="datasets/NAB", entities="all", train_fraction=0.15, window_fraction=0.1, window=100, batch_size=32)
