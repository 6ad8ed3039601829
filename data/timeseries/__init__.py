"""Registered time-series datasets; the shared preparation lives in ``pipeline``."""
from data.timeseries import smap_msl, synthetic  # noqa: F401  (registration)
