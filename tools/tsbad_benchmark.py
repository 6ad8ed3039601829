"""Side-by-side benchmark on TSB-AD files: our detectors next to TSB-AD's own implementations,
under TSB-AD's protocol, scored by one metric code, in TSB-AD's merged-table layout.

    python tools/tsbad_benchmark.py --root datasets/TSB-AD-M --files File_List/TSB-AD-M-Eva.csv \\
        --configs kambaad maat pca --reference PCA IForest KMeansAD CNN AnomalyTransformer \\
        --out runs/tsbad [--set trainer.max_steps=300 kambaad:trainer.epochs=2] [--shard 1/4]
    python tools/tsbad_benchmark.py --out runs/tsbad --merge        # tables from every shard's results

Protocol (TSB-AD's ``benchmark_exp/Run_Detector_M.py``): per file, rows with a missing value are
dropped; training data are rows ``[:N]`` (``tr_N`` in the name); every method scores the whole
series; semi-supervised methods fit on the training rows, TSB-AD's unsupervised ones (PCA,
IForest, KMeansAD, ...) on the whole series, as TSB-AD runs them. The VUS/Range-AUC buffer is
the series' dominant period (``metric.timeseries.period``, TSB-AD's ``find_length_rank`` on the
first feature). VUS-PR, AUC-PR and AUC-ROC come from ``metric.timeseries.threshold_free_metrics``
for every method, ours and TSB-AD's alike.

Methods. ``--configs``: our detectors, each a config file or a name of the Python API
(``kambaad`` = ``configs/kambaad/kambaad_csv.py``), fit and scored through ``trainer.api`` with
``--set`` overrides (``NAME:key=value`` applies to one of them). ``--reference``: TSB-AD's own
implementations (the ``tsb-ad`` package), run by its ``model_wrapper.run_<name>`` with its tuned
hyper-parameters (``Optimal_Multi_algo_HP_dict``; for univariate files
``Optimal_Uni_algo_HP_dict`` where it has the method), seeded with 2024 as its runner is.
``--random``: independent uniform scores seeded by the file's name (the evaluator's random
baseline), the floor every method must beat on the same files and buffers.

Outputs under ``--out``: ``results/<method>/<file stem>.json`` (metrics, buffer, seconds, or the
error) and ``scores/<method>/<file stem>.npy`` per finished pair, and for ours
``logs/<method>/<file stem>.json``, the training log read from the fit's run folder (loss per
epoch, optimiser steps, the limits that stopped it, whether early stopping fired, the best
epoch, wall and CPU seconds of fit and of scoring): "was it trained?" is answered there. A rerun skips finished pairs
(delete a json to run it again). ``--shard K/N`` (K = 1..N) takes every N-th file from the K-th
of the sorted list, so N processes or a Slurm array (``--shard $SLURM_ARRAY_TASK_ID/N`` with
``--array=1-N``) split one list; an unsharded run, and ``--merge``, write
``mergedTable_<metric>.csv`` (``file``, one column per method, then the file's statistics, for
VUS-PR, AUC-PR and AUC-ROC) and ``leaderboard.md`` / ``leaderboard.csv`` (means over the files
that every method finished, ranked by VUS-PR).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import struct
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from tqdm import tqdm  # noqa: E402

from data.timeseries.entity import Entity  # noqa: E402
from data.timeseries.tsbad import TsbAd, resolve_files  # noqa: E402
from metric.timeseries import METRICS, threshold_free_metrics  # noqa: E402
from metric.timeseries.period import dominant_period  # noqa: E402
from metric.timeseries.segments import segments  # noqa: E402
from trainer.api import DEFAULT_SUFFIX, AnomalyDetector, config_path  # noqa: E402
from trainer.run_folder import RunFolder  # noqa: E402
from util.checkpoint import load_checkpoint  # noqa: E402
from util.errors import ConfigError, DataError, UserError  # noqa: E402
from util.registry import DETECTORS  # noqa: E402

TABLE_METRICS = {m.title: m.key for m in METRICS.pick("vus_pr", "auc_pr", "auc_roc")}  # TSB-AD's table: title -> key
REFERENCE_PREFIX = "TSB-AD:"
REFERENCE_SEED = 2024  # TSB-AD's runners seed torch, numpy and random with it
RANDOM = "random"  # --random: the column of independent uniform scores every method must beat
METHODS_FILE = "methods.json"
EPOCH_SCALARS = {"train_loss": "epoch/train_loss", "val_loss": "epoch/val_loss", "lr": "epoch/lr"}  # what the trainer writes per epoch


@dataclass(frozen=True)
class Method:
    """One column of the tables: ours (a config), TSB-AD's (a model name) or the random floor."""

    label: str
    kind: str  # "ours", "tsb-ad" or "random"
    name: str  # config path, TSB-AD model name or "uniform"

    @property
    def key(self) -> str:
        """Folder name of its results."""
        return re.sub(r"[^A-Za-z0-9_.-]", "_", self.label)


