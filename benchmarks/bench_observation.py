"""The observation path: MarketData.feed (frames -> books + history) and ObservationBuilder.build.

The stream is a simulator session (virtual time, ``N_MARKETS`` markets, ``SIM_SECONDS``
simulated seconds). Rows:

- ``marketdata.feed``: frames per second through :class:`MarketData` (decode, seq check,
  book, history, clock), next to the bare :class:`FrameIngestor` on the same frames;
- ``build n=1`` / ``build n=100``: one market per call (what a single-market env step
  pays) and a batch of 100 markets (what the live actor pays per tick), each market with
  a position and a resting order on both sides (the most expensive case);
- ``feed + build per book change``: the env's inner loop without policy or fills:
  ingest a frame, build the observation of each market it changed.

The builds are compared with the same rows computed by the plain-Python statement of the
arithmetic (``tests/feature_reference.py``: the implementation the C code replaced).

The target is >= 20,000 env steps/s per core, so a market's build must cost a few
microseconds. Run alone: ``python -m benchmarks.bench_observation``.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from kalshi_actor.books import BookStore
from kalshi_actor.kalshi.ws import FrameIngestor
from kalshi_actor.marketdata import MarketData, MarketInfo
from kalshi_actor.observation import OBS_SIZE, MarketInput, ObservationBuilder
from kalshi_actor.sessions.format import read_frames
from kalshi_actor.sim.generate import generate_session
from kalshi_actor.sim.world import World
from kalshi_actor.trading.types import Position, WorkingOrder

N_MARKETS = 20
SIM_SECONDS = 600
SEED = 11


def _session(tmp: Path, sim_seconds: int) -> tuple[list[bytes], list[MarketInfo]]:
    world = World(seed=SEED, n_markets=N_MARKETS, clock="virtual")
    path = tmp / "obs.session"
    generate_session(path, n_markets=N_MARKETS, seed=SEED, duration_s=sim_seconds, world=world)
    infos = [MarketInfo.from_ranges(t, m.price_ranges, m.close_time_ms) for t, m in world.engine.markets.items()]
    return [raw for _, raw in read_frames(path)], infos


def _best_of(fn: Any, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _inputs(md: MarketData) -> list[MarketInput]:
    """Every fresh market with a position and a resting order on each side, 5 and 9 s old."""
    now = md.now_ms
    out = []
    for book in md.books:
        if book.stale or book.best_yes_bid_price is None or book.best_no_bid_price is None:
            continue
        t = book.ticker
        orders = [
            WorkingOrder("o-yes", "c-yes", t, "yes", book.best_yes_bid_price, 500, now - 5_000, 100, 20_000),
            WorkingOrder("o-no", "c-no", t, "no", book.best_no_bid_price, 300, now - 9_000, 0, 1_000),
        ]
        out.append(MarketInput(book, md.history(t), md.markets[t], now, Position(t, 300, 150_000, 1_000, 200),
                               orders, 900_000_000, 1_000_000_000))
    return out


def _python_statement() -> Any:
    """tests/feature_reference.py: the builder's arithmetic in plain Python (the baseline)."""
    tests = str(Path(__file__).resolve().parent.parent / "tests")
    if tests not in sys.path:
        sys.path.insert(0, tests)
    import feature_reference

    return feature_reference


def run(sim_seconds: int = SIM_SECONDS) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory() as tmp:
        frames, infos = _session(Path(tmp), sim_seconds)

    def bare() -> None:
        feed = FrameIngestor(BookStore()).feed
        for raw in frames:
            feed(raw)

    def ours() -> None:
        feed = MarketData(infos).feed
        for raw in frames:
            feed(raw)

    t_bare, t_ours = _best_of(bare), _best_of(ours)

    md = MarketData(infos)
    for raw in frames:
        md.feed(raw)
    inputs = _inputs(md)
    builder = ObservationBuilder(own_orders_in_book=False)
    one = inputs[:1]
    batch = (inputs * (100 // len(inputs) + 1))[:100]
    n_single, n_batch = 20_000, 300

    def single() -> None:
        build = builder.build
        for _ in range(n_single):
            build(one)

    def batched() -> None:
        build = builder.build
        for _ in range(n_batch):
            build(batch)

    t_one, t_batch = _best_of(single), _best_of(batched)
    reference = _python_statement()

    def python_rows() -> None:
        for _ in range(n_batch // 10):
            for m in batch:
                reference.row_bytes(m, False)

    t_python = _best_of(python_rows) / (n_batch // 10) / len(batch)

    def env_loop() -> int:
        data = MarketData(infos)
        build = ObservationBuilder(own_orders_in_book=False).build
        books, markets, history = data.books.books, data.markets, data.history
        steps = 0
        for raw in frames:
            data.feed(raw)
            for t in data.changed:
                book = books.get(t)
                if book is not None and not book.stale and t in markets:
                    build([MarketInput(book, history(t), markets[t], data.now_ms)])
                    steps += 1
        return steps

    steps = env_loop()
    t_env = _best_of(env_loop)
    return [
        {"benchmark": "marketdata.feed: frame -> books + history + clock", "frames": len(frames),
         "frames_per_s": round(len(frames) / t_ours), "us_per_frame": round(t_ours / len(frames) * 1e6, 2),
         "bare_ingestor_us_per_frame": round(t_bare / len(frames) * 1e6, 2)},
        {"benchmark": f"observation build n=1 ({OBS_SIZE} features, position + 2 orders)", "markets": 1,
         "us_per_market": round(t_one / n_single * 1e6, 2), "builds_per_s": round(n_single / t_one),
         "python_us_per_market": round(t_python * 1e6, 2), "ratio": f"{t_python / (t_one / n_single):.1f}x"},
        {"benchmark": "observation build n=100 (one batch)", "markets": len(batch),
         "us_per_market": round(t_batch / n_batch / len(batch) * 1e6, 2),
         "us_per_batch": round(t_batch / n_batch * 1e6, 1), "python_us_per_market": round(t_python * 1e6, 2),
         "ratio": f"{t_python / (t_batch / n_batch / len(batch)):.1f}x"},
        {"benchmark": "feed + build per book change (env inner loop, no policy)", "frames": len(frames),
         "steps": steps, "steps_per_s": round(steps / t_env), "us_per_step": round(t_env / steps * 1e6, 2)},
    ]


if __name__ == "__main__":
    for row in run(int(sys.argv[1]) if len(sys.argv) > 1 else SIM_SECONDS):
        print(row)
