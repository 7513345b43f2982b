"""The synthetic world: an engine, a catalog of markets, and the traders that make them move.

``World(seed, n_markets, clock)`` lists the markets at once; :meth:`World.start` schedules
the traders on the clock (and starts a :class:`RealTimeClock`). Under a
:class:`VirtualClock`, :meth:`World.run_for` runs simulated time as fast as the CPU allows.
Markets close at their close time (orders cancelled), settle ``settle_delay_ms`` later (YES
with the latent probability at the close), and, with ``relist``, a new event is listed in
their place so the number of live markets stays about the same.

``regimes`` (a name, or names cycled over the markets in listing order, relisted ones too; see
:mod:`sim.regimes`) sets each market's latent process, spreads, flow, fees and lifetime;
:attr:`World.regime_of` says which market got which (``"base"`` without ``regimes``: the original
behaviour, draw for draw). :meth:`World.trace_latent` records every change of every market's latent
probability (evaluation-only data: nothing the traders or the feed see depends on it).
"""

from __future__ import annotations

import random
from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..units import MONEY_SCALE
from .clock import RealTimeClock, Scheduler, VirtualClock
from .engine import Engine, EngineError
from .markets import Catalog, Listing, price_grid
from .regimes import BASE, Regime, regime_cycle
from .traders import InformedTaker, Latent, MarketMaker, NoiseTaker
from .types import MarketStatus

SYNTHETIC_BALANCE = 10**9 * MONEY_SCALE  # $1e9 each: the synthetic traders never run dry
MAKERS = ("sim-mm-1", "sim-mm-2", "sim-mm-3")
DEEP_MAKER = "sim-mm-deep"
NOISE = "sim-noise"
INFORMED = "sim-informed"


@dataclass(slots=True)
class _Live:
    listing: Listing
    latent: Latent
    rng: random.Random
    agents: list = field(default_factory=list)


class ClockDriven:
    """What drives the simulator's engine: events scheduled on one clock, real or virtual.

    Subclasses set ``self.clock`` and ``self.started = False`` and schedule their events in
    :meth:`_schedule_all` (called once, by the first :meth:`start`).
    """

    clock: Scheduler
    started: bool

    def _schedule_all(self) -> None:
        raise NotImplementedError

    def start(self) -> None:
        """Schedule everything; start a real-time clock on the running loop."""
        if self.started:
            return
        self.started = True
        self._schedule_all()
        if isinstance(self.clock, RealTimeClock):
            self.clock.start()

    async def stop(self) -> None:
        """Stop pacing a real-time clock (scheduled events stay queued; a later start resumes)."""
        if isinstance(self.clock, RealTimeClock):
            self.clock.stop()

    @property
    def clock_kind(self) -> str:
        """``"virtual"`` (advanced by :meth:`run_for`) or ``"real_time"``."""
        return "virtual" if isinstance(self.clock, VirtualClock) else "real_time"

    def run_for(self, duration_ms: int) -> int:
        """Virtual time only: run ``duration_ms`` of simulated time now. Returns events run."""
        if not isinstance(self.clock, VirtualClock):
            raise TypeError("run_for needs a VirtualClock; a RealTimeClock runs by itself")
        self.start()
        return self.clock.run_for(duration_ms)