def our_method(config: str) -> Method:
    """The method of one ``--configs`` entry (label: the config stem without ``_csv``)."""
    path = config_path(config)
    stem = path.stem[: -len(DEFAULT_SUFFIX)] if path.stem.endswith(DEFAULT_SUFFIX) else path.stem
    return Method(stem, "ours", str(path))


def reference_method(name: str) -> Method:
    """The method of one ``--reference`` name; unknown names list TSB-AD's."""
    wrapper = tsb_ad_wrapper()
    known = [n for n in (*wrapper.Semisupervise_AD_Pool, *wrapper.Unsupervise_AD_Pool) if hasattr(wrapper, f"run_{n}")]
    if name not in known:
        raise ConfigError(f"--reference {name}: not a TSB-AD model; choose from {', '.join(known)}.")
    return Method(REFERENCE_PREFIX + name, "tsb-ad", name)


# NumPy 1 names that tsb-ad 1.5's deep models still use (np.Inf in its early stopping); NumPy 2 removed them.
NUMPY_1_NAMES = {"Inf": np.inf, "NaN": np.nan}


def tsb_ad_wrapper():  # noqa: ANN201
    """TSB-AD's ``model_wrapper`` module, or a ``ConfigError`` saying how to install it.

    Puts back the NumPy 1 aliases its models read (same values), so they run on NumPy 2.
    """
    try:
        from TSB_AD import model_wrapper
    except ImportError as error:
        raise ConfigError(f"--reference needs the tsb-ad package and what its models import ({error}): pip install --no-deps -r requirements-test.txt") from None
    for name, value in NUMPY_1_NAMES.items():
        if not hasattr(np, name):
            setattr(np, name, value)
    return model_wrapper


@contextlib.contextmanager
def cuda_calls_on_cpu():  # noqa: ANN201
    """Without CUDA, ``Tensor.cuda()`` returns the tensor itself while the block runs.

    tsb-ad 1.5's AnomalyTransformer moves two tensors with an unconditional ``.cuda()`` (its
    model and data follow ``torch.cuda.is_available()``), so on a CPU-only machine it cannot run
    otherwise. With CUDA present nothing changes.
    """
    import torch

    if torch.cuda.is_available():
        yield
        return
    original = torch.Tensor.cuda
    torch.Tensor.cuda = lambda tensor, *args, **kwargs: tensor
    try:
        yield
    finally:
        torch.Tensor.cuda = original


def parse_shard(text: str | None) -> tuple[int, int]:
    """``"K/N"`` -> (K, N) with 1 <= K <= N; None -> (1, 1)."""
    if text is None:
        return 1, 1
    match = re.fullmatch(r"(\d+)/(\d+)", text.strip())
    if match is None or not 1 <= int(match[1]) <= int(match[2]):
        raise ConfigError(f"--shard {text!r}: give K/N with 1 <= K <= N, e.g. --shard 1/4.")
    return int(match[1]), int(match[2])


def shard_files(files: list[Path], shard: tuple[int, int]) -> list[Path]:
    """The K-th of N interleaved parts of the files sorted by name."""
    k, n = shard
    return sorted(files, key=lambda p: p.name)[k - 1 :: n]


