"""Which markets to follow: the most traded open markets, or named ones; and their fee schedules
(the recorder and the actor)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ..kalshi.errors import NotFound
from ..kalshi.models import Market, series_ticker_of
from ..kalshi.rest import RestClient
from ..trading.fees import FeeSchedule


class MarketSelectionError(LookupError):
    """No market matches (none open, or a named ticker does not exist)."""


def rank(market: Market) -> tuple[int, int, int, str]:
    """Most traded first (24 h volume), then most liquid (size at the touch on both sides), then open interest."""
    touch = market.yes_bid_size_fp + market.yes_ask_size_fp
    return (-market.volume_24h_fp, -touch, -market.open_interest_fp, market.ticker)


async def discover_markets(rest: RestClient, n: int) -> list[Market]:
    """The ``n`` most traded open markets (multivariate combos excluded), best first."""
    if n < 1:
        raise MarketSelectionError("the number of markets must be at least 1")
    markets = [m async for m in rest.iter_markets(status="open", limit=1000, mve_filter="exclude")]
    if not markets:
        raise MarketSelectionError(f"no open markets at {rest.base_url}")
    return sorted(markets, key=rank)[:n]


async def fetch_markets(rest: RestClient, tickers: Sequence[str]) -> list[Market]:
    """The named markets, in the given order (duplicates dropped)."""
    markets = []
    for ticker in dict.fromkeys(tickers):
        try:
            markets.append(await rest.get_market(ticker))
        except NotFound:
            raise MarketSelectionError(f"no market {ticker!r} at {rest.base_url}") from None
    return markets


async def fee_schedules(rest: RestClient, markets: Iterable[Market]) -> dict[str, FeeSchedule]:
    """Market ticker -> its fee schedule: its series' ``fee_type`` and ``fee_multiplier`` (``GET /series/{ticker}``,
    once per series; REST markets do not carry them). An unknown series is a :class:`MarketSelectionError`."""
    by_series: dict[str, FeeSchedule] = {}
    schedules = {}
    for market in markets:
        ticker = series_ticker_of(market.event_ticker or market.ticker)
        schedule = by_series.get(ticker)
        if schedule is None:
            try:
                series = await rest.get_series(ticker)
            except NotFound:
                raise MarketSelectionError(f"no series {ticker!r} (of market {market.ticker!r}) at {rest.base_url}") \
                    from None
            schedule = by_series[ticker] = FeeSchedule.of(series.fee_type, series.fee_multiplier)
        schedules[market.ticker] = schedule
    return schedules
