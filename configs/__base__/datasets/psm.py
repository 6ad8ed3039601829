# Pooled Server Metrics (eBay; 25 dims). Its training file has missing values: forward-filled here.
# Get it: python -m data.download psm --root datasets/PSM
data = dict(type="psm", root="datasets/PSM", nan_policy="ffill", window=100, batch_size=32)
