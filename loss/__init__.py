"""Registered losses."""
from loss import contrastive, feature, minimax, reconstruction  # noqa: F401  (registration)
