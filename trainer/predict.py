"""``-m predict``: score a new series with a trained run, chunk by chunk, at its calibrated threshold.

    python run.py -c CONFIG -m predict checkpoint=RUN data.path=new.csv

Everything comes from the run folder (``calibration.json``, written when the run was evaluated):
the window and stride, the training scaler statistics, the threshold, (after an evaluation with
``evaluation.entity_scaling=val``) the entity's score scaling, and how the training files laid
out their columns, so the training data is never read again. A CSV is read with the run's
delimiter; its feature columns are matched to the training ones by name (any order; extra
columns, the run's label column and a pandas index are left out) when the training files named
them, else by position; its timestamps (``predict.timestamp_column``, else the run's timestamp
column, else one named timestamp/time/date/datetime) are checked for time order over the whole
file as the loaders' are (``data.timeseries.validate.time_order``). A ``.npy`` goes by
position. The file is streamed in ``predict.chunk_size`` rows (pandas ``chunksize`` for CSV, a
memory map for ``.npy``); the last ``window - 1`` rows of a chunk are kept for the next, and the
scores equal a one-shot pass over the whole series (same windows, same averaging).
Writes ``scores.csv`` (timestamp, score, is_anomaly) and ``scores.png`` into ``predict.output``,
by default a new folder ``<run>/predict/<file name>/`` (``-1``, ``-2``, ... when taken), so no
earlier prediction is overwritten. A detector whose score splits over features
(``Detector.feature_contributions``) also gets ``contributions.csv`` (timestamp, then one column
per feature: its contribution to the raw score at each step, folded over windows as the scores
are) and, when a step is flagged, ``contributions.png``: the top features around the flagged
segment holding the highest score. Time series only: image runs are evaluated with ``-m test``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np
import pandas as pd
import torch

from data.timeseries.csv import feature_columns_of
from data.timeseries.validate import TimeOrder, empty_table_message, other_delimiter, time_order
from data.timeseries.windows import fold_window_scores
from metric.timeseries.segments import segments
from metric.timeseries.suite import predictions
from trainer.engine import restore
from trainer.run_folder import RunFolder
from util import distributed as dist
from util.errors import CheckpointError, ConfigError, DataError
from util.folders import missing_folders, remove_created
from util.logging import get_logger
from util.plots import plot_top_features
from util.registry import DATASETS, DETECTORS

TIMESTAMP_NAMES = ("timestamp", "time", "date", "datetime")
CONTRIBUTIONS = "contributions.csv"
DELIMITER_WORDS = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}


def predict(cfg: dict, ckpt: Path, folder: RunFolder, device: torch.device) -> dict:
    """Score ``cfg["predict"]["path"]`` with the run's detector; returns a summary dict."""
    options = cfg["predict"]
    _refuse_images(cfg, f"data.type={cfg['data']['type']} is an image dataset")
    if not options.get("path"):
        raise ConfigError("-m predict needs the series to score: add data.path=FILE (a .csv or .npy), e.g. data.path=new.csv.")
    if not dist.is_main():
        return {}
    path = Path(options["path"])
    if folder.config.is_file():
        _refuse_images(folder.read_config(), f"{folder} is an image run")
    ckpt, folder = _entity_run(ckpt, folder, options.get("entity"))
    calibration = folder.read_calibration()
    columns = calibration.get("columns") or {}  # runs evaluated before columns were recorded: by position
    entity = _entity(calibration, options.get("entity"), folder)
    threshold = np.asarray(calibration["threshold"], dtype=np.float64)
    if threshold.ndim:
        raise CheckpointError(f"{folder.calibration}: the run's threshold is per point (rule {calibration.get('threshold_rule')}); "
                              "predict needs a single threshold. Evaluate the run with a percentile rule.")
    window, n_features = calibration["window"], calibration["n_features"]
    detector = DETECTORS.build(cfg["model"], n_features=n_features, window=window).to(device)
    restore(detector, ckpt, cfg["model"], device)
    detector.eval()

    shift, scale = (np.asarray(calibration["scalers"][entity][k], dtype=np.float64) for k in ("shift", "scale"))
    cleaner = NanCleaner(cfg["data"].get("nan_policy", "error"), path, shift)
    pending: list[np.ndarray] = []  # timestamps of rows read but not yet written

    def scaled_values() -> Iterator[np.ndarray]:
        for stamps, values in read_chunks(path, int(options["chunk_size"]), n_features, columns, options.get("timestamp_column")):
            pending.append(stamps)
            yield ((cleaner(values) - shift) / scale).astype(np.float32)

    out_dir = Path(options["output"]) if options.get("output") else folder.prediction_folder(path.name)
    score_scaling = calibration.get("score_scaling", {}).get(entity, {"center": 0.0, "spread": 1.0})
    raw = stream_scores(scaled_values(), window_scorer(detector, device, calibration["batch_size"], calibration.get("scored_features")), window, calibration["test_stride"])
    center, spread = score_scaling["center"], score_scaling["spread"]
    calibrated = (np.column_stack([(s[:, 0] - center) / spread, s[:, 1:]]) for s in raw)  # the score in the units the threshold was set in
    names = columns.get("features") or [f"feature_{i}" for i in range(n_features)]
    scores = np.concatenate(write_scores(calibrated, pending, float(threshold), out_dir, names))
    plot_predictions(out_dir / "scores.png", scores, float(threshold), f"{path.name}: {cfg['model']['type']} scores")
    summary = {"path": str(path), "points": len(scores), "anomalies": int((scores >= threshold).sum()), "threshold": float(threshold), "output": str(out_dir)}
    get_logger().info("predict: %d points, %d flagged at threshold %.6g; wrote %s", summary["points"], summary["anomalies"], summary["threshold"], out_dir / "scores.csv")
    (out_dir / "contributions.png").unlink(missing_ok=True)  # an earlier prediction's, into the same predict.output
    if (out_dir / CONTRIBUTIONS).is_file() and summary["anomalies"]:
        top = plot_flagged_features(out_dir, scores, float(threshold), window, f"{path.name}: {cfg['model']['type']}")
        get_logger().info("predict: the features contributing most to the highest flagged segment: %s; wrote %s", ", ".join(top), out_dir / "contributions.png")
    return summary