def split_overrides(overrides: list[str], labels: list[str]) -> dict[str, list[str]]:
    """Per label, the ``--set`` items for it: plain ``key=value`` for all, ``label:key=value`` for one."""
    out: dict[str, list[str]] = {label: [] for label in labels}
    for item in overrides:
        head, sep, rest = item.partition(":")
        if sep and "=" not in head:
            if head not in out:
                raise ConfigError(f"--set {item}: '{head}' is none of the --configs ({', '.join(labels)}).")
            out[head].append(rest)
        else:
            for label in labels:
                out[label].append(item)
    return out


def event_scalars(folder: Path) -> dict[str, list[tuple[int, float]]]:
    """The scalars of the TensorBoard event files in ``folder``, by tag: (step, value) in write order.

    Reads the files' TFRecord framing (length, its CRC, an ``Event``, its CRC) with tensorboardX's
    protos, so TensorBoard itself is not needed.
    """
    from tensorboardX.proto.event_pb2 import Event

    scalars: dict[str, list[tuple[int, float]]] = {}
    for path in sorted(folder.glob("events.out.tfevents.*")):
        data, position = path.read_bytes(), 0
        while position + 12 <= len(data):
            (length,) = struct.unpack_from("<Q", data, position)
            event = Event.FromString(data[position + 12 : position + 12 + length])
            position += 12 + length + 4
            for value in event.summary.value:
                if value.WhichOneof("value") == "simple_value":
                    scalars.setdefault(value.tag, []).append((int(event.step), float(value.simple_value)))
    return scalars


def training_log(run_dir: Path, trainer_cfg: dict) -> dict:
    """What the trainer left in its run folder: loss per epoch, steps, the limits that stopped it, the best epoch.

    ``stopped_by`` lists the limits reached at the end (``epochs``, ``max_steps``, ``patience``);
    ``early_stopped`` is true when patience ended training before the epoch limit. A detector fit
    without gradients (z-score, PCA, ...) has ``trainable`` false and no epochs.
    """
    folder = RunFolder(run_dir)
    last, best = load_checkpoint(folder.last), load_checkpoint(folder.best)
    epochs, steps, max_steps, patience = last["epoch"], last["step"], trainer_cfg.get("max_steps"), trainer_cfg["patience"]
    trainable = last["optimizer"] is not None
    reached = {"epochs": epochs >= trainer_cfg["epochs"], "max_steps": max_steps is not None and steps >= max_steps, "patience": last["bad_epochs"] >= patience}
    scalars = event_scalars(folder.tensorboard)
    return {
        "trainable": trainable,
        "epochs": epochs,
        "steps": steps,
        "best_epoch": best["epoch"] if trainable else None,
        "stopped_by": [limit for limit, hit in reached.items() if hit] if trainable else [],
        "early_stopped": trainable and reached["patience"] and not reached["epochs"],
        "limits": {key: trainer_cfg.get(key) for key in ("epochs", "max_steps", "patience", "select")},
        **{name: [value for _, value in scalars.get(tag, [])] for name, tag in EPOCH_SCALARS.items()},
    }


def score_ours(method: Method, overrides: list[str], values: np.ndarray, train_length: int, log: Path) -> tuple[np.ndarray, dict]:
    """Our detector fit on rows ``[:train_length]`` and scored on the whole series; its training log goes to ``log``."""
    with tempfile.TemporaryDirectory(prefix="ssmad-tsbad-") as run_dir:
        start = (time.time(), time.process_time())
        detector = AnomalyDetector(method.name, overrides, work_dir=run_dir).fit(values[:train_length])
        fitted = (time.time(), time.process_time())
        scores = detector.decision_function(values)
        history = training_log(Path(run_dir), detector.cfg["trainer"])
    done = (time.time(), time.process_time())
    timing = {kind: {"fit": fitted[i] - start[i], "score": done[i] - fitted[i]} for i, kind in enumerate(("seconds", "cpu_seconds"))}
    write_json(log, {"config": method.name, "overrides": overrides, "seed": detector.cfg["seed"], **history, **timing})
    return scores, {"config": method.name, "overrides": overrides}


