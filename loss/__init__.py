"""Registered losses."""
from loss import feature, minimax, reconstruction  # noqa: F401  (registration)
