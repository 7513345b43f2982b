"""Which markets to follow: the most traded open markets, or named ones (the recorder and the actor)."""

from __future__ import annotations

from collections.abc import Sequence

from ..kalshi.errors import NotFound
from ..kalshi.models import Market
from ..kalshi.rest import RestClient


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
