"""Registered time-series datasets; the shared preparation lives in ``pipeline``."""
from data.timeseries import csv, nab, nips_ts, psm, smap_msl, smd, swat, synthetic, tsbad, ucr  # noqa: F401  (registration)
