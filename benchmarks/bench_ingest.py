"""The ingest hot loop: raw WebSocket frame -> parsed -> sequence-checked -> applied to the book.

Ours: :class:`kalshi_actor.kalshi.ws.FrameIngestor` (msgspec structs, cached exact
number conversion, lazy best-price tracking) feeding a :class:`BookStore`.
Baseline, measured in the same run over the same frames: the straightforward
exact implementation, ``json.loads`` into dicts, ``units.parse_price`` /
``parse_count`` per number, a dict-of-dicts book and the same seq check.

The stream is simulator-like: a few dozen markets, a snapshot each, then about
95 % ``orderbook_delta`` frames (a random walk of resting sizes around a moving
mid, never below zero) mixed with ``trade`` and ``ticker`` frames, all encoded
exactly as Kalshi sends them. Both implementations must end with identical books.

Run alone: ``python -m benchmarks.bench_ingest [n_frames]``.
"""

from __future__ import annotations

import json
import random
import sys
import time
from typing import Any

import orjson

from kalshi_actor.books import BookStore
from kalshi_actor.kalshi.ws import FrameIngestor
from kalshi_actor.units import format_count, format_price, parse_count, parse_price

N_FRAMES = 1_000_000
N_MARKETS = 40


def simulated_frames(n: int = N_FRAMES, n_markets: int = N_MARKETS, seed: int = 1) -> list[bytes]:
    """``n`` frames of one orderbook subscription (sid 1) plus a trade (sid 2) and ticker (sid 3) feed."""
    rng = random.Random(seed)
    ts_ms = 1_782_873_105_308
    markets = [(f"KXSIM-26JUL03-T{i:03d}", f"00000000-0000-4000-8000-{i:012d}") for i in range(n_markets)]
    books: list[dict[str, dict[int, int]]] = []
    mids = [rng.randrange(1500, 8500, 100) for _ in markets]
    frames: list[bytes] = [orjson.dumps({"type": "subscribed", "id": 1, "msg": {"channel": "orderbook_delta", "sid": 1}})]
    seq = {1: 0, 2: 0}
    for (ticker, market_id), mid in zip(markets, mids):
        yes = {p: rng.randrange(1, 500) * 100 for p in range(mid - 1500, mid, 100)}
        no = {p: rng.randrange(1, 500) * 100 for p in range(10_000 - mid - 1400, 10_000 - mid + 100, 100)}
        books.append({"yes": yes, "no": no})
        seq[1] += 1
        frames.append(orjson.dumps({"type": "orderbook_snapshot", "sid": 1, "seq": seq[1], "msg": {
            "market_ticker": ticker, "market_id": market_id,
            "yes_dollars_fp": [[format_price(p), format_count(s)] for p, s in sorted(yes.items())],
            "no_dollars_fp": [[format_price(p), format_count(s)] for p, s in sorted(no.items())]}}))
    while len(frames) < n:
        i = rng.randrange(n_markets)
        ticker, market_id = markets[i]
        ts_ms += rng.randrange(0, 40)
        roll = rng.random()
        if roll < 0.03:
            seq[2] += 1
            price = mids[i] + rng.choice((-100, 0, 100))
            count = rng.randrange(1, 300) * 100
            frames.append(orjson.dumps({"type": "trade", "sid": 2, "seq": seq[2], "msg": {
                "trade_id": f"{rng.getrandbits(128):032x}", "market_ticker": ticker,
                "yes_price_dollars": format_price(price), "no_price_dollars": format_price(10_000 - price),
                "count_fp": format_count(count), "taker_side": "yes", "taker_outcome_side": "yes",
                "taker_book_side": "bid", "is_block_trade": False, "ts": ts_ms // 1000, "ts_ms": ts_ms}}))
            continue
        if roll < 0.05:
            frames.append(orjson.dumps({"type": "ticker", "sid": 3, "msg": {
                "market_id": market_id, "market_ticker": ticker, "price_dollars": format_price(mids[i]),
                "yes_bid_dollars": format_price(mids[i] - 100), "yes_ask_dollars": format_price(mids[i] + 100),
                "volume_fp": "33896.00", "open_interest_fp": "20422.00", "dollar_volume": 16948,
                "dollar_open_interest": 10211, "yes_bid_size_fp": "300.00", "yes_ask_size_fp": "150.00",
                "last_trade_size_fp": "25.00", "ts": ts_ms // 1000, "ts_ms": ts_ms,
                "time": "2026-07-01T02:31:45Z"}}))
            continue
        if roll < 0.051:  # the mid drifts now and then
            mids[i] = min(8500, max(1500, mids[i] + rng.choice((-100, 100))))
        side = "yes" if rng.random() < 0.5 else "no"
        levels = books[i][side]
        top = mids[i] if side == "yes" else 10_000 - mids[i]
        price = top - 100 * min(int(rng.expovariate(0.35)), 14)
        size = levels.get(price, 0)
        if size and rng.random() < 0.55:
            delta = -size if rng.random() < 0.3 else -rng.randrange(1, size + 1)
        else:
            delta = rng.randrange(1, 200) * 100 if rng.random() < 0.8 else rng.randrange(1, 20_000)
        if size + delta:
            levels[price] = size + delta
        else:
            del levels[price]
        seq[1] += 1
        frames.append(orjson.dumps({"type": "orderbook_delta", "sid": 1, "seq": seq[1], "msg": {
            "market_ticker": ticker, "market_id": market_id, "price_dollars": format_price(price),
            "delta_fp": format_count(delta), "side": side, "ts": "2026-07-01T02:31:45.308599Z", "ts_ms": ts_ms}}))
    return frames


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


def _timed(fn, frames: list[bytes], repeat: int = 3) -> tuple[float, Any]:
    best = float("inf")
    result = None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn(frames)
        best = min(best, time.perf_counter() - start)
    return best, result


def run(n_frames: int = N_FRAMES) -> list[dict[str, Any]]:
    frames = simulated_frames(n_frames)
    t_ours, store = _timed(ours_ingest, frames)
    t_base, books = _timed(baseline_ingest, frames)
    ours_books = {b.ticker: {"yes": b.yes, "no": b.no} for b in store}
    if ours_books != books or any(b.stale for b in store):
        raise AssertionError("ours and the baseline built different books")
    ours_rate = len(frames) / t_ours
    base_rate = len(frames) / t_base
    return [
        {"benchmark": "ingest: frame -> parse -> seq -> book (FrameIngestor)", "frames": len(frames),
         "seconds": round(t_ours, 3), "frames_per_s": round(ours_rate), "vs_baseline": round(ours_rate / base_rate, 2)},
        {"benchmark": "ingest baseline: json.loads + dict books", "frames": len(frames),
         "seconds": round(t_base, 3), "frames_per_s": round(base_rate), "vs_baseline": 1.0},
    ]


if __name__ == "__main__":
    for row in run(int(sys.argv[1]) if len(sys.argv) > 1 else N_FRAMES):
        print(row)
