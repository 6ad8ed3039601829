"""Shared helpers of the benchmark scripts: machine description, isolated measurements with
per-measurement peak memory, timing, markdown tables and power-law fits.

Isolation: on CPU each measurement runs in a forked child of a parent that has imported the
modules but run no tensor operation (so no OpenMP pool is forked); the child's peak resident
memory (``VmHWM``) starts at its own resident size, so the peak above that is the measurement's
alone, and the import cost is paid once. On CUDA the measurement runs in this process and the
peak comes from the caching allocator's statistics (forking after CUDA initialisation is unsafe).
"""
from __future__ import annotations

import math
import multiprocessing
import platform
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), or the platform's processor string."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def machine_line(device: torch.device) -> str:
    """One markdown line naming the machine: CPU, threads, torch version, GPU when used."""
    gpu = f", GPU {torch.cuda.get_device_name(device)}" if device.type == "cuda" else ""
    return (
        f"Machine: {cpu_model()}, {multiprocessing.cpu_count()} cores, torch threads {torch.get_num_threads()}, "
        f"torch {torch.__version__}, Python {platform.python_version()}{gpu}, device {device.type}."
    )


def select_device(name: str) -> torch.device:
    """``auto`` -> CUDA when available, else CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _status_mb(key: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"{key} not in /proc/self/status")


def peak_rss_mb() -> float:
    """This process's peak resident memory in MB (``VmHWM``; ``ru_maxrss`` where /proc is missing)."""
    try:
        return _status_mb("VmHWM:")
    except (OSError, RuntimeError):
        import resource

        scale = 1 if sys.platform == "darwin" else 1024  # bytes on macOS, KB on Linux
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20


def rss_mb() -> float:
    """This process's current resident memory in MB."""
    return _status_mb("VmRSS:")


class PeakMemory:
    """Peak memory of a measurement above its start: ``start()``, work, then ``peak_mb()``.

    CPU: resident memory (``VmHWM`` minus the resident size at ``start``; the high-water mark is
    reset through ``/proc/self/clear_refs`` where permitted). CUDA: allocated tensor memory.
    """

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.base = 0.0

    def start(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self.base = torch.cuda.memory_allocated(self.device) / 2**20
            return
        try:
            Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current VmRSS
        except OSError:
            pass
        self.base = rss_mb()

    def peak_mb(self) -> float:
        if self.device.type == "cuda":
            return torch.cuda.max_memory_allocated(self.device) / 2**20 - self.base
        return peak_rss_mb() - self.base


def return_freed_memory() -> None:
    """Make glibc hand every freed block of 64 KB or more back to the OS (fixed mmap threshold).

    Then resident memory follows the live tensors, so a measurement after a warm-up pass is not
    hidden by memory the warm-up freed and the allocator kept. Costs an mmap per large
    allocation: call it in a memory-measurement child, not where speed is timed. No-op off glibc.
    """
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(-3, 64 * 1024)  # M_MMAP_THRESHOLD
    except (OSError, AttributeError):
        pass


def _child(conn: Any, fn: Callable[..., Any], args: tuple, kwargs: dict) -> None:
    try:
        conn.send(("ok", fn(*args, **kwargs)))
    except BaseException:  # noqa: BLE001  report any failure to the parent instead of dying silently
        conn.send(("error", traceback.format_exc()))
    finally:
        conn.close()


def isolated(fn: Callable[..., Any], *args: Any, device: torch.device | None = None, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)`` in a forked child on CPU (in this process on CUDA); its return value.

    The parent must not have run tensor operations (see the module docstring). A failure in the
    child is raised here as ``RuntimeError`` with the child's traceback.
    """
    if (device is not None and device.type == "cuda") or "fork" not in multiprocessing.get_all_start_methods():
        return fn(*args, **kwargs)
    ctx = multiprocessing.get_context("fork")
    receiver, sender = ctx.Pipe(duplex=False)
    process = ctx.Process(target=_child, args=(sender, fn, args, kwargs))
    process.start()
    sender.close()
    try:
        status, value = receiver.recv()
    except EOFError:
        status, value = "error", "the measurement process died without a result (out of memory?)"
    process.join()
    if status != "ok":
        raise RuntimeError(f"measurement {getattr(fn, '__name__', fn)}{args} failed:\n{value}")
    return value


def synchronize(device: torch.device) -> None:
    """Wait for queued CUDA work (no-op on CPU), so wall-clock timings are complete."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed_loop(step: Callable[[], Any], device: torch.device, min_steps: int, min_seconds: float, max_steps: int) -> tuple[int, float]:
    """Run ``step`` at least ``min_steps`` times and at least ``min_seconds`` (at most ``max_steps``
    times); returns (steps run, seconds). Call it after a warm-up step."""
    synchronize(device)
    start = time.perf_counter()
    steps = 0
    while steps < max_steps and (steps < min_steps or time.perf_counter() - start < min_seconds):
        step()
        steps += 1
    synchronize(device)
    return steps, time.perf_counter() - start


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A markdown table; cells are written with ``str``."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def growth_exponent(sizes: Sequence[float], values: Sequence[float]) -> float:
    """Least-squares slope of log(value) against log(size): ``value ~ size ** exponent``."""
    x, y = np.log(np.asarray(sizes, float)), np.log(np.maximum(np.asarray(values, float), 1e-12))
    return float(np.polyfit(x, y, 1)[0]) if len(x) > 1 else math.nan


def add_common_arguments(parser: Any) -> None:
    """``--quick``, ``--threads`` and ``--device``, shared by every benchmark script."""
    parser.add_argument("--quick", action="store_true", help="a small setting that runs in seconds (smoke test)")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: PyTorch's)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto (default cpu)")


def apply_threads(threads: int | None) -> None:
    """``torch.set_num_threads(threads)`` when given."""
    if threads:
        torch.set_num_threads(threads)


def smap_root() -> Path | None:
    """The shared SMAP/MSL folder when present (``../shared/data/SMAP_MSL``), else None."""
    root = SHARED_DATA / "SMAP_MSL"
    return root if (root / "labeled_anomalies.csv").is_file() else None
