"""The simulator's clocks, market catalog and synthetic world."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections import Counter

from kalshi_actor.sim.clock import DEFAULT_START_MS, RealTimeClock, VirtualClock
from kalshi_actor.sim.markets import Catalog, price_grid
from kalshi_actor.sim.types import BookChanged, MarketLifecycle, MarketStatus, Traded
from kalshi_actor.sim.world import World
from kalshi_actor.units import ONE_DOLLAR

# --- clock ---


def test_virtual_clock_runs_in_time_then_scheduling_order():
    clock = VirtualClock(1_000)
    seen = []
    clock.call_at(1_500, lambda: seen.append(("b", clock.now_ms())))
    clock.call_at(1_200, lambda: seen.append(("a", clock.now_ms())))
    clock.call_at(1_500, lambda: seen.append(("c", clock.now_ms())))
    doomed = clock.call_at(1_300, lambda: seen.append(("never", 0)))
    clock.cancel(doomed)
    clock.call_later(100, lambda: clock.call_later(50, lambda: seen.append(("d", clock.now_ms()))))
    assert clock.run_until(1_400) == 3  # the one that schedules d (at 1_100), d, a
    assert clock.now_ms() == 1_400
    clock.run_until(2_000)
    assert [s for s, _ in seen] == ["d", "a", "b", "c"]
    assert dict(seen) == {"d": 1_150, "a": 1_200, "b": 1_500, "c": 1_500}
    assert clock.now_ms() == 2_000


async def test_real_time_clock_paces_and_reports_scheduled_times():
    clock = RealTimeClock(5_000, speed=100.0)
    seen = []
    for t in (5_100, 5_300, 5_200):
        clock.call_at(t, lambda t=t: seen.append((t, clock.now_ms())))
    clock.start()
    await asyncio.sleep(0.05)  # 5 s of paced time at speed 100
    clock.stop()
    assert seen == [(5_100, 5_100), (5_200, 5_200), (5_300, 5_300)]


# --- catalog ---

MARKET_TICKER = re.compile(r"^KX[A-Z]+-(\d{2}[A-Z]{3}\d{2}(\d{2})?|\d{2}[A-Z]{4})-([TB][\d.]+|[A-Z]{3})$")


def test_catalog_is_kalshi_shaped_and_deterministic():
    listings = Catalog(11).initial(60, DEFAULT_START_MS)
    again = Catalog(11).initial(60, DEFAULT_START_MS)
    assert [(l.market.ticker, l.market.market_id, l.prior) for l in listings] == \
        [(l.market.ticker, l.market.market_id, l.prior) for l in again]
    assert len({l.market.ticker for l in listings}) == 60
    structures = Counter(l.market.price_level_structure for l in listings)
    assert set(structures) == {"linear_cent", "tapered_deci_cent"}
    for listing in listings:
        market = listing.market
        assert MARKET_TICKER.match(market.ticker), market.ticker
        assert market.ticker.startswith(market.event_ticker + "-")
        assert market.event_ticker.startswith(market.series_ticker + "-")
        assert uuid.UUID(market.market_id).version == 4
        assert market.open_time_ms <= DEFAULT_START_MS < market.close_time_ms
        assert 0.0 <= listing.prior <= 1.0
        grid = price_grid(market)
        if market.price_level_structure == "linear_cent":
            assert grid == list(range(100, ONE_DOLLAR, 100))
        else:
            assert len(market.price_ranges) == 3
            assert grid[:3] == [10, 20, 30] and 5_000 in grid and 5_050 not in grid and grid[-1] == 9_990
    assert [l.market.ticker for l in Catalog(12).initial(60, DEFAULT_START_MS)] != \
        [l.market.ticker for l in listings]


# --- world ---


def _record(world: World) -> list:
    events: list = []
    world.engine.listeners.append(events.append)
    return events


def test_world_books_are_live_on_both_sides():
    world = World(seed=3, n_markets=12)
    events = _record(world)
    world.run_for(60_000)
    changes = Counter(e.ticker for e in events if isinstance(e, BookChanged))
    assert len(changes) == 12
    deep = 0
    for ticker in world.live:
        yes, no = world.engine.book(ticker, "yes"), world.engine.book(ticker, "no")
        assert yes and no, ticker  # a long shot may have just one YES level, at the lowest tick
        deep += len(yes) >= 3 and len(no) >= 3
        best_yes, best_no = max(yes), max(no)
        assert best_yes + best_no < ONE_DOLLAR  # not crossed
        assert ONE_DOLLAR - best_no - best_yes <= 1_500  # a spread of cents, not dollars
        assert 1 <= changes[ticker] / 60 <= 100  # book changes per second
    assert deep >= 0.75 * len(world.live)
    sizes = [e.delta for e in events if isinstance(e, BookChanged)]
    assert any(s % 100 for s in sizes) and any(s % 100 == 0 for s in sizes)  # fractional and whole lots
    assert sum(isinstance(e, Traded) for e in events) > 12


def test_same_seed_same_event_stream():
    def stream(seed: int) -> list[str]:
        world = World(seed=seed, n_markets=8)
        events = _record(world)
        world.run_for(20_000)
        return [repr(e) for e in events]

    first = stream(5)
    assert len(first) > 1_000
    assert stream(5) == first
    assert stream(6) != first


async def test_real_time_clock_gives_the_virtual_event_stream():
    paced = World(seed=9, n_markets=5, clock=RealTimeClock(DEFAULT_START_MS, speed=50.0))
    paced_events = _record(paced)
    paced.start()
    await asyncio.sleep(0.25)  # about 12 s of market time
    await paced.stop()
    reached = paced.clock.now_ms()
    assert reached > DEFAULT_START_MS + 2_000

    virtual = World(seed=9, n_markets=5)
    virtual_events = _record(virtual)
    virtual.start()
    virtual.clock.run_until(reached)
    assert len(paced_events) > 100
    assert [repr(e) for e in paced_events] == [repr(e) for e in virtual_events]


def test_markets_close_settle_relist_and_money_is_conserved():
    world = World(seed=2, n_markets=6, lifetime_ms=(20_000, 40_000), settle_delay_ms=1_000)
    engine = world.engine
    initial = sum(a.balance for a in engine.accounts.values())
    first = set(engine.markets)
    events = _record(world)
    world.run_for(90_000)
    lifecycle = [e for e in events if isinstance(e, MarketLifecycle)]
    settled = {e.ticker for e in lifecycle if e.event_type == "settled"}
    assert first <= settled
    assert all(engine.markets[t].status is MarketStatus.SETTLED and engine.markets[t].result in ("yes", "no")
               for t in settled)
    assert len(engine.markets) > 6 and world.live  # new events were listed
    assert all(engine.markets[t].status is MarketStatus.ACTIVE for t in world.live if t not in settled
               and engine.markets[t].close_time_ms > world.clock.now_ms())
    held = sum(a.balance + a.resting_order_cost for a in engine.accounts.values())
    open_value = sum(m.open_interest * ONE_DOLLAR for m in engine.markets.values())
    assert held + open_value + engine.fees_collected == initial
    assert engine.fees_collected > 0
