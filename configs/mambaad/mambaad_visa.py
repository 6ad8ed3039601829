# MambaAD on VisA, multi-class: the MVTec settings (see mambaad_mvtec.py) on the VisA data.
_base_ = ["./mambaad_mvtec.py", "../__base__/datasets/visa.py"]