def write_scores(stream: Iterator[np.ndarray], pending: list[np.ndarray], threshold: float, out_dir: Path, names: list[str]) -> list[np.ndarray]:
    """Write ``scores.csv`` as rows arrive (timestamps taken from ``pending``); returns the scores.

    Each array of ``stream`` is ``(rows, 1 + c)``: the score, then ``c`` (0 or ``len(names)``)
    feature contributions, which go to ``contributions.csv`` (timestamp, one column per name).
    Rows go to ``<file>.part``, renamed once complete: a failure part-way removes them (and the
    folders it created) and leaves earlier files untouched; a success without contributions
    removes an earlier ``contributions.csv``, which would no longer match ``scores.csv``.
    """
    parts: list[np.ndarray] = []
    created = missing_folders(out_dir)
    files = {"scores.csv": out_dir / "scores.csv.part", CONTRIBUTIONS: out_dir / f"{CONTRIBUTIONS}.part"}
    try:
        for rows in stream:
            scores, contributions = rows[:, 0], rows[:, 1:]
            if not parts:
                out_dir.mkdir(parents=True, exist_ok=True)
                files["scores.csv"].write_text("timestamp,score,is_anomaly\n")
                if contributions.shape[1]:
                    pd.DataFrame(columns=["timestamp", *names]).to_csv(files[CONTRIBUTIONS], index=False)
            stamps = np.concatenate(pending)
            pending[:] = [stamps[len(scores) :]]
            flags = predictions(scores, None, threshold).astype(int)
            frame = pd.DataFrame({"timestamp": stamps[: len(scores)], "score": scores, "is_anomaly": flags})
            frame.to_csv(files["scores.csv"], mode="a", header=False, index=False)
            if contributions.shape[1]:
                frame = pd.DataFrame(contributions, columns=names)
                frame.insert(0, "timestamp", stamps[: len(scores)])
                frame.to_csv(files[CONTRIBUTIONS], mode="a", header=False, index=False)
            parts.append(scores.astype(np.float32))
    except BaseException:
        for partial in files.values():
            partial.unlink(missing_ok=True)
        remove_created(created)
        raise
    for name, partial in files.items():
        if partial.is_file():
            partial.replace(out_dir / name)
        else:
            (out_dir / name).unlink(missing_ok=True)
    return parts


def plot_flagged_features(out_dir: Path, scores: np.ndarray, threshold: float, pad: int, title: str) -> list[str]:
    """``contributions.png`` around the flagged segment holding the highest score (``pad`` steps
    either side), its rows read back from ``contributions.csv``; returns the top features' names."""
    starts, ends = segments(scores >= threshold)
    peak = int(np.argmax([scores[s:e].max() for s, e in zip(starts, ends)]))
    first, last = max(int(starts[peak]) - pad, 0), min(int(ends[peak]) + pad, len(scores))
    frame = pd.read_csv(out_dir / CONTRIBUTIONS, skiprows=range(1, first + 1), nrows=last - first)
    names = [str(c) for c in frame.columns[1:]]
    top = plot_top_features(
        out_dir / "contributions.png", frame[names].to_numpy(), scores[first:last], threshold, (int(starts[peak]), int(ends[peak])),
        names, f"{title}: the features contributing most to the flagged steps {starts[peak]}-{ends[peak] - 1}", first_step=first,
    )
    return [names[i] for i in top]


