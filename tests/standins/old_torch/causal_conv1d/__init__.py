"""Stand-in for causal-conv1d >= 1.5.2 imported under torch < 2.4: its ``cpp_functions`` module defines
``torch.library.custom_op``s, which that torch lacks, so the import raises AttributeError (and so
does mamba-ssm's, which guards its causal-conv1d import against ImportError only)."""

raise AttributeError("module 'torch.library' has no attribute 'custom_op'")
