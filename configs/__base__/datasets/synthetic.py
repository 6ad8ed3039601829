# The built-in synthetic benchmark (no download): see data/timeseries/synthetic.py.
data = dict(type="synthetic", n_features=8, train_length=4000, test_length=4000, anomaly_ratio=0.05, seed=0, window=100, batch_size=32)
