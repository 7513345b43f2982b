"""Helpers shared by the tests that drive the simulator over real sockets."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from kalshi_actor.kalshi.ws import KalshiWebSocket


async def until(predicate: Callable[[], bool], timeout: float = 15.0) -> None:
    """Wait for a condition (frames travel through real sockets); fail after ``timeout`` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


def books_match_engine(ws: KalshiWebSocket, engine, tickers) -> bool:
    for ticker in tickers:
        book = ws.store.get(ticker)
        if book is None or book.stale:
            return False
        if book.yes != engine.book(ticker, "yes") or book.no != engine.book(ticker, "no"):
            return False
    return True


async def advance(sim, steps: int = 10, ms: int = 500) -> None:
    for _ in range(steps):
        sim.world.run_for(ms)
        await asyncio.sleep(0)
