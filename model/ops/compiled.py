"""The C++ CPU kernels (``model/ops/csrc``), compiled on first use and cached.

``scan_kernels()`` builds ``csrc/selective_scan_cpu.cpp`` with ``torch.utils.cpp_extension.load``
(needs a C++ compiler and ``ninja``, from requirements.txt) into torch's extension cache
(``$TORCH_EXTENSIONS_DIR``, default ``~/.cache/torch_extensions``): about 15 s once, then well
under a second per process; it rebuilds when the source, torch or the machine changes. When the
build is impossible or fails, it logs one line saying why and returns None, and the callers use
the pure-PyTorch scan. ``SSMAD_NO_CPP=1`` skips the build. ``python -m model.ops.compiled``
builds with the compiler's output shown.
"""
from __future__ import annotations

import functools
import hashlib
import logging
import os
import platform
import shutil
import sys
import time
import warnings
from pathlib import Path

import torch

from util.logging import get_logger

SOURCE = Path(__file__).with_name("csrc") / "selective_scan_cpu.cpp"
DISABLE_VARIABLE = "SSMAD_NO_CPP"
# -march=native: the library is built for (and cached per) the machine that runs it.
CFLAGS = ["-O3", "-march=native", "-fopenmp"]


def _build_tag() -> str:
    """Short hash of torch's version and the CPU's model and flags: a cache shared between machines
    or kept across torch upgrades never loads a library built for another."""
    try:
        info = Path("/proc/cpuinfo").read_text()
        lines = [line for line in info.splitlines() if line.startswith(("model name", "flags"))][:2]
    except OSError:
        lines = []
    return hashlib.sha1("\n".join([torch.__version__, platform.machine(), *lines]).encode()).hexdigest()[:10]


@functools.lru_cache(maxsize=None)
def scan_kernels() -> object | None:
    """``torch.ops.ssmad_scan`` (``forward``, ``backward``), or None when it cannot be built."""
    if os.environ.get(DISABLE_VARIABLE):
        get_logger().info("selective scan: %s is set, using the PyTorch scan (torch_loop) on CPU.", DISABLE_VARIABLE)
        return None
    try:
        _build(verbose=False)
    except Exception as exc:  # noqa: BLE001  no compiler, no ninja, a build error: all mean "use the fallback"
        get_logger().warning(
            "selective scan: the C++ CPU kernel could not be built (%s); using torch_loop, several times slower. "
            "Install a C++ compiler and ninja (pip install -r requirements.txt); `python -m model.ops.compiled` "
            "shows the build.", failure_reason(exc),
        )
        return None
    return torch.ops.ssmad_scan


@torch.compiler.assume_constant_result
def scan_kernels_built() -> bool:
    """Whether ``scan_kernels()`` is available; ``torch.compile`` takes the answer as a constant
    instead of tracing into the build."""
    return scan_kernels() is not None


def failure_reason(exc: BaseException) -> str:
    """One line from a build error: its first line, and the first line of the tool's own message
    (ninja's echo of the build commands left out)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    first = lines[0].split(": [")[0]
    details = [
        line for line in lines[1:]
        if not line.startswith(("[", "FAILED:", "ninja:")) and "TORCH_EXTENSION_NAME" not in line
    ]
    return f"{first}: {details[0]}" if details else first


def _build(verbose: bool) -> None:
    """Compile (or load from the cache) the extension; registers ``torch.ops.ssmad_scan``.

    Quiet unless ``verbose``: torch's own warnings (CUDA_HOME, compiler checks) are not about a CPU
    build that works, and a failing one is reported by the caller in one line.
    """
    _put_ninja_on_path()
    cpp_logger = logging.getLogger("torch.utils.cpp_extension")
    level = cpp_logger.level
    if not verbose:
        cpp_logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            if not verbose:
                warnings.simplefilter("ignore")
            from torch.utils.cpp_extension import load

            load(
                name=f"ssmad_scan_cpu_{_build_tag()}",
                sources=[str(SOURCE)],
                extra_cflags=CFLAGS,
                extra_ldflags=["-fopenmp"],
                is_python_module=False,
                verbose=verbose,
            )
    finally:
        cpp_logger.setLevel(level)


def _put_ninja_on_path() -> None:
    """torch runs ``ninja`` from PATH; the pip package's binary is not there when Python runs from
    a virtual environment that was not activated."""
    if shutil.which("ninja") is None:
        try:
            import ninja
        except ImportError:
            return  # torch then reports that ninja is missing
        os.environ["PATH"] = ninja.BIN_DIR + os.pathsep + os.environ.get("PATH", "")


if __name__ == "__main__":
    start = time.perf_counter()
    _build(verbose=True)
    print(f"built/loaded torch.ops.ssmad_scan in {time.perf_counter() - start:.1f} s", file=sys.stderr)
