# Your own csv (TimeEval style: timestamp, channels..., is_anomaly). Set data.test_path (and optionally data.train_path),
# e.g. python run.py -c CONFIG data.test_path=my.csv ; without a training file the leading 30 % trains.
data = dict(
    type="csv",
    test_path=None,
    train_path=None,
    label_column="is_anomaly",
    timestamp_column="timestamp",
    feature_columns=None,
    train_fraction=0.3,
    delimiter=",",
    window=100,
    batch_size=32,
)
