"""A market's static context: its tick grid, close time and fee schedule.

Live, it comes from REST (:meth:`MarketInfo.from_market`, with the fee schedule of the
market's series: :func:`~.discovery.fee_schedules`); in training, from the session header
(:meth:`MarketInfo.from_session_header`, or :meth:`MarketInfo.from_dict` of what
:meth:`MarketInfo.to_dict` wrote) or from the simulator's catalog (:meth:`MarketInfo.from_ranges`).
``market_lifecycle_v2`` frames update it through :class:`~.MarketData`.

The fee schedule is None where the source does not say: a session header written before
headers carried ``fee_type``/``fee_multiplier``, or a market first seen in a lifecycle
frame. Whoever charges fees then uses its own default (the training env's
``EnvConfig.fee_type``/``fee_multiplier``; :meth:`FeeSchedule.of`, Kalshi's plain quadratic
schedule, elsewhere).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from ..kalshi.grid import TickGrid
from ..trading.fees import FeeSchedule
from ..units import ONE_DOLLAR, Price

if TYPE_CHECKING:
    from ..kalshi.models import Market

__all__ = ["MarketInfo"]


class MarketInfo:
    """Tick grid, close time and fee schedule of one market (immutable; build a new one when they change).

    ``yes_prices`` / ``no_prices``: the valid prices on each side's own scale, ascending
    (a NO price ``q`` is the YES price ``ONE_DOLLAR - q``), for ``bisect``.
    ``steps[i]``: the grid step above ``yes_prices[i]`` in pips (the last one repeats).
    ``close_time_ms``: exchange time the market closes (None when unknown).
    ``fees``: its series' fee schedule (None when unknown: see the module docstring).
    """

    __slots__ = ("ticker", "grid", "close_time_ms", "fees", "yes_prices", "no_prices", "steps")

    def __init__(self, ticker: str, grid: TickGrid, close_time_ms: int | None = None,
                 fees: FeeSchedule | None = None) -> None:
        self.ticker = ticker
        self.grid = grid
        self.close_time_ms = close_time_ms
        self.fees = fees
        self.yes_prices, self.no_prices, self.steps = _tables(grid)

    @classmethod
    def from_ranges(cls, ticker: str, ranges: Iterable[Any], close_time_ms: int | None = None,
                    fees: FeeSchedule | None = None) -> MarketInfo:
        """From ``price_ranges`` (objects with int pips ``start/end/step``, or the wire's dicts of dollar strings)."""
        return cls(ticker, TickGrid.from_ranges(ranges), close_time_ms, fees)

    @classmethod
    def from_market(cls, market: Market, fees: FeeSchedule | None = None) -> MarketInfo:
        """From the REST model (``GET /markets/{ticker}``) and its series' fee schedule (REST markets carry none)."""
        close = market.close_time
        close_ms = None if close is None else int(close.timestamp() * 1000)
        return cls(market.ticker, market.tick_grid, close_ms, fees)

    @classmethod
    def from_session_header(cls, meta: Mapping[str, Any]) -> list[MarketInfo]:
        """The markets of a session header's ``market_info`` (``{ticker: REST market fields + fee_type,
        fee_multiplier}``, as recorded); ``fees`` is None for an entry without ``fee_type`` (an older header)."""
        from ..kalshi.models import Market  # the REST models are only needed here

        return [cls.from_market(Market.from_wire(fields), _fees_of(fields))
                for fields in (meta.get("market_info") or {}).values()]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``{"ticker", "close_time_ms", "price_ranges": [{"start","end","step"} dollar strings]}``,
        and ``fee_type``/``fee_multiplier`` when the schedule is known."""
        data = {"ticker": self.ticker, "close_time_ms": self.close_time_ms, "price_ranges": self.grid.wire_ranges()}
        if self.fees is not None:
            data.update(self.fees.to_dict())
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MarketInfo:
        """The inverse of :meth:`to_dict`."""
        return cls(data["ticker"], TickGrid.from_ranges(data["price_ranges"]), data.get("close_time_ms"),
                   _fees_of(data))

    def replace(self, *, grid: TickGrid | None = None, close_time_ms: int | None = None) -> MarketInfo:
        """A copy with a new grid and/or close time (the same fee schedule)."""
        return MarketInfo(self.ticker, grid or self.grid,
                          self.close_time_ms if close_time_ms is None else close_time_ms, self.fees)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MarketInfo):
            return NotImplemented
        return ((self.ticker, self.grid, self.close_time_ms, self.fees)
                == (other.ticker, other.grid, other.close_time_ms, other.fees))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        fees = "" if self.fees is None else f", fees={self.fees.fee_type}x{self.fees.fee_multiplier}"
        return f"MarketInfo({self.ticker!r}, close_time_ms={self.close_time_ms}, grid={self.grid!r}{fees})"


@lru_cache(maxsize=256)
def _tables(grid: TickGrid) -> tuple[tuple[Price, ...], tuple[Price, ...], tuple[Price, ...]]:
    """A grid's YES prices, NO prices and steps, shared by every market on that grid (most markets use one of
    a few grids): the observation reads them for every market at every decision, so one copy stays in cache."""
    prices = grid.prices
    if len(prices) > 1:
        steps = [b - a for a, b in zip(prices, prices[1:])]
        steps.append(steps[-1])
    else:
        steps = [ONE_DOLLAR]
    return prices, tuple(sorted(ONE_DOLLAR - p for p in prices)), tuple(steps)


def _fees_of(fields: Mapping[str, Any]) -> FeeSchedule | None:
    """The schedule of ``fee_type``/``fee_multiplier`` fields (:meth:`FeeSchedule.to_dict`); None without them."""
    fee_type = fields.get("fee_type")
    if fee_type is None:
        return None
    return FeeSchedule.of(fee_type, fields.get("fee_multiplier", 1.0))