class World(ClockDriven):
    """Engine + markets + synthetic traders on one clock.

    ``clock`` is a :class:`VirtualClock` / :class:`RealTimeClock`, or ``"virtual"`` (the
    default, starting at :data:`DEFAULT_START_MS`) / ``"real"`` (starting at the wall time).

    ``activity`` scales how often traders act (1.0: a few to tens of book changes per market
    per second). ``lifetime_ms`` is the (min, max) time from listing to close. ``regimes``: see the
    module docstring.
    """

    def __init__(
        self,
        seed: int = 0,
        n_markets: int = 100,
        clock: Scheduler | str | None = None,
        *,
        lifetime_ms: tuple[int, int] = (2 * 3_600_000, 26 * 3_600_000),
        settle_delay_ms: int = 30_000,
        relist: bool = True,
        activity: float = 1.0,
        regimes: str | Sequence[str] | None = None,
    ) -> None:
        self.seed = seed
        self.clock = _make_clock(clock)
        self.engine = Engine(self.clock.now_ms, seed=seed)
        self.catalog = Catalog(seed, lifetime_ms=lifetime_ms)
        self.settle_delay_ms = settle_delay_ms
        self.relist = relist
        self.activity = activity
        self.regimes = regime_cycle(regimes)
        self.regime_of: dict[str, str] = {}  # every market ever listed -> its regime's name
        self.latent_trace: dict[str, tuple[array, array]] | None = None
        self.live: dict[str, _Live] = {}
        self.started = False
        self._relisted: set[str] = set()
        for name in (*MAKERS, DEEP_MAKER, NOISE, INFORMED):
            self.engine.open_account(name, SYNTHETIC_BALANCE, keep_history=False)
        for listing in self.catalog.initial(n_markets, self.clock.now_ms()):
            self._list(listing)

    def _schedule_all(self) -> None:
        for live in list(self.live.values()):
            self._schedule(live)

    def probability(self, ticker: str) -> float:
        """The latent YES probability of a live market now (for tests and dashboards)."""
        return self.live[ticker].latent.at(self.clock.now_ms())

    def trace_latent(self) -> dict[str, tuple[array, array]]:
        """Record every market's latent probability from now on: ``{ticker: (ts_ms 'q', p 'd')}``, the value
        in force now and at each change (markets listed later too). Returns the (growing) record."""
        if self.latent_trace is None:
            self.latent_trace = {}
            for ticker, live in self.live.items():
                self._trace(ticker, live.latent)
        return self.latent_trace

    # --- internals ---
    def _trace(self, ticker: str, latent: Latent) -> None:
        assert self.latent_trace is not None
        self.latent_trace[ticker] = ts_p = (array("q"), array("d"))
        latent.trace_into(*ts_p)

    def _next_regime(self) -> Regime:
        if self.regimes is None:
            return BASE
        return self.regimes[len(self.regime_of) % len(self.regimes)]

    def _apply_terms(self, regime: Regime, listing: Listing, now: int) -> None:
        """The regime's market terms: its fee type, and an earlier close (one per event, so an event's
        markets in the regime close together)."""
        market = listing.market
        if regime.fee_type is not None:
            market.fee_type = regime.fee_type
        if regime.lifetime_ms is not None:
            draw = random.Random(f"regime/{self.seed}/{regime.name}/{market.event_ticker}").randint(*regime.lifetime_ms)
            market.close_time_ms = min(market.close_time_ms, now + draw)

    def _list(self, listing: Listing) -> None:
        market = listing.market
        now = self.clock.now_ms()
        regime = self._next_regime()
        self.regime_of[market.ticker] = regime.name
        self._apply_terms(regime, listing, now)
        rng = random.Random(f"market/{self.seed}/{market.ticker}")
        latent = Latent(random.Random(f"latent/{self.seed}/{market.ticker}"), listing.prior, now, vol=regime.vol,
                        jump_rate=regime.jump_rate, jump_scale=regime.jump_scale, trend=regime.trend)
        if self.latent_trace is not None:
            self._trace(market.ticker, latent)
        self.engine.add_market(market)
        live = self.live[market.ticker] = _Live(listing, latent, rng)
        grid = price_grid(market)
        scale = 1.0 / self.activity
        engine, ticker = self.engine, market.ticker

        def agent_rng(role: str) -> random.Random:
            return random.Random(f"{role}/{self.seed}/{ticker}")

        for name in MAKERS:
            fractional = rng.random() < 0.6
            live.agents.append(MarketMaker(
                engine, name, ticker, latent, agent_rng(name), grid,
                levels=rng.randint(2, 5), half_spread=regime.half_spread(rng.choice((100, 100, 150, 200, 300))), gap=1,
                notional=rng.choice((200, 500, 1000, 3000)) * MONEY_SCALE if fractional else None,
                lots=tuple(rng.choice((1, 5, 10, 13, 25, 100, 250)) * 100 for _ in range(3)),
                refresh_ms=rng.uniform(600, 2500) * scale, skew=rng.uniform(0.00002, 0.0002),
                noise=rng.uniform(0.002, 0.008) * regime.maker_noise,
            ))
        live.agents.append(MarketMaker(
            engine, DEEP_MAKER, ticker, latent, agent_rng(DEEP_MAKER), grid,
            levels=rng.randint(3, 7), half_spread=regime.half_spread(rng.choice((500, 800, 1200, 2000))),
            gap=rng.randint(1, 4),
            notional=rng.choice((5_000, 20_000, 50_000)) * MONEY_SCALE, lots=(500_000,),
            refresh_ms=rng.uniform(15_000, 60_000) * scale, skew=0.0, noise=0.01 * regime.maker_noise,
        ))
        live.agents.append(NoiseTaker(engine, NOISE, ticker, latent, agent_rng(NOISE), grid,
                                      mean_ms=rng.uniform(4_000, 20_000) * scale / regime.noise_flow))
        live.agents.append(InformedTaker(
            engine, INFORMED, ticker, latent, agent_rng(INFORMED), grid,
            mean_ms=rng.uniform(2_000, 6_000) * scale / regime.informed,
            edge=round(rng.choice((200, 300)) * regime.informed_edge),
        ))
        if self.started:
            self._schedule(live)

    def _schedule(self, live: _Live) -> None:
        clock = self.clock
        for agent in live.agents:
            clock.call_later(live.rng.randint(0, 1_000), self._run_agent, agent)
        clock.call_at(live.listing.market.close_time_ms, self._close, live.listing.market.ticker)

    def _run_agent(self, agent) -> None:
        try:
            delay = agent.step(self.clock.now_ms())
        except EngineError:
            delay = 1_000  # e.g. the book moved between looking and ordering; try again later
        if delay is not None:
            self.clock.call_later(delay, self._run_agent, agent)

    def _close(self, ticker: str) -> None:
        """Close a market; its result is drawn now, from the latent probability at the close."""
        live = self.live[ticker]
        self.engine.close_market(ticker)  # a no-op if an admin closed it already
        if self.engine.markets[ticker].status is MarketStatus.SETTLED:
            del self.live[ticker]
            return
        result = "yes" if live.rng.random() < live.latent.at(self.clock.now_ms()) else "no"
        self.clock.call_later(self.settle_delay_ms, self._settle, ticker, result)
        event = live.listing.market.event_ticker
        if self.relist and event not in self._relisted:  # one new event per closed event
            self._relisted.add(event)
            for listing in self.catalog.new_event(self.clock.now_ms()):
                self._list(listing)

    def _settle(self, ticker: str, result: str) -> None:
        del self.live[ticker]
        if self.engine.markets[ticker].status is not MarketStatus.SETTLED:
            self.engine.settle_market(ticker, result)


def _make_clock(clock: Scheduler | str | None) -> Scheduler:
    if clock is None or clock == "virtual":
        return VirtualClock()
    if clock in ("real", "real_time"):
        return RealTimeClock()
    if isinstance(clock, Scheduler):
        return clock
    raise ValueError(f"clock must be 'virtual', 'real' or a clock object, got {clock!r}")