def _refuse_images(cfg: dict, what: str) -> None:
    """Predict scores time series only: a ``ConfigError`` saying ``what`` for an image config."""
    if getattr(DATASETS.get(cfg["data"]["type"]), "family", "timeseries") == "image":
        raise ConfigError(f"-m predict scores time series only, and {what}. Evaluate image runs with -m test.")


def _entity_run(ckpt: Path, folder: RunFolder, entity: str | None) -> tuple[Path, RunFolder]:
    """(checkpoint, the run folder with its calibration); an ``entity_mode=separate`` run needs ``predict.entity``."""
    if ckpt.is_file() or not folder.has_entities():
        if not ckpt.is_file():
            raise CheckpointError(f"Checkpoint not found: {ckpt}. Pass checkpoint=RUN_FOLDER of a trained run (-m train first).")
        return ckpt, RunFolder(ckpt.parent)
    names = folder.trained_entities()
    if entity not in names:
        raise ConfigError(f"{folder} holds one model per entity; choose one with predict.entity=NAME (one of: {', '.join(names) or 'none trained yet'}).")
    return folder.entity(entity).best, folder.entity(entity)


def _entity(calibration: dict, entity: str | None, folder: RunFolder) -> str:
    names = list(calibration["scalers"])
    if entity is None and len(names) == 1:
        return names[0]
    if entity not in names:
        raise ConfigError(f"The run in {folder} was trained on entities {names}; say whose scaler applies with predict.entity=NAME.")
    return entity


