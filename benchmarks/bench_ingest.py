"""The ingest hot loop: raw WebSocket frame -> parsed -> sequence-checked -> applied to the book.

Ours: :class:`kalshi_actor.kalshi.ws.FrameIngestor` (msgspec structs, cached exact
number conversion, lazy best-price tracking) feeding a :class:`BookStore`.
Baseline, measured in the same run over the same frames: the straightforward
exact implementation, ``json.loads`` into dicts, ``units.parse_price`` /
``parse_count`` per number, a dict-of-dicts book and the same seq check.

The stream is a recorded simulator session: the simulator's world (40 markets,
synthetic traders, virtual clock) with a subscribe-everything :class:`FeedHub`
consumer writing a session file, read back with :func:`sessions.format.read_frames`
(about 84 % ``orderbook_delta``, 15 % ``ticker``, the rest trades and snapshots).
Both implementations must end with identical books, equal to the engine's.

Run alone: ``python -m benchmarks.bench_ingest [n_frames]``.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from kalshi_actor.books import BookStore
from kalshi_actor.kalshi.ws import FrameIngestor
from kalshi_actor.sessions.format import SessionWriter, read_frames
from kalshi_actor.sim.feed import FeedHub
from kalshi_actor.sim.world import World
from kalshi_actor.units import parse_count, parse_price

N_FRAMES = 1_000_000
N_MARKETS = 40


def simulator_session(path: Path, n_frames: int = N_FRAMES, n_markets: int = N_MARKETS, seed: int = 1) -> World:
    """Record at least ``n_frames`` frames of a virtual-time simulator run into a session file."""
    world = World(seed=seed, n_markets=n_markets, clock="virtual", relist=False)
    hub = FeedHub(world.engine)
    with SessionWriter(path, {"source": "sim", "seed": seed, "markets": n_markets}, flush_every=4096) as writer:
        conn = hub.connect(None, lambda raw: writer.write(raw, world.engine.now_ms() * 1_000_000))
        conn.subscribe_all()
        while writer.records < n_frames:
            world.run_for(60_000)
        conn.close()
    return world


def baseline_ingest(frames: list[bytes]) -> dict[str, dict[str, dict[int, int]]]:
    """The plain approach: json.loads -> dict, exact unit parsing per field, dict books, seq check."""
    books: dict[str, dict[str, dict[int, int]]] = {}
    last_seq: dict[int, int] = {}
    others = []
    for raw in frames:
        frame = json.loads(raw)
        sid = frame.get("sid")
        seq = frame.get("seq")
        if sid is not None and seq is not None:
            last = last_seq.get(sid)
            if last is not None and seq != last + 1:
                raise AssertionError("gap")
            last_seq[sid] = seq
        kind = frame["type"]
        msg = frame.get("msg")
        if kind == "orderbook_delta":
            levels = books[msg["market_ticker"]][msg["side"]]
            price = parse_price(msg["price_dollars"])
            size = levels.get(price, 0) + parse_count(msg["delta_fp"])
            if size > 0:
                levels[price] = size
            elif size == 0:
                levels.pop(price, None)
            else:
                raise AssertionError("negative level")
        elif kind == "orderbook_snapshot":
            books[msg["market_ticker"]] = {
                "yes": {parse_price(p): parse_count(c) for p, c in msg.get("yes_dollars_fp", [])},
                "no": {parse_price(p): parse_count(c) for p, c in msg.get("no_dollars_fp", [])},
            }
        else:
            others.append(frame)
    return books


def ours_ingest(frames: list[bytes]) -> BookStore:
    store = BookStore()
    feed = FrameIngestor(store).feed
    others = []
    for raw in frames:
        frame = feed(raw)
        if frame is not None:
            others.append(frame)
    return store


def _timed(fn, frames: list[bytes], repeat: int = 2) -> tuple[float, Any]:
    best = float("inf")
    result = None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn(frames)
        best = min(best, time.perf_counter() - start)
    return best, result


def run(n_frames: int = N_FRAMES) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.session"
        world = simulator_session(path, n_frames)
        frames = [raw for _, raw in read_frames(path)]
    t_cold, _ = _timed(ours_ingest, frames, repeat=1)  # number caches empty at first
    t_ours, store = _timed(ours_ingest, frames)
    t_base, books = _timed(baseline_ingest, frames)
    ours_books = {b.ticker: {"yes": b.yes, "no": b.no} for b in store}
    engine_books = {t: {"yes": world.engine.book(t, "yes"), "no": world.engine.book(t, "no")} for t in ours_books}
    if ours_books != books or ours_books != engine_books or any(b.stale for b in store):
        raise AssertionError("ours, the baseline and the engine disagree about the books")
    ours_rate = len(frames) / t_ours
    base_rate = len(frames) / t_base
    return [
        {"benchmark": "ingest: frame -> parse -> seq -> book (FrameIngestor)", "frames": len(frames),
         "seconds": round(t_ours, 3), "frames_per_s": round(ours_rate), "vs_baseline": round(ours_rate / base_rate, 2),
         "first_pass_frames_per_s": round(len(frames) / t_cold)},
        {"benchmark": "ingest baseline: json.loads + dict books", "frames": len(frames),
         "seconds": round(t_base, 3), "frames_per_s": round(base_rate), "vs_baseline": 1.0},
    ]


if __name__ == "__main__":
    for row in run(int(sys.argv[1]) if len(sys.argv) > 1 else N_FRAMES):
        print(row)
