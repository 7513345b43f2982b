"""A deterministic catalog of Kalshi-shaped markets for the simulator.

Tickers follow Kalshi's shape: series ``KXBTCD``, event ``KXBTCD-26NOV2417`` (year, month,
day, hour of the close), market ``KXBTCD-26NOV2417-T60499.99`` (the strike). Each listing
carries a prior probability for the synthetic traders (threshold ladders are monotone in the
strike, team markets of one event share the probability mass).
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from math import erfc, sqrt

from ..units import ONE_DOLLAR
from .types import Market, MarketStatus, PriceRange

LINEAR_CENT = [PriceRange(0, ONE_DOLLAR, 100)]
DECI_CENT = [PriceRange(0, ONE_DOLLAR, 10)]
TAPERED_DECI_CENT = [PriceRange(0, 1000, 10), PriceRange(1000, 9000, 100), PriceRange(9000, ONE_DOLLAR, 10)]
PRICE_LEVEL_STRUCTURES = {
    "linear_cent": LINEAR_CENT,
    "deci_cent": DECI_CENT,
    "tapered_deci_cent": TAPERED_DECI_CENT,
}

_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_NBA = ("ATL", "BOS", "BKN", "CHA", "CHI", "CLE", "DAL", "DEN", "DET", "GSW", "HOU", "IND", "LAC", "LAL",
        "MEM", "MIA", "MIL", "MIN", "NOP", "NYK", "OKC", "ORL", "PHI", "PHX", "POR", "SAC", "SAS", "TOR")


@dataclass(frozen=True, slots=True)
class _Series:
    """One series: how its markets are made, and what ``GET /series/{ticker}`` says of it (name, category,
    tags, fee schedule). The fee facts are copied into each :class:`Market` at listing: the engine charges those."""

    ticker: str
    kind: str  # "above" (threshold ladder) | "range" (buckets) | "pick" (one of several outcomes)
    title: str  # format string with {when} and {strike}
    base: float  # the underlying's level at the start (price, temperature, ...)
    step: float  # strike spacing
    structure: str
    fee_type: str = "quadratic"
    fee_multiplier: float = 1.0
    hourly: bool = True
    name: str = ""  # the series' own title
    category: str = ""
    tags: tuple[str, ...] = ()

    @property
    def frequency(self) -> str:
        return "hourly" if self.hourly else "one_off" if self.kind == "pick" else "daily"


SERIES = (
    _Series("KXBTCD", "above", "Bitcoin price on {when} above {strike}?", 96_000, 500, "linear_cent",
            name="Bitcoin price above/below", category="Crypto", tags=("BTC",)),
    _Series("KXBTC", "range", "Bitcoin price range on {when}: {strike}", 96_000, 250, "linear_cent",
            name="Bitcoin price range", category="Crypto", tags=("BTC",)),
    _Series("KXETHD", "above", "Ethereum price on {when} above {strike}?", 3_400, 25, "tapered_deci_cent",
            name="Ethereum price above/below", category="Crypto", tags=("ETH",)),
    _Series("KXINXU", "above", "S&P 500 on {when} above {strike}?", 6_050, 25, "tapered_deci_cent",
            fee_multiplier=0.5, name="S&P 500 above/below", category="Financials", tags=("S&P",)),
    _Series("KXHIGHNY", "range", "Highest temperature in NYC on {when}: {strike}", 52, 2, "linear_cent",
            hourly=False, name="Highest temperature in NYC", category="Climate and Weather",
            tags=("Daily temperature",)),
    _Series("KXNEXTTEAMNBA", "pick", "Which team will {strike} play for next?", 0, 0, "linear_cent",
            fee_type="quadratic_with_maker_fees", hourly=False, name="NBA player's next team", category="Sports",
            tags=("Basketball",)),
)
SERIES_BY_TICKER = {s.ticker: s for s in SERIES}


@dataclass(slots=True)
class Listing:
    """A market plus the probability the synthetic traders start from (0..1, a float: features only)."""

    market: Market
    prior: float


def _event_code(close_ms: int, hourly: bool) -> str:
    t = datetime.fromtimestamp(close_ms / 1000, UTC)
    code = f"{t.year % 100:02d}{_MONTHS[t.month - 1]}{t.day:02d}"
    return code + f"{t.hour:02d}" if hourly else code


def _when(close_ms: int) -> str:
    t = datetime.fromtimestamp(close_ms / 1000, UTC)
    return f"{_MONTHS[t.month - 1].title()} {t.day}, {t.year} at {t.hour:02d}:{t.minute:02d} UTC"


class Catalog:
    """Lists events of markets, deterministic from ``seed``.

    ``lifetime_ms`` is the (min, max) time from listing to close. Event tickers never repeat:
    an event whose code is taken closes one period (an hour, or a day) later.
    """

    def __init__(self, seed: int, *, lifetime_ms: tuple[int, int] = (2 * 3_600_000, 26 * 3_600_000)) -> None:
        self._rng = random.Random(f"catalog/{seed}")
        self.lifetime_ms = lifetime_ms
        self._events: set[str] = set()

    def initial(self, n: int, now_ms: int) -> list[Listing]:
        """Exactly ``n`` markets (the last event may be cut short), all open at ``now_ms``."""
        listings: list[Listing] = []
        while len(listings) < n:
            listings.extend(self.new_event(now_ms))
        return listings[:n]

    def new_event(self, now_ms: int) -> list[Listing]:
        """One event (3 to 8 markets) of a random series, open now, closing within ``lifetime_ms``."""
        rng = self._rng
        series = rng.choice(SERIES)
        period = 3_600_000 if series.hourly else 86_400_000
        close_ms = now_ms + rng.randint(*self.lifetime_ms)
        event = self._event_ticker(series, close_ms)
        while event in self._events:
            close_ms += period
            event = self._event_ticker(series, close_ms)
        self._events.add(event)
        n = rng.randint(3, 8)
        open_ms = now_ms - rng.randint(0, 6 * 3_600_000)
        return [
            Listing(self._market(series, event, suffix, title, open_ms, close_ms), prior)
            for suffix, title, prior in self._strikes(series, close_ms, n)
        ]

    def _event_ticker(self, series: _Series, close_ms: int) -> str:
        if series.kind == "pick":  # like KXNEXTTEAMNBA-26LJAM: year + a player code
            code = "".join(self._rng.choice("ABCDEFGHJKLMNPRSTW") for _ in range(4))
            return f"{series.ticker}-{datetime.fromtimestamp(close_ms / 1000, UTC).year % 100:02d}{code}"
        return f"{series.ticker}-{_event_code(close_ms, series.hourly)}"

    def _strikes(self, series: _Series, close_ms: int, n: int) -> list[tuple[str, str, float]]:
        """(ticker suffix, title, prior) for each market of one event."""
        rng = self._rng
        when = _when(close_ms)
        if series.kind == "pick":
            teams = rng.sample(_NBA, n)
            weights = [rng.random() ** 2 + 0.02 for _ in teams]
            total = sum(weights)
            player = rng.choice(("LeBron James", "Jimmy Butler", "Kevin Durant", "Damian Lillard"))
            return [(team, f"Will {player} play for {team} next?", w / total) for team, w in zip(teams, weights)]
        level = series.base * (1 + rng.gauss(0, 0.02))
        spread = series.step * n / 2.5  # the underlying's uncertainty at close, in strike units
        first = round(level / series.step) * series.step - series.step * (n // 2)
        out = []
        for i in range(n):
            strike = first + i * series.step
            if series.kind == "above":
                threshold = strike - 0.01
                suffix = f"T{threshold:.2f}"
                prior = _normal_sf((threshold - level) / spread)
                out.append((suffix, series.title.format(when=when, strike=f"{threshold:,.2f}"), prior))
            else:
                mid = strike + series.step / 2
                suffix = f"B{mid:g}"
                prior = (_normal_sf((strike - level) / spread) - _normal_sf((strike + series.step - level) / spread))
                label = f"{strike:,.0f} to {strike + series.step - (0.01 if series.step >= 10 else 1):,.2f}"
                out.append((suffix, series.title.format(when=when, strike=label), prior))
        return out

    def _market(self, series: _Series, event: str, suffix: str, title: str, open_ms: int, close_ms: int) -> Market:
        return Market(
            ticker=f"{event}-{suffix}",
            event_ticker=event,
            series_ticker=series.ticker,
            title=title,
            market_id=str(uuid.UUID(int=self._rng.getrandbits(128), version=4)),
            open_time_ms=open_ms,
            close_time_ms=close_ms,
            price_level_structure=series.structure,
            price_ranges=list(PRICE_LEVEL_STRUCTURES[series.structure]),
            fee_type=series.fee_type,
            fee_multiplier=series.fee_multiplier,
            status=MarketStatus.ACTIVE,
        )


def _normal_sf(z: float) -> float:
    """P(Z > z) for a standard normal."""
    return 0.5 * erfc(z / sqrt(2))


def price_grid(market: Market) -> list[int]:
    """The market's valid prices in pips, ascending."""
    prices = {p for r in market.price_ranges for p in range(r.start, r.end + 1, r.step) if 0 < p < ONE_DOLLAR}
    return sorted(prices)