def reference_hp(name: str, n_features: int) -> tuple[dict, str]:
    """(TSB-AD's tuned hyper-parameters for ``name``, the table they come from)."""
    from TSB_AD import HP_list

    if n_features == 1 and name in HP_list.Optimal_Uni_algo_HP_dict:
        return dict(HP_list.Optimal_Uni_algo_HP_dict[name]), "Optimal_Uni_algo_HP_dict"
    return dict(HP_list.Optimal_Multi_algo_HP_dict.get(name, {})), "Optimal_Multi_algo_HP_dict"


def score_reference(method: Method, values: np.ndarray, train_length: int, log: Path) -> tuple[np.ndarray, dict]:
    """TSB-AD's own implementation, run as its benchmark runner runs it (its prints go to ``log``)."""
    import torch

    wrapper = tsb_ad_wrapper()
    hp, table = reference_hp(method.name, values.shape[1])
    random.seed(REFERENCE_SEED)
    np.random.seed(REFERENCE_SEED)
    torch.manual_seed(REFERENCE_SEED)
    log.parent.mkdir(parents=True, exist_ok=True)
    # its run_<name> functions directly: its dispatchers turn every exception into "not defined"
    run = getattr(wrapper, f"run_{method.name}")
    with open(log, "a") as out, contextlib.redirect_stdout(out), contextlib.redirect_stderr(out), cuda_calls_on_cpu():
        output = run(values[:train_length], values, **hp) if method.name in wrapper.Semisupervise_AD_Pool else run(values, **hp)
    return np.asarray(output, dtype=np.float64).ravel(), {"hp": hp, "hp_table": table}


def file_statistics(labels: np.ndarray) -> dict:
    """TSB-AD's per-file columns that follow the methods in its merged tables."""
    starts, stops = segments(labels.astype(bool))
    lengths = stops - starts
    return {
        "ts_len": len(labels),
        "anomaly_len": int(labels.sum()),
        "num_anomaly": len(starts),
        "avg_anomaly_len": float(lengths.mean()) if len(lengths) else 0.0,
        "anomaly_ratio": float(labels.mean()),
    }


def write_json(path: Path, payload: dict) -> None:
    """Write atomically, so an interrupted run never leaves a half result that counts as done."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(payload, indent=1))
    tmp.replace(path)


def read_series(path: Path) -> Entity:
    """The file as the ``tsbad`` loader reads it: an entity whose ``test`` is the whole series, ``train`` rows ``[:N]``."""
    (entity,) = TsbAd(root=str(path.parent), files=[path.name]).read()
    return entity


def run_pair(method: Method, overrides: list[str], entity: Entity, out: Path) -> dict:
    """Fit, score and measure one method on one file's ``entity``; returns (and writes) its result."""
    values, labels, train_length = entity.test, entity.test_labels, len(entity.train)
    window = dominant_period(values)
    result = {"file": f"{entity.name}.csv", "method": method.label, "kind": method.kind, "window": window, **file_statistics(labels)}
    start = time.time()
    try:
        if method.kind == "ours":
            scores, facts = score_ours(method, overrides, values, train_length, out / "logs" / method.key / f"{entity.name}.json")
        elif method.kind == RANDOM:
            random = DETECTORS.build(dict(type="random", seed=0), n_features=values.shape[1], window=window)
            scores, facts = random.series_scores(entity.name, [len(values)])[0], {"seed": 0}
        else:
            scores, facts = score_reference(method, values, train_length, out / "logs" / f"{method.key}.log")
        if len(scores) != len(labels):
            raise ValueError(f"{method.label} returned {len(scores)} scores for {len(labels)} steps")
        result |= facts | {"metrics": threshold_free_metrics(labels, scores, window), "seconds": time.time() - start}
        (out / "scores" / method.key).mkdir(parents=True, exist_ok=True)
        np.save(out / "scores" / method.key / f"{entity.name}.npy", scores.astype(np.float32))
    except Exception as error:  # noqa: BLE001  one failing pair is recorded and the others still run
        result |= {"error": f"{type(error).__name__}: {error}", "seconds": time.time() - start}
    write_json(out / "results" / method.key / f"{entity.name}.json", result)
    return result


