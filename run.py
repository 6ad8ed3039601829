"""ssmad command line: train, test, profile and predict with anomaly detectors assembled from config files."""
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
  python run.py -c configs/baselines/dense_ae_synthetic.py -m predict checkpoint=runs/ae data.path=new.csv
  python run.py -c configs/baselines/dense_ae_smap.py -m train entity_mode=separate   # one model per channel
  torchrun --nproc_per_node 2 run.py -c configs/baselines/dense_ae_synthetic.py -m train   # DDP (gloo on CPU, nccl on GPU)

overrides (trailing key=value, applied after _base_ inheritance; unknown keys are errors):
  trainer.epochs=N  trainer.max_steps=N  trainer.resume=true  data.max_points=N  data.window=N
  work_dir=PATH (run folder)  checkpoint=PATH (-m test: a checkpoint file or run folder)
  device=cpu|cuda|auto  seed=N  evaluation.protocol=honest|legacy  entity_mode=joint|separate
  -m predict: data.path=FILE (.csv/.npy; same as predict.path)  predict.chunk_size=N  predict.entity=NAME
     predict.timestamp_column=NAME  predict.output=DIR (default: a new RUN/predict/<file name>/)
     CSV columns are matched to the run's training columns by name and read with its delimiter.

values: a Python literal (3, 1e-3, [A-1,B-2], true/false/none in any case), fitted to the type the
  key takes: a key that takes text keeps the text as typed (data.scaler=none is the word "none",
  work_dir=2024 and data.test_path=2024 are paths); none means None only for a key that accepts
  None (data.timestamp_column=none: the file has no timestamp column).

A config or data error stops before the first training step (exit code 2) and removes the run
folder it created; so does Ctrl-C before the first checkpoint (exit code 130), and after it the
message gives the command that resumes the run. Details: docs/usage.md.
"""

MODES = ("train", "test", "profile", "predict")


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
    parser.add_argument("-m", "--mode", choices=MODES, default="train", help=("train (fit, then evaluate), test (evaluate a trained run), profile (FLOPs and parameters) "
                        "or predict (score a new series with a trained run)"))
    parser.add_argument("--debug", action="store_true", help="show full Python tracebacks (for any error)")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides, e.g. trainer.epochs=2")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code (0 ok, 2 user error, 1 internal error, 130 interrupted).

    Errors are printed as one ``error:`` paragraph without a traceback unless ``--debug``.
    """
    args = parse_args(argv)
    from util.errors import UserError

    try:
        from trainer.runner import run

        run(args.config, args.mode, args.overrides)
    except UserError as exc:
        if args.debug:
            raise
        return _fail(f"error: {exc}", 2)
    except KeyboardInterrupt as exc:
        return _fail(f"interrupted{': ' + str(exc) if str(exc) else '.'}", 130)
    except Exception as exc:  # a bug, not a user error: keep the message, hide the traceback
        if args.debug:
            raise
        if isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError":
            return _fail(f"error: out of memory ({exc}). Lower data.batch_size or data.window, or set data.max_points=N.", 2)
        return _fail(f"error: internal error {type(exc).__name__}: {exc}. This is a bug in ssmad; rerun with --debug for the traceback and report it.", 1)
    finally:
        from util.distributed import shutdown

        shutdown()
    return 0


def _fail(message: str, code: int) -> int:
    print(" ".join(message.split()), file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
