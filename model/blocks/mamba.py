"""The Mamba block (selective state-space model) and the registered ``mamba`` mixer."""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from model.blocks.norm import RMSNorm
from model.ops.selective_scan import BACKENDS, causal_conv1d, selective_scan
from util.errors import ConfigError
from util.registry import MIXERS


class SelectiveSSM(nn.Module):
    """One scan direction of a Mamba block: causal depthwise conv + SiLU, then the selective SSM.

    Input ``x`` and gate ``z``: ``(batch, d_inner, L)``; output ``(batch, d_inner, L)``.
    Parameters follow mamba-ssm: ``conv1d``, ``x_proj`` (-> dt, B, C), ``dt_proj`` (bias initialised
    to softplus^-1 of dt ~ log-uniform[dt_min, dt_max]), ``A_log`` (S4D-real: A = -[1..d_state]), ``D``.
    """

    def __init__(
        self,
        d_inner: int,
        d_state: int,
        d_conv: int,
        dt_rank: int,
        dt_min: float,
        dt_max: float,
        dt_init_floor: float,
        conv_bias: bool,
        scan_backend: str,
    ) -> None:
        super().__init__()
        self.d_state, self.dt_rank, self.scan_backend = d_state, dt_rank, scan_backend
        self.conv1d = nn.Conv1d(d_inner, d_inner, d_conv, groups=d_inner, padding=d_conv - 1, bias=conv_bias)
        self.x_proj = nn.Linear(d_inner, dt_rank + 2 * d_state, bias=False)
        self.dt_proj = nn.Linear(dt_rank, d_inner, bias=True)
        std = dt_rank**-0.5
        nn.init.uniform_(self.dt_proj.weight, -std, std)
        dt = torch.exp(torch.rand(d_inner) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min))
        dt = dt.clamp(min=dt_init_floor)
        with torch.no_grad():
            self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))  # softplus(bias) == dt
        A = torch.arange(1, d_state + 1, dtype=torch.float32).repeat(d_inner, 1)
        self.A_log = nn.Parameter(torch.log(A))
        self.D = nn.Parameter(torch.ones(d_inner))

    def forward(self, x: Tensor, z: Tensor) -> Tensor:
        x = causal_conv1d(x, self.conv1d.weight.squeeze(1), self.conv1d.bias, activation="silu")
        dt, B, C = self.x_proj(x.transpose(1, 2)).split([self.dt_rank, self.d_state, self.d_state], dim=-1)
        delta = (dt @ self.dt_proj.weight.t()).transpose(1, 2)  # (batch, d_inner, L); bias added in the scan
        return selective_scan(
            x,
            delta,
            -torch.exp(self.A_log.float()),
            B.transpose(1, 2).contiguous(),
            C.transpose(1, 2).contiguous(),
            self.D.float(),
            z=z,
            delta_bias=self.dt_proj.bias.float(),
            delta_softplus=True,
            backend=self.scan_backend,
        )


class Mamba(nn.Module):
    """Mamba block: ``(batch, L, d_model)`` -> ``(batch, L, d_model)``.

    ``in_proj`` splits into the SSM input x and the gate z; x goes through ``SelectiveSSM`` and the
    result, gated by ``silu(z)``, through ``out_proj``. ``bidirectional=True`` adds a second
    ``SelectiveSSM`` with its own parameters that runs on the time-reversed sequence; the two
    directions are summed before ``out_proj`` (in/out projections are shared). On CUDA the causal
    conv runs causal-conv1d's kernel when installed and ``d_conv`` is 2-4, else the PyTorch conv.
    """

    def __init__(
        self,
        d_model: int,
        d_state: int = 16,
        d_conv: int = 4,
        expand: int = 2,
        dt_rank: int | str = "auto",
        dt_min: float = 0.001,
        dt_max: float = 0.1,
        dt_init_floor: float = 1e-4,
        bias: bool = False,
        conv_bias: bool = True,
        bidirectional: bool = False,
        scan_backend: str = "auto",
    ) -> None:
        super().__init__()
        if scan_backend not in BACKENDS:
            raise ConfigError(f"Unknown scan_backend '{scan_backend}'. Choose one of: {', '.join(BACKENDS)}.")
        d_inner = expand * d_model
        rank = math.ceil(d_model / 16) if dt_rank == "auto" else int(dt_rank)
        self.d_model, self.d_inner = d_model, d_inner
        self.in_proj = nn.Linear(d_model, 2 * d_inner, bias=bias)
        ssm_args = (d_inner, d_state, d_conv, rank, dt_min, dt_max, dt_init_floor, conv_bias, scan_backend)
        self.ssm = SelectiveSSM(*ssm_args)
        self.ssm_reverse = SelectiveSSM(*ssm_args) if bidirectional else None
        self.out_proj = nn.Linear(d_inner, d_model, bias=bias)

    def forward(self, hidden: Tensor) -> Tensor:
        x, z = self.in_proj(hidden).transpose(1, 2).chunk(2, dim=1)  # each (batch, d_inner, L)
        y = self.ssm(x, z)
        if self.ssm_reverse is not None:
            y = y + self.ssm_reverse(x.flip(-1), z.flip(-1)).flip(-1)
        return self.out_proj(y.transpose(1, 2))


@MIXERS.register("mamba")
class MambaMixer(nn.Module):
    """Registered mixer ``mamba``: ``RMSNorm(x + Dropout(Mamba(x)))``, ``(batch, L, d_model)`` -> same.

    Post-norm (residual, then RMSNorm), as KambaAD describes its Mamba block. Defaults are
    KambaAD's (d_state 64, d_conv 4, expand 2).
    """

    def __init__(
        self,
        d_model: int,
        d_state: int = 64,
        d_conv: int = 4,
        expand: int = 2,
        dropout: float = 0.0,
        bidirectional: bool = False,
        dt_rank: int | str = "auto",
        scan_backend: str = "auto",
    ) -> None:
        super().__init__()
        self.mamba = Mamba(
            d_model, d_state, d_conv, expand, dt_rank=dt_rank, bidirectional=bidirectional, scan_backend=scan_backend
        )
        self.dropout = nn.Dropout(dropout)
        self.norm = RMSNorm(d_model)

    def forward(self, x: Tensor) -> Tensor:
        return self.norm(x + self.dropout(self.mamba(x)))


__all__ = ["Mamba", "MambaMixer", "SelectiveSSM"]
