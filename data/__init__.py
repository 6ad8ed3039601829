"""Registered datasets: time series (data.timeseries) and images (data.image)."""
