"""The C++ CPU kernels (``model/ops/csrc``), compiled on first use and cached.

``scan_kernels()`` builds ``csrc/selective_scan_cpu.cpp`` with ``torch.utils.cpp_extension.load``
(needs a C++ compiler and ``ninja``, from requirements.txt) into torch's extension cache
(``$TORCH_EXTENSIONS_DIR``, default ``~/.cache/torch_extensions``); later processes load the cached
library in well under a second and rebuild only when the source or the machine changes. When the
build is impossible or fails, it logs one line saying why and returns None, and the callers use
the pure-PyTorch scan. ``SSMAD_NO_CPP=1`` skips the build.
"""
from __future__ import annotations

import functools
import hashlib
import logging
import os
import platform
from pathlib import Path

import torch

from util.logging import get_logger

SOURCE = Path(__file__).with_name("csrc") / "selective_scan_cpu.cpp"
DISABLE_VARIABLE = "SSMAD_NO_CPP"
# -march=native: the library is built for (and cached per) the machine that runs it.
CFLAGS = ["-O3", "-march=native", "-fopenmp"]


def _machine_tag() -> str:
    """Short hash of the CPU model and flags, so a cache shared between machines never loads a
    library built for another CPU's instruction set."""
    try:
        info = Path("/proc/cpuinfo").read_text()
        lines = [line for line in info.splitlines() if line.startswith(("model name", "flags"))][:2]
    except OSError:
        lines = []
    return hashlib.sha1("\n".join([platform.machine(), *lines]).encode()).hexdigest()[:10]


@functools.lru_cache(maxsize=None)
def scan_kernels() -> object | None:
    """``torch.ops.ssmad_scan`` (``forward``, ``backward``), or None when it cannot be built."""
    if os.environ.get(DISABLE_VARIABLE):
        get_logger().info("selective scan: %s is set, using the PyTorch scan (torch_loop) on CPU.", DISABLE_VARIABLE)
        return None
    try:
        _build()
        return torch.ops.ssmad_scan
    except Exception as exc:  # no compiler, no ninja, a build error: all mean "use the fallback"
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        get_logger().warning(
            "selective scan: the C++ CPU kernel could not be built (%s); using torch_loop, 3-10x slower. "
            "Install a C++ compiler and `pip install ninja` for the fast scan.", reason,
        )
        return None


def _build() -> None:
    """Compile (or load from the cache) the extension; registers ``torch.ops.ssmad_scan``."""
    cpp_logger = logging.getLogger("torch.utils.cpp_extension")
    level = cpp_logger.level
    cpp_logger.setLevel(logging.ERROR)  # its import warns about CUDA_HOME, irrelevant to a CPU build
    try:
        from torch.utils.cpp_extension import load
    finally:
        cpp_logger.setLevel(level)
    load(
        name=f"ssmad_scan_cpu_{_machine_tag()}",
        sources=[str(SOURCE)],
        extra_cflags=CFLAGS,
        extra_ldflags=["-fopenmp"],
        is_python_module=False,
        verbose=False,
    )
