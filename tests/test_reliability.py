"""Crash safety: a training process killed with SIGKILL mid-run and resumed with trainer.resume=true
ends with the same weights and metrics as an uninterrupted run with the same seed."""
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import torch

from run import main
from trainer.run_folder import BEST, LAST
from util.checkpoint import load_checkpoint

REPO = Path(__file__).resolve().parents[1]
# ~50 steps per epoch: a kill right after the first checkpoint lands inside a later epoch.
ARGS = ["-c", "configs/baselines/dense_ae_synthetic.py", "-m", "train", "data.train_length=600", "data.test_length=600",
        "data.window=20", "data.train_stride=1", "data.batch_size=8", "trainer.epochs=4", "trainer.patience=100",
        "trainer.progress=false", "num_threads=1", "device=cpu", "evaluation.plots=false", "evaluation.baselines=false"]


def kill_after_first_checkpoint(proc: subprocess.Popen, run_dir: Path) -> None:
    """SIGKILL ``proc`` as soon as its first ``ckpt_last.pth`` appears (then it is inside epoch 2)."""
    deadline = time.time() + 300
    while not (run_dir / LAST).exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.002)
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


def test_kill_9_then_resume_matches_an_uninterrupted_run(tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    killed = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, str(REPO / "run.py"), *ARGS, f"work_dir={killed}"], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    killer = threading.Thread(target=kill_after_first_checkpoint, args=(proc, killed))
    killer.start()
    try:  # the uninterrupted reference run, meanwhile, in this process
        assert main([*ARGS, f"work_dir={tmp_path / 'full'}"]) == 0
    finally:
        killer.join()
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    assert not (killed / "results.json").exists()
    assert load_checkpoint(killed / LAST)["epoch"] < 4

    assert main([*ARGS, f"work_dir={killed}", "trainer.resume=true"]) == 0
    for name in (LAST, BEST):
        full, resumed = load_checkpoint(tmp_path / "full" / name)["model"], load_checkpoint(killed / name)["model"]
        for key in full:
            torch.testing.assert_close(resumed[key], full[key], rtol=0, atol=0)
    metrics = [json.loads((d / "results.json").read_text())["metrics"] for d in (tmp_path / "full", killed)]
    assert metrics[0] == metrics[1]
    assert not list(killed.glob(".*.tmp-*"))
