"""Registered time-series datasets; what they share (settings, preparation, loaders) lives in ``base``."""
