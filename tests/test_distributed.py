"""Distributed training: the batch sampler splits one process's batches exactly, and a 2-process
gloo run (torchrun) gives the metrics and weights of a single-process run."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from run import main
from trainer.run_folder import BEST
from util.checkpoint import load_checkpoint
from util.distributed import ShardedBatchSampler

REPO = Path(__file__).resolve().parents[1]
# dropout off: each rank draws its own dropout masks, which a single process would not.
ARGS = ["-c", "configs/baselines/dense_ae_synthetic.py", "-m", "train", "data.train_length=600", "data.test_length=600",
        "data.window=20", "data.batch_size=16", "trainer.epochs=2", "trainer.progress=false", "model.dropout=0.0",
        "num_threads=1", "device=cpu", "evaluation.plots=false"]


@pytest.mark.parametrize("n, batch_size, replicas", [(100, 16, 2), (7, 4, 3), (33, 8, 4)])
def test_ranks_share_each_single_process_batch(n, batch_size, replicas):
    single = list(ShardedBatchSampler(n, batch_size, seed=5, rank=0, num_replicas=1))
    parts = [list(ShardedBatchSampler(n, batch_size, seed=5, rank=r, num_replicas=replicas)) for r in range(replicas)]
    assert all(len(p) == len(single) for p in parts)  # same number of steps on every rank
    for step, batch in enumerate(single):
        joined = [i for p in parts for i in p[step]]
        assert set(joined) == set(batch) and all(len(p[step]) >= 1 for p in parts)
    assert sorted(i for b in single for i in b) == list(range(n))


def test_two_gloo_processes_match_one_process(tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(REPO / "run.py"), *ARGS, f"work_dir={tmp_path / 'ddp'}"]
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert main([*ARGS, f"work_dir={tmp_path / 'single'}"]) == 0
    ddp, single = (json.loads((tmp_path / d / "results.json").read_text()) for d in ("ddp", "single"))
    for key, value in single["metrics"].items():
        assert ddp["metrics"][key] == pytest.approx(value, rel=1e-4, abs=1e-6, nan_ok=True), key
    assert ddp["threshold"] == pytest.approx(single["threshold"], rel=1e-5)
    w_ddp, w_single = (load_checkpoint(tmp_path / d / BEST)["model"] for d in ("ddp", "single"))
    for key in w_single:
        torch.testing.assert_close(w_ddp[key], w_single[key], rtol=1e-4, atol=1e-6)
    assert done.stderr.count("results written to") == 1  # rank 0 alone logs and writes
