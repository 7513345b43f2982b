"""Tick grids from Kalshi's price_level_structure / price_ranges."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kalshi_actor.kalshi.grid import KNOWN_STRUCTURES, GridError, TickGrid
from kalshi_actor.kalshi.models import Market
from kalshi_actor.units import ONE_DOLLAR

TAPERED_WIRE = [
    {"start": "0.0000", "end": "0.1000", "step": "0.0010"},
    {"start": "0.1000", "end": "0.9000", "step": "0.0100"},
    {"start": "0.9000", "end": "1.0000", "step": "0.0010"},
]


def test_linear_cent_is_one_to_ninety_nine_cents() -> None:
    grid = TickGrid.from_structure("linear_cent")
    assert grid.prices == tuple(range(100, ONE_DOLLAR, 100))
    assert (grid.min_price, grid.max_price, len(grid)) == (100, 9_900, 99)


def test_deci_cent_has_every_tenth_of_a_cent() -> None:
    grid = TickGrid.from_structure("deci_cent")
    assert (grid.min_price, grid.max_price, len(grid)) == (10, 9_990, 999)
    assert 5_550 in grid and 5_555 not in grid


def test_tapered_deci_cent_is_fine_at_the_edges_and_coarse_in_the_middle() -> None:
    grid = TickGrid.from_structure("tapered_deci_cent")
    assert {10, 990, 1_000, 1_100, 9_000, 9_010, 9_990} <= set(grid.prices)
    assert 1_010 not in grid and 5_550 not in grid and 8_990 not in grid
    assert len(grid) == 99 + 80 + 99 + 1  # 0.001..0.099, 0.10..0.89, 0.90..0.999 (0.90 counted once)


def test_wire_ranges_equal_the_named_structure_and_round_trip() -> None:
    grid = TickGrid.from_ranges(TAPERED_WIRE)
    assert grid == TickGrid.from_structure("tapered_deci_cent")
    assert grid.wire_ranges() == TAPERED_WIRE


def test_market_model_builds_its_grid_from_ranges_or_structure() -> None:
    with_ranges = Market.from_wire({"ticker": "T", "price_level_structure": "tapered_deci_cent",
                                    "price_ranges": TAPERED_WIRE})
    assert with_ranges.tick_grid == TickGrid.from_structure("tapered_deci_cent")
    structure_only = Market.from_wire({"ticker": "T", "price_level_structure": "linear_cent"})
    assert structure_only.tick_grid == TickGrid.from_structure("linear_cent")


def test_validate() -> None:
    grid = TickGrid.from_structure("linear_cent")
    assert grid.validate(4_200) == 4_200
    for bad in (4_250, 0, ONE_DOLLAR, -100):
        with pytest.raises(GridError):
            grid.validate(bad)


def test_rounding_modes() -> None:
    grid = TickGrid.from_structure("tapered_deci_cent")
    assert grid.round(5_555, "down") == 5_500
    assert grid.round(5_555, "up") == 5_600
    assert grid.round(5_555, "nearest") == 5_600
    assert grid.round(5_550, "nearest") == 5_500  # a tie goes down
    assert grid.round(5_500, "up") == 5_500  # on-grid prices stay
    assert grid.round(955, "down") == 950 and grid.round(955, "up") == 960
    assert grid.round(-5, "down") == 10 and grid.round(20_000, "up") == 9_990  # clamped to the grid
    with pytest.raises(ValueError):
        grid.round(5_555, "sideways")  # type: ignore[arg-type]


def test_next_tick_crosses_band_edges() -> None:
    grid = TickGrid.from_structure("tapered_deci_cent")
    assert grid.next_up(990) == 1_000
    assert grid.next_up(1_000) == 1_100
    assert grid.next_down(1_000) == 990
    assert grid.next_down(9_010) == 9_000
    assert grid.next_up(9_000) == 9_010
    assert grid.next_up(9_990) is None and grid.next_down(10) is None
    assert grid.next_up(1_050) == 1_100  # off-grid input: the first grid price above it


def test_ticks_between() -> None:
    grid = TickGrid.from_structure("tapered_deci_cent")
    assert grid.ticks_between(800, 1_200) == 22  # 20 deci-cent steps, then 2 cent steps
    assert grid.ticks_between(1_200, 800) == -22
    assert grid.ticks_between(4_200, 4_200) == 0
    with pytest.raises(GridError):
        grid.ticks_between(4_250, 4_300)


def test_malformed_ranges_are_rejected() -> None:
    for ranges in ([], [(0, ONE_DOLLAR, 0)], [(500, 100, 10)], [(0, 2 * ONE_DOLLAR, 100)]):
        with pytest.raises(GridError):
            TickGrid(ranges)
    with pytest.raises(GridError):
        TickGrid.from_structure("banded_centi_cent_unknown")


@given(st.sampled_from(sorted(KNOWN_STRUCTURES)), st.integers(-1_000, ONE_DOLLAR + 1_000))
def test_rounding_properties(structure: str, price: int) -> None:
    grid = TickGrid.from_structure(structure)
    down, up, nearest = grid.round(price, "down"), grid.round(price, "up"), grid.round(price, "nearest")
    assert down in grid and up in grid and nearest in grid
    assert down <= up and nearest in (down, up)
    if grid.min_price <= price <= grid.max_price:
        assert down <= price <= up
        assert grid.ticks_between(down, up) == (0 if down == up else 1)
    if price in grid:
        assert down == up == nearest == price
        step_up = grid.next_up(price)
        assert step_up is None or grid.next_down(step_up) == price
