"""ssmad command line: train, test and profile anomaly detectors assembled from config files."""
from __future__ import annotations

import argparse
import sys

EXAMPLES = """\
examples:
  python run.py -c configs/kambaad/kambaad_synthetic.py -m train
  python run.py -c configs/kambaad/kambaad_synthetic.py -m test            # latest run of that config
  python run.py -c configs/kambaad/kambaad_smap.py -m train data.root=../shared/data/SMAP_MSL trainer.epochs=1
  python run.py -c configs/baselines/dense_ae_synthetic.py -m train work_dir=runs/ae seed=1
  python run.py -c configs/kambaad/kambaad_synthetic.py -m test work_dir=runs/ae evaluation.protocol=legacy
  python run.py -c configs/kambaad/kambaad_synthetic.py -m profile
  python run.py -c configs/baselines/dense_ae_synthetic.py -m train data.type=csv data.test_path=my.csv

overrides (trailing key=value, applied after _base_ inheritance; unknown keys are errors):
  trainer.epochs=N  trainer.max_steps=N  trainer.resume=true  data.max_points=N  data.window=N
  work_dir=PATH (run folder)  checkpoint=PATH (-m test: a checkpoint file or run folder)
  device=cpu|cuda|auto  seed=N  evaluation.protocol=honest|legacy
"""

MODES = ("train", "test", "profile")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line arguments."""
    parser = argparse.ArgumentParser(
        prog="run.py",
        description="Train, test or profile an anomaly detector described by a Python config file. "
        "Runs are written to runs/<config-name>/<timestamp>/ (config, log, TensorBoard events, "
        "checkpoints, results.json, results.md, plots).",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-c", "--config", required=True, help="config file, e.g. configs/kambaad/kambaad_smd.py")
    parser.add_argument("-m", "--mode", choices=MODES, default="train", help="train (fit, then evaluate), test (evaluate a trained run) or profile (FLOPs and parameters)")
    parser.add_argument("--debug", action="store_true", help="show full Python tracebacks for user errors")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides, e.g. trainer.epochs=2")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    args = parse_args(argv)
    from util.errors import UserError

    try:
        from trainer.runner import run

        run(args.config, args.mode, args.overrides)
    except UserError as exc:
        if args.debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: continue a training run with trainer.resume=true work_dir=<its run folder>", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
