# Ablation: the KAN-attention-Mamba encoder layers alone, no reconstructor.
_base_ = ["../kambaad_smap.py"]
model = dict(use_reconstructor=False)
