"""Scan orders of the hybrid scan: permutations, inverses, directions, locality of the curves."""
import numpy as np
import pytest
import torch

from model.blocks.hybrid_scan import DIRECTIONS, SCAN_CURVES, HybridScan, scan_order
from util.errors import ConfigError

GRIDS = [(8, 8), (4, 6), (6, 4), (5, 7), (3, 3), (1, 5), (16, 16)]


def steps(order: np.ndarray, width: int) -> np.ndarray:
    """Manhattan distance between consecutive cells of an order."""
    rows, cols = np.divmod(order, width)
    return np.abs(np.diff(rows)) + np.abs(np.diff(cols))


@pytest.mark.parametrize("curve", sorted(SCAN_CURVES))
@pytest.mark.parametrize("grid", GRIDS)
def test_every_order_is_a_permutation_in_every_direction(curve, grid):
    height, width = grid
    for direction in range(len(DIRECTIONS)):
        order = scan_order(height, width, curve, direction)
        assert order.dtype == np.int64
        assert np.array_equal(np.sort(order), np.arange(height * width))


@pytest.mark.parametrize("curve", sorted(SCAN_CURVES))
@pytest.mark.parametrize("grid", GRIDS)
@pytest.mark.parametrize("n_directions", [1, 2, 4, 8])
def test_serialize_then_merge_restores_the_map(curve, grid, n_directions):
    scan = HybridScan(*grid, curve=curve, n_directions=n_directions)
    x = torch.randn(2, 3, *grid)
    sequences = scan.serialize(x)
    assert sequences.shape == (2, n_directions, 3, grid[0] * grid[1])
    torch.testing.assert_close(scan.merge(sequences), n_directions * x)
    # step t of sequence k is the cell named by order k
    for k in range(n_directions):
        torch.testing.assert_close(sequences[:, k], x.flatten(2)[..., scan.orders[k]])


def test_the_eight_directions_are_distinct_views_and_reversals():
    orders = [tuple(scan_order(4, 4, "sweep", d)) for d in range(8)]
    assert len(set(orders)) == 8
    for view in range(4):
        assert orders[2 * view + 1] == orders[2 * view][::-1]
    transposed = np.arange(16).reshape(4, 4).T.reshape(-1)  # columns top to bottom
    assert np.array_equal(scan_order(4, 4, "sweep", 2), transposed)


@pytest.mark.parametrize("side", [2, 4, 8, 16, 32])
def test_hilbert_moves_to_a_neighbour_at_every_step_on_power_of_two_squares(side):
    for direction in range(8):
        assert steps(scan_order(side, side, "hilbert", direction), side).max() == 1


def test_hilbert_on_a_non_power_of_two_grid_is_a_permutation_that_stays_mostly_local():
    order = scan_order(12, 20, "hilbert")
    assert np.array_equal(np.sort(order), np.arange(240))
    assert np.median(steps(order, 20)) == 1


@pytest.mark.parametrize("grid", GRIDS)
def test_snake_moves_to_a_neighbour_at_every_step(grid):
    if grid[0] * grid[1] > 1:
        assert steps(scan_order(*grid, "scan"), grid[1]).max() == 1


def test_zigzag_and_zorder_match_their_textbook_4x4_patterns():
    jpeg = [[0, 1, 5, 6], [2, 4, 7, 12], [3, 8, 11, 13], [9, 10, 14, 15]]  # visiting step of each cell
    morton = [[0, 1, 4, 5], [2, 3, 6, 7], [8, 9, 12, 13], [10, 11, 14, 15]]
    assert np.argsort(scan_order(4, 4, "zigzag")).reshape(4, 4).tolist() == jpeg
    assert np.argsort(scan_order(4, 4, "zorder")).reshape(4, 4).tolist() == morton


def test_orders_are_non_persistent_buffers():
    scan = HybridScan(4, 4, n_directions=8)
    assert not list(scan.parameters())
    assert {name for name, _ in scan.named_buffers()} == {"orders", "inverse"}
    assert scan.state_dict() == {}
    assert scan.orders.shape == scan.inverse.shape == (8, 16)


def test_bad_settings_are_config_errors():
    with pytest.raises(ConfigError, match="directions"):
        HybridScan(4, 4, n_directions=3)
    with pytest.raises(ConfigError, match="hilbert"):
        scan_order(4, 4, "spiral")
    with pytest.raises(ValueError, match="4x4"):
        HybridScan(4, 4).serialize(torch.randn(1, 2, 4, 5))