def remember_methods(out: Path, methods: list[Method]) -> None:
    """Add ``methods`` to ``methods.json`` (column order of the merged tables, across shards)."""
    path = out / METHODS_FILE
    known = json.loads(path.read_text()) if path.is_file() else []
    labels = [m["label"] for m in known]
    known += [{"label": m.label, "kind": m.kind, "name": m.name} for m in methods if m.label not in labels]
    write_json(path, known)


def run_files(files: list[Path], methods: list[Method], overrides: dict[str, list[str]], out: Path) -> list[str]:
    """Every unfinished (file, method) pair, with a progress bar over files; returns the failures."""
    failures = []
    bar = tqdm(files, desc="files", unit="file", dynamic_ncols=True)
    for path in bar:
        todo = [m for m in methods if not (out / "results" / m.key / f"{path.stem}.json").is_file()]
        try:
            entity = read_series(path) if todo else None
        except DataError as error:  # a bad file fails every method on it, not the run
            entity, unreadable = None, str(error)
        for method in todo:
            bar.set_postfix_str(f"{path.stem[:40]} {method.label}")
            if entity is None:
                result = {"file": path.name, "method": method.label, "kind": method.kind, "error": f"DataError: {unreadable}", "seconds": 0.0}
                write_json(out / "results" / method.key / f"{path.stem}.json", result)
            else:
                result = run_pair(method, overrides.get(method.label, []), entity, out)
            if "error" in result:
                failures.append(f"{path.name} {method.label}: {result['error']}")
                tqdm.write(f"FAILED {path.name} {method.label}: {result['error']}")
            else:
                tqdm.write(f"{path.name} {method.label}: VUS-PR {result['metrics']['vus_pr']:.4f} in {result['seconds']:.1f} s")
    bar.close()
    return failures


def collect(out: Path) -> pd.DataFrame:
    """One row per recorded (file, method) result of every shard."""
    rows = []
    for path in sorted((out / "results").glob("*/*.json")):
        result = json.loads(path.read_text())
        metrics = result.get("metrics", {})
        rows.append({k: v for k, v in result.items() if k != "metrics"} | {key: metrics.get(key, np.nan) for key in TABLE_METRICS.values()})
    return pd.DataFrame(rows)


def method_order(out: Path, frame: pd.DataFrame) -> list[str]:
    """Labels in ``methods.json`` order, then any other recorded method."""
    path = out / METHODS_FILE
    known = [m["label"] for m in json.loads(path.read_text())] if path.is_file() else []
    return [*known, *sorted(set(frame["method"]) - set(known))] if len(frame) else known


def merged_tables(frame: pd.DataFrame, order: list[str]) -> dict[str, pd.DataFrame]:
    """TSB-AD's merged-table layout per metric: ``file``, one column per method, the file statistics."""
    statistics = ["ts_len", "anomaly_len", "num_anomaly", "avg_anomaly_len", "anomaly_ratio"]
    facts = frame.drop_duplicates("file").set_index("file")[statistics]
    tables = {}
    for title, key in TABLE_METRICS.items():
        wide = frame.pivot(index="file", columns="method", values=key).reindex(columns=[m for m in order if m in set(frame["method"])])
        tables[title] = wide.join(facts).rename_axis("file").reset_index().rename_axis(None, axis=1)
    return tables


def leaderboard(frame: pd.DataFrame, order: list[str]) -> tuple[pd.DataFrame, int, int]:
    """(means per method over the files every method finished, ranked by VUS-PR; those files; all files)."""
    methods = [m for m in order if m in set(frame["method"])]
    wide = frame.pivot(index="file", columns="method", values="vus_pr").reindex(columns=methods)
    common = wide.dropna().index
    rows = []
    for method in methods:
        mine = frame[frame["method"] == method].set_index("file")
        row = {"method": method, "kind": mine["kind"].iloc[0], "finished": int(mine["vus_pr"].notna().sum()), "failed": int(mine["vus_pr"].isna().sum())}
        row |= {title: float(mine.loc[common, key].mean()) if len(common) else np.nan for title, key in TABLE_METRICS.items()}
        row["seconds_per_file"] = float(mine["seconds"].mean())
        rows.append(row)
    board = pd.DataFrame(rows).sort_values("VUS-PR", ascending=False, kind="stable").reset_index(drop=True)
    board.index += 1
    return board.rename_axis("rank").reset_index(), len(common), wide.shape[0]


