"""Registered datasets: time series (data.timeseries) and images (data.image)."""
from data import image, timeseries  # noqa: F401  (registration)
