"""Registered losses."""
