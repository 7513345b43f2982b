"""A market's static context for the features: its tick grid and close time.

Live, it comes from REST (:meth:`MarketInfo.from_market`); in training, from the
session header (:meth:`MarketInfo.from_dict` of what :meth:`MarketInfo.to_dict`
wrote) or from the simulator's catalog (:meth:`MarketInfo.from_ranges`).
``market_lifecycle_v2`` frames update it through :class:`~.MarketData`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from ..kalshi.grid import TickGrid
from ..units import ONE_DOLLAR, Price

if TYPE_CHECKING:
    from ..kalshi.models import Market

__all__ = ["MarketInfo"]


class MarketInfo:
    """Tick grid and close time of one market (immutable; build a new one when they change).

    ``yes_prices`` / ``no_prices``: the valid prices on each side's own scale, ascending
    (a NO price ``q`` is the YES price ``ONE_DOLLAR - q``), for ``bisect``.
    ``steps[i]``: the grid step above ``yes_prices[i]`` in pips (the last one repeats).
    ``close_time_ms``: exchange time the market closes (None when unknown).
    """

    __slots__ = ("ticker", "grid", "close_time_ms", "yes_prices", "no_prices", "steps")

    def __init__(self, ticker: str, grid: TickGrid, close_time_ms: int | None = None) -> None:
        self.ticker = ticker
        self.grid = grid
        self.close_time_ms = close_time_ms
        prices = grid.prices
        self.yes_prices: tuple[Price, ...] = prices
        self.no_prices: tuple[Price, ...] = tuple(sorted(ONE_DOLLAR - p for p in prices))
        if len(prices) > 1:
            steps = [b - a for a, b in zip(prices, prices[1:])]
            steps.append(steps[-1])
        else:
            steps = [ONE_DOLLAR]
        self.steps: tuple[Price, ...] = tuple(steps)

    @classmethod
    def from_ranges(cls, ticker: str, ranges: Iterable[Any], close_time_ms: int | None = None) -> MarketInfo:
        """From ``price_ranges`` (objects with int pips ``start/end/step``, or the wire's dicts of dollar strings)."""
        return cls(ticker, TickGrid.from_ranges(ranges), close_time_ms)

    @classmethod
    def from_market(cls, market: Market) -> MarketInfo:
        """From the REST model (``GET /markets/{ticker}``)."""
        close = market.close_time
        close_ms = None if close is None else int(close.timestamp() * 1000)
        return cls(market.ticker, market.tick_grid, close_ms)

    @classmethod
    def from_session_header(cls, meta: Mapping[str, Any]) -> list[MarketInfo]:
        """The markets of a session header's ``market_info`` (``{ticker: REST market fields}``, as recorded)."""
        from ..kalshi.models import Market  # the REST models are only needed here

        return [cls.from_market(Market.from_wire(fields)) for fields in (meta.get("market_info") or {}).values()]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``{"ticker", "close_time_ms", "price_ranges": [{"start","end","step"} dollar strings]}``."""
        return {"ticker": self.ticker, "close_time_ms": self.close_time_ms, "price_ranges": self.grid.wire_ranges()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MarketInfo:
        """The inverse of :meth:`to_dict` (e.g. a session header's ``market_info`` entries)."""
        return cls(data["ticker"], TickGrid.from_ranges(data["price_ranges"]), data.get("close_time_ms"))

    def replace(self, *, grid: TickGrid | None = None, close_time_ms: int | None = None) -> MarketInfo:
        """A copy with a new grid and/or close time."""
        return MarketInfo(self.ticker, grid or self.grid,
                          self.close_time_ms if close_time_ms is None else close_time_ms)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MarketInfo):
            return NotImplemented
        return (self.ticker, self.grid, self.close_time_ms) == (other.ticker, other.grid, other.close_time_ms)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"MarketInfo({self.ticker!r}, close_time_ms={self.close_time_ms}, grid={self.grid!r})"
