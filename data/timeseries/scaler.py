"""Per-channel scaling statistics that cannot explode on near-constant channels.

A channel's ``(shift, scale)`` come from the training part only, in float64 (float32 turns a
channel that is exactly 0.999 throughout into a "scale" of 1e-5 rounding noise). The scale is
the standard deviation (``standard``) or the range (``minmax``), but never below the **floor**

    floor_c = scaler_floor * max(R_c, L_c / 10)

where ``R_c`` is the range (max - min) and ``L_c`` the magnitude (max |x|) of channel c over ALL
entities' training parts, and ``scaler_floor = 0.01``: 1% of the channel's range, or 0.1% of its
magnitude, whichever is larger. Why:

* Telemetry that sits at one value in training and moves in test (SMAP/MSL channels pinned at
  +-1 in training, a rare command one-hot) has a training std of 1e-5..1e-2: any test change
  then lands thousands of "standard deviations" away, outranks every real anomaly and feeds the
  networks inputs far outside anything they were trained on.
* The floor is relative to what the channel does in the data set's training data, so it is free
  of units. Taking the range over all entities lets a channel that barely moves in one entity
  borrow the scale the same channel has in the others; the magnitude term covers a channel that
  barely moves anywhere (0.1%: about the third significant digit of its values).
* It leaves well-behaved channels alone: the range of n >= 1000 roughly normal values is 6-8
  standard deviations, so 1% of it is far below the std, and a channel would need a mean
  hundreds of times its std for 0.1% of its magnitude to matter. On SMAP/MSL telemetry it
  separates the near-constant channels (training std below 0.01) from the rest (above 0.04).
* Bound: ``|z| <= |x - shift| / floor_c``; for a value inside the channel's training range
  over all entities that is at most ``1 / scaler_floor`` (100), and it grows by 100 per range
  the value lies beyond.

A channel that is 0 throughout all training data is only centred (scale 1). ``scope="joint"``
fits one scaler over all entities' training data (the convention of the concatenated SMAP/MSL
form); ``"entity"`` fits one per entity; ``"auto"`` is joint for one model over all entities and
entity for one model each (``entity_mode=separate``: the runner resolves it).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from util.errors import ConfigError

SCALERS = ("standard", "minmax", "none")
SCOPES = ("auto", "entity", "joint")
DEFAULT_FLOOR = 0.01
MAX_NAMED = 8  # channels named in the warning; the rest are counted


@dataclass
class ChannelScaling:
    """Statistics of one entity: ``(x - shift) / scale`` per channel, each ``(features,)`` float64."""

    shift: np.ndarray
    scale: np.ndarray
    floored: np.ndarray  # bool: the floor raised this channel's scale

    def apply(self, values: np.ndarray) -> np.ndarray:
        """``values`` ``(time, features)`` scaled, as float32."""
        return ((np.asarray(values, dtype=np.float64) - self.shift) / self.scale).astype(np.float32)


def check_scaler_options(kind: str, scope: str, floor: float) -> None:
    """Raise ``ConfigError`` for an unknown scaler, scope or a floor outside ``[0, 1)``."""
    if kind not in SCALERS:
        raise ConfigError(f"data.scaler={kind!r} is unknown; use one of {', '.join(SCALERS)} (quote it on the command line: \"data.scaler='none'\").")
    if scope not in SCOPES:
        raise ConfigError(f"data.scaler_scope={scope!r} is unknown; use auto, entity (one scaler per entity) or joint (one over all entities).")
    if isinstance(floor, bool) or not isinstance(floor, (int, float)) or not 0.0 <= floor < 1.0:
        raise ConfigError(f"data.scaler_floor={floor!r} must be a number in [0, 1): the smallest scale as a fraction of each channel's training range.")


def _spread(values: np.ndarray, kind: str) -> tuple[np.ndarray, np.ndarray]:
    if kind == "standard":
        return values.mean(axis=0), values.std(axis=0)
    return values.min(axis=0), values.max(axis=0) - values.min(axis=0)


def fit_scalers(fit_parts: list[np.ndarray], kind: str = "standard", scope: str = "entity", floor: float = DEFAULT_FLOOR) -> list[ChannelScaling]:
    """One ``ChannelScaling`` per entity from its training part ``(time, features)`` (see module docstring)."""
    check_scaler_options(kind, scope, floor)
    parts = [np.asarray(p, dtype=np.float64) for p in fit_parts]
    n_features = parts[0].shape[1]
    if kind == "none":
        identity = ChannelScaling(np.zeros(n_features), np.ones(n_features), np.zeros(n_features, bool))
        return [identity for _ in parts]
    lows = np.min([p.min(axis=0) for p in parts], axis=0)
    highs = np.max([p.max(axis=0) for p in parts], axis=0)
    minimum = floor * np.maximum(highs - lows, np.maximum(np.abs(lows), np.abs(highs)) / 10)

    def scaling(values: np.ndarray) -> ChannelScaling:
        shift, spread = _spread(values, kind)
        floored = spread < minimum
        scale = np.where(np.maximum(spread, minimum) > 0, np.maximum(spread, minimum), 1.0)
        return ChannelScaling(shift, scale, floored)

    if scope in ("joint", "auto"):
        shared = scaling(np.concatenate(parts))
        return [shared for _ in parts]
    return [scaling(p) for p in parts]


def describe_floored(names: list[str], scalings: list[ChannelScaling], floor: float, feature_names: list[str] | None = None) -> str | None:
    """One warning line naming the channels whose scale the floor raised (a count when many), or None.

    ``names`` and ``scalings`` are per entity; under ``scope="joint"`` pass one name and one scaling.
    """
    hits = [(name, int(c)) for name, s in zip(names, scalings) for c in np.flatnonzero(s.floored)]
    if not hits:
        return None
    label = (lambda c: feature_names[c]) if feature_names else (lambda c: f"feature {c}")
    shown = ", ".join(f"{entity} {label(c)}" for entity, c in hits[:MAX_NAMED])
    more = f" and {len(hits) - MAX_NAMED} more" if len(hits) > MAX_NAMED else ""
    return (
        f"data.scaler: {len(hits)} channel(s) vary less in training than the floor ({floor:g} x the channel's training range "
        f"over all entities, data.scaler_floor); their scale was raised to it: {shown}{more}."
    )
