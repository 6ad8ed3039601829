"""Stand-in for mamba-ssm 2.3.2.post1 (see ``ops/selective_scan_interface.py``)."""
