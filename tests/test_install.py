"""The optional CUDA kernels install as documented: bounded versions, torch first, no build isolation."""
from __future__ import annotations

import re
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

REPO = Path(__file__).resolve().parents[1]


def cuda_requirements() -> dict[str, Requirement]:
    lines = (line.split("#")[0].strip() for line in (REPO / "requirements-cuda.txt").read_text().splitlines())
    return {r.name: r for r in map(Requirement, filter(None, lines))}


def readme_gpu_commands() -> list[str]:
    """The shell lines of the README's GPU paragraph (its first code block)."""
    text = (REPO / "README.md").read_text()
    paragraph = text[text.index("**GPU.**"):]
    block = re.search(r"```bash\n(.*?)```", paragraph, re.S)
    assert block, "the README's GPU paragraph has no bash block"
    return [line.strip() for line in block.group(1).splitlines() if line.strip()]


def test_every_cuda_requirement_has_an_upper_bound() -> None:
    requirements = cuda_requirements()
    assert set(requirements) == {"mamba-ssm", "causal-conv1d"}
    for name, requirement in requirements.items():
        assert any(s.operator in ("<", "<=", "==", "~=") for s in requirement.specifier), f"{name} has no upper bound"


def test_bounds_keep_the_releases_ssmad_was_checked_against() -> None:
    requirements = cuda_requirements()
    mamba, conv = requirements["mamba-ssm"].specifier, requirements["causal-conv1d"].specifier
    assert Version("2.3.1") in mamba and Version("1.6.1") in conv and Version("1.7.0") in conv
    assert Version("2.3.2.post1") not in mamba  # adds tilelang / quack-kernels; later upstream makes the scan opt-in
    assert Version("1.5.2") not in conv  # its setup.py predates CUDA 13


def test_readme_installs_torch_before_the_kernels_without_build_isolation() -> None:
    commands = readme_gpu_commands()
    kernels = [i for i, c in enumerate(commands) if "requirements-cuda.txt" in c]
    torch_first = [i for i, c in enumerate(commands) if re.search(r"-r requirements\.txt\b", c)]
    assert len(kernels) == 1 and torch_first and torch_first[0] < kernels[0], commands
    assert "pip install --no-build-isolation -r requirements-cuda.txt" in commands[kernels[0]]
    assert "wheel" in commands[torch_first[0]]  # the kernels' setup.py imports it; without isolation it must be there
    header = (REPO / "requirements-cuda.txt").read_text()
    assert "pip install --no-build-isolation -r requirements-cuda.txt" in header and "pip install -r requirements.txt wheel" in header
