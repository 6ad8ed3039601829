"""Registered detectors, one module each."""
