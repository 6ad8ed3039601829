"""The ``cpp`` scan's build on first use, and the fallback to ``torch_loop`` when it cannot be built."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from model.ops import compiled
from model.ops.selective_scan import resolve_backend, selective_scan
from util.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]
CPU = torch.device("cpu")

# Resolves `auto` and runs the scan twice (forwards and backwards), as a model's layers would.
SCRIPT = """
import torch
from model.ops.selective_scan import resolve_backend, selective_scan
print(resolve_backend("auto", torch.device("cpu")))
u = torch.randn(1, 4, 5, requires_grad=True)
for _ in range(2):
    selective_scan(u, u.abs(), -torch.ones(4, 2), torch.randn(1, 2, 5), torch.randn(1, 2, 5), delta_softplus=True).sum().backward()
print("ok")
"""


@pytest.fixture
def kernel_disabled(monkeypatch):
    """``SSMAD_NO_CPP=1`` for one test; the cached answer is reset before and after."""
    monkeypatch.setenv(compiled.DISABLE_VARIABLE, "1")
    compiled.scan_kernels.cache_clear()
    yield
    monkeypatch.delenv(compiled.DISABLE_VARIABLE)
    compiled.scan_kernels.cache_clear()


def test_a_failed_build_falls_back_to_torch_loop_with_one_log_line(tmp_path):
    """A real build that fails: no compiler (CXX points nowhere) and an empty extension cache."""
    env = dict(os.environ, CXX=str(tmp_path / "no-compiler"), TORCH_EXTENSIONS_DIR=str(tmp_path / "cache"))
    env.pop(compiled.DISABLE_VARIABLE, None)
    result = subprocess.run([sys.executable, "-c", SCRIPT], cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["torch_loop", "ok"]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "could not be built" in lines[0] and "no-compiler: not found" in lines[0] and "torch_loop" in lines[0]


def test_disabled_kernel_means_torch_loop_for_auto_and_a_config_error_for_cpp(kernel_disabled):
    assert compiled.scan_kernels() is None
    assert resolve_backend("auto", CPU) == "torch_loop"
    with pytest.raises(ConfigError, match="scan_backend='auto'"):
        selective_scan(torch.randn(1, 4, 5), torch.rand(1, 4, 5), -torch.ones(4, 2), torch.randn(1, 2, 5), torch.randn(1, 2, 5), backend="cpp")


def test_cpp_backend_needs_cpu_tensors():
    with pytest.raises(ConfigError, match="CPU tensors"):
        resolve_backend("cpp", torch.device("cuda"))


def test_failure_reason_is_the_tools_own_message():
    """ninja's output is a command echo, FAILED: and the compiler's message; the log keeps the message."""
    error = RuntimeError(
        "Error building extension 'ssmad_scan_cpu_x': [1/2] c++ -MMD -DTORCH_EXTENSION_NAME=x -c a.cpp -o a.o\n"
        "FAILED: a.o\nc++ -MMD -DTORCH_EXTENSION_NAME=x -c a.cpp -o a.o\n"
        "a.cpp:3:1: error: 'foo' does not name a type\nninja: build stopped: subcommand failed.\n"
    )
    assert compiled.failure_reason(error) == "Error building extension 'ssmad_scan_cpu_x': a.cpp:3:1: error: 'foo' does not name a type"
    assert compiled.failure_reason(RuntimeError("Ninja is required to load C++ extensions")) == "Ninja is required to load C++ extensions"
