"""Registered building blocks: encoders, mixers, reconstructors, backbones."""
