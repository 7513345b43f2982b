"""A market's tick grid: which prices an order may use.

Kalshi gives each market a ``price_level_structure`` and ``price_ranges``, a list of
``{start, end, step}`` bands in dollars. The valid prices are ``start + k * step`` inside
each band, strictly between $0 and $1 (a contract never trades at $0.00 or $1.00).
Bands share their edges (``0.10`` ends one band and starts the next), so the grid is the
union of the bands' points. The structure can change while a market is live
(``price_level_structure_updated``); build a new :class:`TickGrid` when it does.

All prices are integer pips (1/10,000 dollar, see :mod:`kalshi_actor.units`).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from typing import Literal, Protocol

from ..units import ONE_DOLLAR, Price, format_price, parse_price

Rounding = Literal["down", "up", "nearest"]


class _Band(Protocol):
    start: Price
    end: Price
    step: Price


# The ranges Kalshi publishes for the structures seen in practice, as (start, end, step) in pips.
KNOWN_STRUCTURES: dict[str, tuple[tuple[Price, Price, Price], ...]] = {
    "linear_cent": ((0, ONE_DOLLAR, 100),),
    "deci_cent": ((0, ONE_DOLLAR, 10),),
    "tapered_deci_cent": ((0, 1_000, 10), (1_000, 9_000, 100), (9_000, ONE_DOLLAR, 10)),
}


class GridError(ValueError):
    """A price is off the grid, outside it, or the grid itself is malformed."""


class TickGrid:
    """The sorted set of valid prices of one market.

    >>> grid = TickGrid.from_structure("tapered_deci_cent")
    >>> grid.round(5_555, "down"), grid.next_up(900), grid.ticks_between(800, 1_200)
    (5500, 910, 22)
    """

    __slots__ = ("ranges", "_prices")

    def __init__(self, ranges: Iterable[tuple[Price, Price, Price]]) -> None:
        self.ranges: tuple[tuple[Price, Price, Price], ...] = tuple(ranges)
        if not self.ranges:
            raise GridError("a tick grid needs at least one price range")
        prices: set[Price] = set()
        for start, end, step in self.ranges:
            if step <= 0 or start < 0 or end > ONE_DOLLAR or start >= end:
                raise GridError(f"bad price range start={start} end={end} step={step} (pips)")
            prices.update(p for p in range(start, end + 1, step) if 0 < p < ONE_DOLLAR)
        if not prices:
            raise GridError("the price ranges hold no tradable price")
        self._prices: tuple[Price, ...] = tuple(sorted(prices))

    # --- construction ---
    @classmethod
    def from_ranges(cls, ranges: Iterable[_Band | dict[str, str]]) -> TickGrid:
        """From ``price_ranges``: objects with int pips ``start/end/step``, or the wire's dicts of dollar strings."""
        bands = []
        for band in ranges:
            if isinstance(band, dict):
                bands.append((parse_price(band["start"]), parse_price(band["end"]), parse_price(band["step"])))
            else:
                bands.append((band.start, band.end, band.step))
        return cls(bands)

    @classmethod
    def from_structure(cls, name: str) -> TickGrid:
        """One of :data:`KNOWN_STRUCTURES` by name; prefer :meth:`from_ranges` when the market sends ranges."""
        try:
            return cls(KNOWN_STRUCTURES[name])
        except KeyError:
            raise GridError(f"unknown price_level_structure {name!r}; build the grid from price_ranges") from None

    def wire_ranges(self) -> list[dict[str, str]]:
        """The ranges as Kalshi sends them: ``[{"start": "0.0000", "end": "1.0000", "step": "0.0100"}]``."""
        return [{"start": format_price(s), "end": format_price(e), "step": format_price(st)}
                for s, e, st in self.ranges]

    # --- queries ---
    @property
    def min_price(self) -> Price:
        return self._prices[0]

    @property
    def max_price(self) -> Price:
        return self._prices[-1]

    @property
    def prices(self) -> tuple[Price, ...]:
        """Every valid price, ascending."""
        return self._prices

    def __contains__(self, price: object) -> bool:
        if not isinstance(price, int):
            return False
        i = bisect_left(self._prices, price)
        return i < len(self._prices) and self._prices[i] == price

    def __len__(self) -> int:
        return len(self._prices)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TickGrid) and self._prices == other._prices

    def __hash__(self) -> int:
        return hash(self._prices)

    def __repr__(self) -> str:
        return f"TickGrid({self.wire_ranges()!r})"

    def validate(self, price: Price) -> Price:
        """Return ``price`` if it is on the grid, else raise :class:`GridError`."""
        if price not in self:
            raise GridError(f"price {format_price(price)} is not on the market's tick grid")
        return price

    def round(self, price: Price, mode: Rounding = "nearest") -> Price:
        """The grid price at or below (``down``), at or above (``up``) or nearest to ``price``.

        Prices outside the grid clamp to its ends. ``nearest`` breaks ties downward
        (toward the cheaper price for a buyer).
        """
        p = self._prices
        if price <= p[0]:
            return p[0]
        if price >= p[-1]:
            return p[-1]
        i = bisect_left(p, price)
        if p[i] == price:
            return price
        below, above = p[i - 1], p[i]
        if mode == "down":
            return below
        if mode == "up":
            return above
        if mode != "nearest":
            raise ValueError(f"rounding mode must be down, up or nearest, not {mode!r}")
        return below if price - below <= above - price else above

    def next_up(self, price: Price) -> Price | None:
        """The first grid price strictly above ``price``, or None at the top."""
        i = bisect_right(self._prices, price)
        return self._prices[i] if i < len(self._prices) else None

    def next_down(self, price: Price) -> Price | None:
        """The first grid price strictly below ``price``, or None at the bottom."""
        i = bisect_left(self._prices, price)
        return self._prices[i - 1] if i > 0 else None

    def ticks_between(self, low: Price, high: Price) -> int:
        """How many grid steps lead from ``low`` to ``high`` (negative when ``high < low``).

        Both prices must be on the grid: the spread of a book, in ticks.
        """
        return self._index(high) - self._index(low)

    def _index(self, price: Price) -> int:
        i = bisect_left(self._prices, price)
        if i == len(self._prices) or self._prices[i] != price:
            raise GridError(f"price {format_price(price)} is not on the market's tick grid")
        return i