def read_chunks(path: Path, chunk_size: int, n_features: int, columns: dict, timestamp_column: str | None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(timestamps, values ``(rows, n_features)`` float32) per chunk of a .csv or .npy file; a CSV
    is read as the run's ``columns`` describe its training files (see module docstring)."""
    if not path.is_file():
        raise DataError(f"data.path={path}: file not found. Give an existing .csv or .npy file.")
    if chunk_size < 1:
        raise ConfigError(f"predict.chunk_size must be a positive integer, got {chunk_size}.")
    if path.suffix == ".npy":
        yield from _npy_chunks(path, chunk_size, n_features)
    elif path.suffix in (".csv", ".txt"):
        yield from _csv_chunks(path, chunk_size, n_features, columns, timestamp_column)
    else:
        raise DataError(f"data.path={path}: unsupported file type '{path.suffix}'; give a .csv or .npy file.")


def _npy_chunks(path: Path, chunk_size: int, n_features: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise DataError(f"data.path={path} is not a readable .npy array ({exc}). Save it with numpy.save(path, array).") from exc
    array = array[:, None] if array.ndim == 1 else array
    if array.ndim != 2 or array.shape[1] != n_features or not np.issubdtype(array.dtype, np.number):
        raise DataError(f"data.path={path} holds an array of shape {array.shape} ({array.dtype}); the model expects numbers of shape (time, {n_features}).")
    for start in range(0, len(array), chunk_size):
        values = np.asarray(array[start : start + chunk_size], dtype=np.float32)
        yield np.arange(start, start + len(values)), values


def _csv_chunks(path: Path, chunk_size: int, n_features: int, columns: dict, timestamp_column: str | None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    delimiter = columns.get("delimiter") or ","
    separated = f"{DELIMITER_WORDS.get(delimiter, repr(delimiter))}-separated"
    features: list[str] | None = None
    row, order = 0, TimeOrder()
    last_stamp: np.ndarray | None = None
    try:
        for frame in pd.read_csv(path, sep=delimiter, chunksize=chunk_size):
            frame = frame.rename(columns=lambda c: str(c).strip())
            if features is None:
                if frame.empty:
                    raise DataError(empty_table_message(f"data.path={path}"))
                other = other_delimiter(str(frame.columns[0]), delimiter) if frame.shape[1] == 1 else None
                if other is not None:
                    raise DataError(
                        f"data.path={path} has a single column when read {separated}, as the run's training files were; it looks "
                        f"{DELIMITER_WORDS.get(other, repr(other))}-separated. Convert it to the run's delimiter {delimiter!r}."
                    )
                stamp_col = _timestamp_column(frame, timestamp_column, columns.get("timestamp"), path)
                features = _features(frame, path, n_features, columns, stamp_col, separated)
            bad = [c for c in features if not pd.api.types.is_numeric_dtype(frame[c])]
            if bad:
                raise DataError(f"data.path={path}: column '{bad[0]}' is not numeric (near row {row + 1}). Check the values, and that the file is {separated} like the run's training files.")
            if stamp_col:
                stamps = frame[stamp_col].to_numpy()
                order += time_order(stamps, row) if last_stamp is None else time_order(np.concatenate([last_stamp, stamps]), row - 1)
                last_stamp = stamps[-1:]
            else:
                stamps = np.arange(row, row + len(frame))
            yield stamps, frame[features].to_numpy(dtype=np.float32)
            row += len(frame)
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"data.path={path} is empty; give a CSV with a header row and one column per feature.") from exc
    except pd.errors.ParserError as exc:
        raise DataError(f"data.path={path} could not be parsed as CSV ({exc}). Use a {separated} file with one header row.") from exc
    warning = order.check(f"data.path={path}: the timestamps")  # for the whole file: its scores are kept only if this passes
    if warning:
        get_logger().warning(warning)


def _features(frame: pd.DataFrame, path: Path, n_features: int, columns: dict, stamp_col: str | None, separated: str) -> list[str]:
    """The feature columns of a new CSV: the run's feature names (any order), else all but the
    timestamp, label and index columns, by position."""
    label, names = columns.get("label"), columns.get("features")
    if names is None:
        features = feature_columns_of(frame, path, label, stamp_col, None)
        if len(features) != n_features:
            raise DataError(
                f"data.path={path} has {len(features)} value columns ({', '.join(map(str, features[:10]))}); the model expects "
                f"{n_features}. Keep one column per training feature (plus an optional timestamp column), {separated}."
            )
        return features
    missing = [n for n in names if n not in frame.columns]
    if missing:
        raise DataError(
            f"data.path={path} lacks the column(s) {missing[:10]} the run was trained on (its features: {', '.join(names[:12])}; "
            f"this file has: {', '.join(map(str, frame.columns[:12]))}). Columns are matched by name: give the file the training "
            f"header ({separated})."
        )
    extra = [str(c) for c in frame.columns if c not in (*names, stamp_col, label)]
    if extra:
        get_logger().warning("data.path=%s: column(s) %s are not features of the run; left out.", path, extra[:10])
    return list(names)


def _timestamp_column(frame: pd.DataFrame, wanted: str | None, recorded: str | None, path: Path) -> str | None:
    """``predict.timestamp_column``, else the run's timestamp column when present, else a column named like a timestamp."""
    if wanted is not None:
        if wanted not in frame.columns:
            raise ConfigError(f"predict.timestamp_column='{wanted}' is not a column of {path} (columns: {', '.join(map(str, frame.columns[:10]))}).")
        return wanted
    if recorded is not None and recorded in frame.columns:
        return recorded
    return next((c for c in frame.columns if str(c).lower() in TIMESTAMP_NAMES), None)


class NanCleaner:
    """Applies ``data.nan_policy`` chunk by chunk: ``error``, ``zero``, or ``ffill`` (the last finite
    value of the channel, carried across chunks; NaNs before any finite value take ``initial``,
    the training scaler's shift: the training mean under standard scaling)."""

    def __init__(self, policy: str, path: Path, initial: np.ndarray) -> None:
        self.policy, self.path, self.row = policy, path, 0
        self.last = np.asarray(initial, dtype=np.float32)

    def __call__(self, values: np.ndarray) -> np.ndarray:
        bad = ~np.isfinite(values)
        if bad.any():
            if self.policy == "error":
                raise DataError(
                    f"data.path={self.path} has NaN/inf values (first at row {self.row + int(np.argwhere(bad)[0][0])}). "
                    "Fix the file, or set data.nan_policy=ffill or data.nan_policy=zero."
                )
            values = np.where(bad, 0.0, values) if self.policy == "zero" else self._ffill(values, bad)
        self.row += len(values)
        self.last = values[-1].copy()
        return values.astype(np.float32)

    def _ffill(self, values: np.ndarray, bad: np.ndarray) -> np.ndarray:
        out = np.vstack([self.last[None], values])
        index = np.where(np.vstack([np.zeros((1, values.shape[1]), bool), bad]), 0, np.arange(len(out))[:, None])
        np.maximum.accumulate(index, axis=0, out=index)
        return np.take_along_axis(out, index, axis=0)[1:]


def window_scorer(detector: torch.nn.Module, device: torch.device, batch_size: int, features: list[int] | None) -> Callable[[np.ndarray], np.ndarray]:
    """``(n, window, features) -> (n, window, 1 + c)`` in batches of ``batch_size``: each step's score from
    ``features`` (the run's ``scored_features``; None: all), then its ``feature_contributions`` (``c = features``; ``c = 0`` for a detector without them)."""

    @torch.inference_mode()
    def score(batch: torch.Tensor) -> np.ndarray:
        inputs = {"x": batch.to(device)}
        contributions = detector.feature_contributions(inputs)
        parts = [detector.score(inputs, features=features)[..., None]] + ([] if contributions is None else [contributions])
        return torch.cat(parts, dim=-1).float().cpu().numpy()

    def score_windows(windows: np.ndarray) -> np.ndarray:
        return np.concatenate([score(torch.from_numpy(np.ascontiguousarray(windows[i : i + batch_size]))) for i in range(0, len(windows), batch_size)])

    return score_windows


def stream_scores(chunks: Iterable[np.ndarray], score_windows: Callable[[np.ndarray], np.ndarray], window: int, stride: int) -> Iterator[np.ndarray]:
    """Per-point scores of the concatenated ``chunks`` (each ``(rows, features)``), yielded in order
    as soon as no later window can cover them.

    Windows start at ``0, stride, 2 * stride, ...`` plus one window ending at the last point, and a
    point's score is the mean over the windows covering it: the windows of ``data.timeseries.windows``
    on the whole series, folded by its ``fold_window_scores``, so the result equals a one-shot pass.
    ``score_windows`` maps ``(n, window, features)`` to ``(n, window, *extra)``; each value of
    ``extra`` (a score and feature contributions, say) is folded alike: ``(rows, *extra)`` arrays.
    """
    buffer: np.ndarray | None = None
    offset = done = total = next_start = 0  # buffer[0] is point `offset`; points < `done` were yielded
    starts, scored = np.zeros(0, np.int64), None  # the scored windows still covering points >= done: starts, (n, window, *extra)

    def add(new: np.ndarray) -> None:
        nonlocal starts, scored
        scores = score_windows(np.stack([buffer[s - offset : s - offset + window] for s in new]))
        starts, scored = np.concatenate([starts, new]), scores if scored is None else np.concatenate([scored, scores])

    def fold(end: int) -> np.ndarray:
        """The scores of points ``done`` to ``end`` (exclusive): no window left to score covers them."""
        first, values = int(starts[0]), scored.reshape(len(scored), window, -1)
        columns = [fold_window_scores(values[..., c], starts - first, end - first)[done - first :] for c in range(values.shape[2])]
        return np.stack(columns, axis=1).reshape(end - done, *scored.shape[2:])

    for chunk in chunks:
        buffer = chunk if buffer is None else np.concatenate([buffer, chunk])
        total += len(chunk)
        new = np.arange(next_start, total - window + 1, stride)
        if len(new):
            add(new)
            next_start = int(new[-1]) + stride
        final = min(next_start, total - window)  # later windows start at or after this point
        if final > done:
            yield fold(final)
            done = final
            covering = starts + window > done
            starts, scored = starts[covering], scored[covering]
        keep = min(next_start, max(total - window, 0))
        buffer, offset = buffer[keep - offset :], keep
    if total < window:
        raise DataError(f"The series has {total} steps, fewer than the model's window ({window}); give a longer series.")
    if (total - window) % stride:
        add(np.array([total - window]))
    yield fold(total)


def plot_predictions(path: Path, scores: np.ndarray, threshold: float, title: str, max_points: int = 20_000) -> None:
    """Scores (max-pooled to at most ``max_points``), the threshold, and flagged regions."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    step = max(1, int(np.ceil(len(scores) / max_points)))
    pooled = np.pad(scores, (0, -len(scores) % step), constant_values=-np.inf).reshape(-1, step).max(1)
    x = np.arange(len(pooled)) * step
    fig, ax = plt.subplots(figsize=(12, 3.5))
    ax.plot(x, pooled, lw=0.6, color="black", label="score")
    ax.axhline(threshold, color="tab:orange", ls="--", lw=1, label="threshold")
    ax.fill_between(x, 0, 1, where=pooled >= threshold, color="tab:red", alpha=0.2, transform=ax.get_xaxis_transform(), label="flagged")
    ax.set_xlabel("step")
    ax.set_ylabel("anomaly score")
    ax.set_title(title)
    ax.legend(loc="upper right", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