def markdown(board: pd.DataFrame, n_common: int, n_files: int) -> str:
    """The leaderboard as a markdown table (metrics in [0, 1], as TSB-AD reports them)."""
    lines = [
        f"# TSB-AD protocol: mean over the {n_common} files every method finished (of {n_files})", "",
        "| rank | method | " + " | ".join(TABLE_METRICS) + " | finished | failed | s / file |", "|---" * (len(TABLE_METRICS) + 5) + "|",
    ]
    for row in board.to_dict("records"):
        cells = ["n/a" if not np.isfinite(row[title]) else f"{row[title]:.3f}" for title in TABLE_METRICS]
        lines.append(f"| {row['rank']} | {row['method']} | " + " | ".join(cells) + f" | {row['finished']} | {row['failed']} | {row['seconds_per_file']:.1f} |")
    return "\n".join(lines) + "\n"


def write_tables(out: Path) -> str:
    """Merge every shard's results into the merged tables and the leaderboard; returns the markdown."""
    frame = collect(out)
    if not len(frame):
        return "No finished results.\n"
    order = method_order(out, frame)
    for title, table in merged_tables(frame, order).items():
        table.to_csv(out / f"mergedTable_{title}.csv", index=False)
    board, n_common, n_files = leaderboard(frame, order)
    board.to_csv(out / "leaderboard.csv", index=False)
    table = markdown(board, n_common, n_files)
    (out / "leaderboard.md").write_text(table)
    return table


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line arguments."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--root", help="folder of the TSB-AD files")
    parser.add_argument("--files", nargs="+", default=["*.csv"], help="file names, one glob, or one TSB-AD File_List csv (relative to --root)")
    parser.add_argument("--configs", nargs="*", default=[], help="our detectors: config files or API names (kambaad, maat, pca, ...)")
    parser.add_argument("--reference", nargs="*", default=[], help="TSB-AD's own implementations, e.g. PCA IForest KMeansAD CNN AnomalyTransformer")
    parser.add_argument("--random", action="store_true", help="add a column of uniform random scores (seeded by the file name), the floor to beat")
    parser.add_argument("--set", nargs="*", default=[], metavar="[NAME:]key=value", help="overrides of our configs (NAME: only that one)")
    parser.add_argument("--out", default="runs/tsbad", help="folder of results, scores and tables")
    parser.add_argument("--shard", help="K/N: run the K-th of N parts of the file list (K = 1..N)")
    parser.add_argument("--merge", action="store_true", help="only build the tables from the results of all shards")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run (a shard of) the benchmark, then write the tables; exit 1 when a pair failed, 2 on bad arguments."""
    args = parse_args(argv)
    out = Path(args.out)
    try:
        if not args.merge:
            if not args.root:
                raise ConfigError("--root is required: the folder of the TSB-AD files.")
            if not args.configs and not args.reference and not args.random:
                raise ConfigError("Name at least one method: --configs (ours), --reference (TSB-AD's) and/or --random.")
            shard = parse_shard(args.shard)
            files = resolve_files(Path(args.root), args.files[0] if len(args.files) == 1 else args.files)
            methods = [our_method(c) for c in args.configs] + [reference_method(r) for r in args.reference]
            methods += [Method(RANDOM, RANDOM, "uniform")] if args.random else []
            overrides = split_overrides(args.set, [m.label for m in methods if m.kind == "ours"])
            out.mkdir(parents=True, exist_ok=True)
            remember_methods(out, methods)
            failures = run_files(shard_files(files, shard), methods, overrides, out)
            if shard[1] > 1:
                print(f"shard {shard[0]}/{shard[1]} done; build the tables with: python tools/tsbad_benchmark.py --out {out} --merge")
                return 1 if failures else 0
        else:
            failures = []
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(write_tables(out))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
