#!/usr/bin/env bash
# The check a session with a lent GPU machine runs there: which of requirements.txt's packages are
# missing, then benchmarks/gpu_check.py under a hard 8-minute limit (its output also goes to $OUT).
#   bash benchmarks/device_check.sh [gpu_check.py arguments]
set -o pipefail
cd "$(dirname "$0")/.."
python - <<'PY'
import importlib.metadata as md
import re

names = [re.match(r"[A-Za-z0-9_.-]+", line).group() for line in open("requirements.txt") if line.split("#")[0].strip()]
missing = []
for name in names:
    try:
        md.version(name)
    except md.PackageNotFoundError:
        missing.append(name)
print("requirements.txt packages missing here:", ", ".join(missing) or "none")
PY
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
timeout -k 10 480 python benchmarks/gpu_check.py "$@" 2>&1 | tee "${OUT:-/tmp}/gpu_check.txt"
