# Numenta Anomaly Benchmark: leading 15 % of each series trains (NAB's probationary period), NAB label windows if the
# combined_windows.json file is present. Get it: python -m data.download nab --root datasets/NAB
data = dict(type="nab", root="datasets/NAB", entities="all", train_fraction=0.15, window=100, batch_size=32)
