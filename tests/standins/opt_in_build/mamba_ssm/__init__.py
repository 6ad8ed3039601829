"""Stand-in for mamba-ssm after 2.3.2.post1 installed without its CUDA scan (see ``ops/selective_scan_interface.py``)."""
