# MTAD on VisA, multi-class: the MVTec settings (see mtad_mvtec.py) on the VisA data.
_base_ = ["./mtad_mvtec.py", "../__base__/datasets/visa.py"]
data = dict(batch_size=8)  # the dataset base above resets it to 16
