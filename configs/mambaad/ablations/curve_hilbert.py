# Scan-curve ablation: the hilbert curve with 8 directions. On the built-in textures so it runs
# offline on a CPU; for the paper's setting use _base_ = ["../mambaad_mvtec.py"].
_base_ = ["../mambaad_textures.py"]
model = dict(scan=dict(curve="hilbert", directions=8))
