"""Scan orders that serialise a 2-D feature map into 1-D sequences (MambaAD's hybrid scan).

An *order* of an ``H x W`` grid is a permutation ``order`` of the raster indices ``r * W + c``:
step ``t`` of the sequence visits cell ``order[t]``. Five curves (``SCAN_CURVES``) are each
combined with eight *directions*: four views of the grid (identity, transpose, rot90, transposed
rot90), each walked forwards and then reversed. Direction ``2 * v + 1`` is view ``v`` reversed, so
the first ``n`` directions of ``DIRECTIONS`` are the usual 1-, 2- (bidirectional) and 4-way
(VMamba's cross-scan) sets.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from torch import Tensor, nn

from util.errors import ConfigError


def _raster(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column of every raster index, each ``(H * W,)``."""
    rows, cols = np.divmod(np.arange(height * width), width)
    return rows, cols


def _next_power_of_two(n: int) -> int:
    return 1 << max(n - 1, 0).bit_length()


def sweep_order(height: int, width: int) -> np.ndarray:
    """Raster: every row left to right, top to bottom."""
    return np.arange(height * width)


def snake_order(height: int, width: int) -> np.ndarray:
    """Boustrophedon: even rows left to right, odd rows right to left."""
    grid = np.arange(height * width).reshape(height, width)
    grid[1::2] = grid[1::2, ::-1]
    return grid.reshape(-1)


def zorder_order(height: int, width: int) -> np.ndarray:
    """Morton (Z) curve of the enclosing power-of-two square; cells outside the grid are skipped."""
    rows, cols = _raster(height, width)
    code = np.zeros_like(rows)
    for bit in range(_next_power_of_two(max(height, width)).bit_length()):
        code |= ((rows >> bit) & 1) << (2 * bit + 1) | ((cols >> bit) & 1) << (2 * bit)
    return np.argsort(code, kind="stable")


def zigzag_order(height: int, width: int) -> np.ndarray:
    """Diagonal zigzag (as JPEG): anti-diagonals in turn, alternating up-right and down-left."""
    rows, cols = _raster(height, width)
    diagonal = rows + cols
    along = np.where(diagonal % 2 == 0, cols, rows)  # even diagonals go up-right, odd ones down-left
    return np.lexsort((along, diagonal))


def hilbert_order(height: int, width: int) -> np.ndarray:
    """Hilbert curve of the enclosing power-of-two square; padded cells are dropped from the path,
    so the result is still a permutation of ``H * W`` (consecutive cells stay adjacent when the
    grid is a power-of-two square)."""
    rows, cols = _raster(height, width)
    x, y = cols.copy(), rows.copy()
    distance = np.zeros_like(x)
    side = _next_power_of_two(max(height, width))
    s = side // 2
    while s > 0:  # classic xy -> d conversion, vectorised over all cells
        rx = (x & s) > 0
        ry = (y & s) > 0
        distance += s * s * ((3 * rx) ^ ry)
        flip = ~ry & rx
        x = np.where(flip, side - 1 - x, x)
        y = np.where(flip, side - 1 - y, y)
        x, y = np.where(~ry, y, x), np.where(~ry, x, y)
        s //= 2
    return np.argsort(distance, kind="stable")


SCAN_CURVES: dict[str, Callable[[int, int], np.ndarray]] = {
    "sweep": sweep_order,
    "scan": snake_order,
    "zorder": zorder_order,
    "zigzag": zigzag_order,
    "hilbert": hilbert_order,
}

# The four views of the grid, as maps from the (H, W) grid of raster indices to the viewed grid.
VIEWS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "identity": lambda grid: grid,
    "transpose": lambda grid: grid.T,
    "rot90": lambda grid: np.rot90(grid),
    "rot90_transpose": lambda grid: np.rot90(grid).T,
}
DIRECTIONS: tuple[tuple[str, bool], ...] = tuple((view, reverse) for view in VIEWS for reverse in (False, True))


def scan_order(height: int, width: int, curve: str = "hilbert", direction: int = 0) -> np.ndarray:
    """The raster indices of an ``H x W`` grid in the order ``curve`` visits them in ``direction``
    (0-7, see ``DIRECTIONS``): an int64 permutation of ``range(H * W)``."""
    if curve not in SCAN_CURVES:
        raise ConfigError(f"Unknown scan curve '{curve}'. Choose one of: {', '.join(SCAN_CURVES)}.")
    view, reverse = DIRECTIONS[direction % len(DIRECTIONS)]
    viewed = np.ascontiguousarray(VIEWS[view](np.arange(height * width).reshape(height, width)))
    order = viewed.reshape(-1)[SCAN_CURVES[curve](*viewed.shape)]
    return (order[::-1] if reverse else order).astype(np.int64)


class HybridScan(nn.Module):
    """Serialise ``(B, C, H, W)`` maps along ``n_directions`` scan orders and merge them back.

    Orders and their inverses are non-persistent buffers (they follow ``.to(device)`` but are
    neither trained nor saved in checkpoints).

    Args:
        height, width: grid size the orders are built for.
        curve: one of ``SCAN_CURVES``.
        n_directions: 1, 2, 4 or 8 directions.
        first_direction: index of the first direction; direction ``k`` of this module is
            ``(first_direction + k) % 8`` (MTAD gives block ``i`` the single direction ``i``).
    """

    def __init__(self, height: int, width: int, curve: str = "hilbert", n_directions: int = 8, first_direction: int = 0) -> None:
        super().__init__()
        if n_directions not in (1, 2, 4, 8):
            raise ConfigError(f"scan directions must be 1, 2, 4 or 8, got {n_directions}.")
        orders = np.stack([scan_order(height, width, curve, first_direction + k) for k in range(n_directions)])
        self.height, self.width, self.curve = height, width, curve
        self.register_buffer("orders", torch.from_numpy(orders), persistent=False)  # (K, L)
        self.register_buffer("inverse", torch.from_numpy(np.argsort(orders, axis=1)), persistent=False)

    @property
    def n_directions(self) -> int:
        return self.orders.shape[0]

    def serialize(self, x: Tensor) -> Tensor:
        """``(B, C, H, W)`` -> ``(B, K, C, L)``: sequence ``k`` follows order ``k``."""
        batch, channels, height, width = x.shape
        if (height, width) != (self.height, self.width):
            raise ValueError(f"HybridScan built for {self.height}x{self.width} grids got a {height}x{width} map")
        return x.flatten(2)[:, :, self.orders].transpose(1, 2)

    def merge(self, y: Tensor) -> Tensor:
        """``(B, K, C, L)`` sequences in scan order -> ``(B, C, H, W)``: each put back in raster order, summed."""
        batch, directions, channels, length = y.shape
        index = self.inverse[None, :, None, :].expand(batch, -1, channels, -1)
        return y.gather(-1, index).sum(1).view(batch, channels, self.height, self.width)

    def extra_repr(self) -> str:
        return f"grid={self.height}x{self.width}, curve={self.curve}, directions={self.n_directions}"
