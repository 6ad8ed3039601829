"""Registered losses."""
from loss import feature, reconstruction  # noqa: F401  (registration)
