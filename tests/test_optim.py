"""Optimiser kernels: fused where PyTorch has it, else foreach, else the loop; the user's choice
wins; fused and the loop agree to float32 rounding."""
import pytest
import torch
from torch import nn

import trainer.optim as optim
from util.errors import ConfigError
from util.registry import OPTIMIZERS


def params() -> list[nn.Parameter]:
    return list(nn.Linear(4, 3).parameters())


def kernel(cfg: dict) -> str:
    return optim.kernel_name(OPTIMIZERS.build(cfg, params=params()))


@pytest.mark.skipif(not optim.fused_supported(params()), reason="this PyTorch has no fused CPU optimisers (< 2.4)")
@pytest.mark.parametrize("name", ["adam", "adamw", "sgd"])
def test_fused_is_chosen_on_cpu(name):
    assert kernel(dict(type=name)) == "fused"


def test_without_fused_kernels_foreach_then_the_loop(monkeypatch):
    monkeypatch.setattr(optim, "fused_supported", lambda tensors: False)
    monkeypatch.setattr(optim, "foreach_supported", lambda tensors: True)
    assert kernel(dict(type="adam")) == "foreach"
    monkeypatch.setattr(optim, "foreach_supported", lambda tensors: False)
    assert kernel(dict(type="adam")) == "loop"


def test_an_explicit_choice_wins(monkeypatch):
    assert kernel(dict(type="adam", fused=False)) == "loop"
    assert kernel(dict(type="adamw", foreach=True)) == "foreach"
    monkeypatch.setattr(optim, "fused_supported", lambda tensors: False)
    with pytest.raises(ConfigError, match="fused=none"):
        OPTIMIZERS.build(dict(type="adam", fused=True), params=params())


def train(cfg: dict, steps: int = 5) -> list[torch.Tensor]:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(16, 32), nn.Tanh(), nn.Linear(32, 4))
    optimizer = OPTIMIZERS.build(cfg, params=list(model.parameters()))
    x, y = torch.randn(64, 16), torch.randn(64, 4)
    for _ in range(steps):
        optimizer.zero_grad()
        nn.functional.mse_loss(model(x), y).backward()
        optimizer.step()
    return [p.detach() for p in model.parameters()]


@pytest.mark.skipif(not optim.fused_supported(params()), reason="this PyTorch has no fused CPU optimisers (< 2.4)")
@pytest.mark.parametrize("cfg", [dict(type="adam", weight_decay=1e-4), dict(type="adamw"), dict(type="sgd", weight_decay=1e-4)])
def test_fused_and_loop_agree_to_float32_rounding(cfg):
    fused, loop = train(cfg | dict(fused=True)), train(cfg | dict(fused=False, foreach=False))
    for a, b in zip(fused, loop):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-6)


def test_the_step_benchmark_measures_each_part_with_both_kernels():
    from benchmarks.optimizer_step import CONFIGS, KERNELS, measure

    config, channels = CONFIGS["KambaAD SMAP"]
    for kernel in KERNELS:
        result = measure(config, channels, kernel, steps=1, threads=None, device_name="cpu", quick=True)
        assert result["window"] == 20 and len(result["parts"]) == 3 and all(seconds > 0 for seconds in result["parts"])
