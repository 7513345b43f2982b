"""Simulator speed: the synthetic world in virtual time, and the bare matching engine.

* world: 100 markets with their synthetic traders under a :class:`VirtualClock`, run as fast
  as the CPU allows after a warm-up: engine events per wall second, simulated seconds per
  wall second, and the book-change rate per market per simulated second (realism check:
  real Kalshi books change a few to tens of times per second).
* world + feed: the same with a ``sim.feed.FeedHub`` turning engine events into Kalshi
  frames for one consumer subscribed to every public channel of every market.
* engine: place + cancel of resting orders, and crossing IOC orders against a deep book.

Run alone: ``python -m benchmarks.bench_sim [simulated_seconds]``.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from typing import Any

from kalshi_actor.sim.engine import Engine
from kalshi_actor.sim.markets import LINEAR_CENT
from kalshi_actor.sim.types import BookChanged, Market, TimeInForce, Traded
from kalshi_actor.sim.world import World

SIM_SECONDS = 120
N_MARKETS = 100


def bench_world(sim_seconds: int = SIM_SECONDS, n_markets: int = N_MARKETS) -> dict[str, Any]:
    world = World(seed=1, n_markets=n_markets)
    world.run_for(10_000)  # warm-up: books filled
    kinds: Counter[type] = Counter()
    world.engine.listeners.append(lambda event: kinds.update((type(event),)))
    start = time.perf_counter()
    world.run_for(sim_seconds * 1000)
    wall = time.perf_counter() - start
    events = sum(kinds.values())
    return {
        "benchmark": f"world: {n_markets} markets, virtual time",
        "sim_s_per_wall_s": round(sim_seconds / wall, 1),
        "engine_events_per_s": round(events / wall),
        "book_changes_per_market_per_sim_s": round(kinds[BookChanged] / n_markets / sim_seconds, 1),
        "trades_per_market_per_sim_min": round(kinds[Traded] / n_markets / sim_seconds * 60, 1),
        "seconds": round(wall, 2),
    }


def bench_world_with_feed(sim_seconds: int = SIM_SECONDS, n_markets: int = N_MARKETS) -> dict[str, Any] | None:
    """The same world with a FeedHub and one consumer subscribed to every public channel of every market."""
    try:
        from kalshi_actor.sim.feed import FeedHub
    except ImportError:  # the feed is not there yet
        return None
    world = World(seed=1, n_markets=n_markets)
    world.run_for(10_000)
    frames = [0, 0]

    def send(frame: bytes) -> None:
        frames[0] += 1
        frames[1] += len(frame)

    hub = FeedHub(world.engine)
    hub.connect(None, send).subscribe_all()
    frames[:] = [0, 0]  # count the live stream, not the snapshots
    start = time.perf_counter()
    world.run_for(sim_seconds * 1000)
    wall = time.perf_counter() - start
    return {
        "benchmark": f"world + feed (all public channels): {n_markets} markets",
        "sim_s_per_wall_s": round(sim_seconds / wall, 1),
        "frames_per_s": round(frames[0] / wall),
        "frames_per_market_per_sim_s": round(frames[0] / n_markets / sim_seconds, 1),
        "mb_per_s": round(frames[1] / wall / 1e6, 1),
        "seconds": round(wall, 2),
    }


def _engine() -> tuple[Engine, str]:
    engine = Engine(lambda: 0)
    market = Market("KXBENCH-26NOV24-T1", "KXBENCH-26NOV24", "KXBENCH", "bench", "m", 0, 1, "linear_cent",
                    list(LINEAR_CENT))
    engine.add_market(market)
    for name in ("maker", "taker"):
        engine.open_account(name, 10**18, keep_history=False)
    engine.listeners.append(lambda event: None)  # events are built, as with a feed attached
    return engine, market.ticker


def bench_place_cancel(n: int = 100_000) -> dict[str, Any]:
    engine, ticker = _engine()
    start = time.perf_counter()
    for i in range(n):
        order = engine.place_order("maker", ticker, "yes", 100 * (1 + i % 40), 1000)
        engine.cancel_order("maker", order.order_id)
    wall = time.perf_counter() - start
    return {"benchmark": "engine: place + cancel (resting)", "ops_per_s": round(2 * n / wall),
            "seconds": round(wall, 2)}


def bench_crossing(n: int = 50_000) -> dict[str, Any]:
    engine, ticker = _engine()
    start = time.perf_counter()
    for i in range(n):
        engine.place_order("maker", ticker, "no", 5000 + 100 * (i % 3), 300)
        engine.place_order("taker", ticker, "yes", 5000, 500, time_in_force=TimeInForce.IOC)
    wall = time.perf_counter() - start
    return {"benchmark": "engine: resting place + crossing IOC", "ops_per_s": round(2 * n / wall),
            "seconds": round(wall, 2)}


def run(sim_seconds: int = SIM_SECONDS) -> list[dict[str, Any]]:
    rows = [bench_world(sim_seconds), bench_world_with_feed(sim_seconds), bench_place_cancel(), bench_crossing()]
    return [row for row in rows if row is not None]


if __name__ == "__main__":
    for row in run(int(sys.argv[1]) if len(sys.argv) > 1 else SIM_SECONDS):
        print(row)
