"""How a metric is declared: its key in ``results.json``, its title in tables, and what it reads.

Each suite declares its metrics once, in results order (``metric.timeseries.suite.METRICS``,
``metric.image.suite.METRICS``); key lists, report columns and benchmark tables derive from that.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

from util.errors import UserError


@dataclass(frozen=True)
class Metric:
    """One metric.

    Attributes:
        key: its key in ``results.json`` and in the suite's output.
        title: its column title in reports and benchmark tables.
        needs_threshold: computed from binary predictions (a threshold), not from the continuous scores.
        point_adjusted: the legacy point-adjusted protocol (inflated; reported apart).
    """

    key: str
    title: str
    needs_threshold: bool = False
    point_adjusted: bool = False

    @property
    def label(self) -> str:
        """The title, marked ``(legacy)`` when point-adjusted: for tables that mix it with honest metrics."""
        return f"{self.title} (legacy)" if self.point_adjusted else self.title


class MetricSet:
    """The ordered metrics of one suite, looked up by key."""

    def __init__(self, *metrics: Metric) -> None:
        self._by_key = {m.key: m for m in metrics}
        self.keys: tuple[str, ...] = tuple(self._by_key)

    def __iter__(self) -> Iterator[Metric]:
        return iter(self._by_key.values())

    def __len__(self) -> int:
        return len(self._by_key)

    def __getitem__(self, key: str) -> Metric:
        if key not in self._by_key:
            raise UserError(f"Unknown metric '{key}'; known metrics: {', '.join(self.keys)}.")
        return self._by_key[key]

    def pick(self, *keys: str) -> tuple[Metric, ...]:
        """The metrics of ``keys``, in that order."""
        return tuple(self[key] for key in keys)

    def where(self, needs_threshold: bool | None = None, point_adjusted: bool | None = None) -> tuple[Metric, ...]:
        """The metrics with the given flags (None: either), in declaration order."""
        return tuple(
            m for m in self
            if needs_threshold in (None, m.needs_threshold) and point_adjusted in (None, m.point_adjusted)
        )
