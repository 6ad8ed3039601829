# MAAT on SMD: the paper's model (configs/__base__/models/maat_paper.py) and the authors' anomaly ratio.
_base_ = ["../__base__/runtime.py", "../__base__/datasets/smd.py", "../__base__/models/maat_paper.py"]

evaluation = dict(legacy_anomaly_ratio=0.5)  # percent flagged under evaluation.protocol=legacy
cpu_config = "configs/maat/maat_smd_cpu.py"  # the paper model on a CPU takes hours: the documented CPU budget
