"""Simulated sessions: the simulator's markets run in virtual time, written as a session file.

The frames are exactly those a WebSocket subscriber to every market would receive
(snapshots, deltas, trades, tickers, lifecycle), stamped with the virtual receive
time, so training replays the same stream the live actor sees.

Evaluation-only data stays out of the frame log: the header names each starting market's regime
(``meta["regimes"] = {ticker: name}``, when the world has regimes), and the latent sidecar
(:func:`~kalshi_actor.sessions.format.latent_path`, read with
:func:`~kalshi_actor.sessions.format.read_latent`) holds every market's latent YES probability,
at its listing and at every change, plus every market's regime (relisted ones too). Recording it
draws nothing random, so the frames are the same with and without it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Any

from ..sessions.format import SessionWriter, latent_path, market_info, write_latent
from ..trading.fees import FeeSchedule
from .rest_api import wire_market
from .feed import FeedHub
from .world import World

CHUNK_MS = 60_000  # run the world a simulated minute at a time (bounds memory between writes)


def generate_session(path: str | os.PathLike[str], *, n_markets: int, seed: int, duration_s: float,
                     world: World | None = None, regimes: str | Sequence[str] | None = None,
                     latent: bool = True) -> dict[str, Any]:
    """Write ``duration_s`` simulated seconds of ``n_markets`` markets to ``path``; returns counts and speed.

    ``regimes`` (see :mod:`sim.regimes`) is passed to the :class:`World` made here (give a ``world`` its
    regimes yourself). ``latent``: write the latent sidecar (any stale one is removed otherwise)."""
    if n_markets < 1:
        raise ValueError("n_markets must be at least 1")
    if duration_s <= 0:
        raise ValueError("duration_s must be positive")
    if world is not None and regimes is not None:
        raise ValueError("give the world its regimes: World(..., regimes=...)")
    world = world or World(seed=seed, n_markets=n_markets, clock="virtual", regimes=regimes)
    if world.clock_kind != "virtual":
        raise ValueError("sessions are generated in virtual time")
    if latent:
        world.trace_latent()
    hub = FeedHub(world.engine)
    meta = {"source": "sim", "seed": seed, "markets": n_markets, "duration_s": duration_s,
            "start_ms": world.engine.now_ms(),
            "market_info": market_info([wire_market(world.engine, m) for m in world.engine.markets.values()],
                                       {m.ticker: FeeSchedule.of(m.fee_type, m.fee_multiplier)
                                        for m in world.engine.markets.values()})}
    if world.regimes is not None:
        meta["regimes"] = {t: world.regime_of[t] for t in world.engine.markets if t in world.regime_of}
    started = time.perf_counter()
    with SessionWriter(path, meta, flush_every=4096) as writer:
        now_ns = lambda: world.engine.now_ms() * 1_000_000  # noqa: E731  (virtual receive time)
        feed = hub.connect(None, lambda frame: writer.write(frame, now_ns()))
        feed.subscribe_all()
        world.start()
        remaining_ms = int(duration_s * 1000)
        while remaining_ms > 0:
            step = min(CHUNK_MS, remaining_ms)
            world.run_for(step)
            remaining_ms -= step
        feed.close()
        frames = writer.records
    sidecar = _write_latent(path, world) if latent else _remove_stale_latent(path)
    wall_s = time.perf_counter() - started
    return {"path": os.fspath(path), "frames": frames, "simulated_s": duration_s, "wall_s": round(wall_s, 3),
            "frames_per_s": round(frames / wall_s) if wall_s else None, "latent": sidecar}


def _write_latent(path: str | os.PathLike[str], world: World) -> str:
    trace = world.latent_trace or {}
    return os.fspath(write_latent(path, trace, {t: world.regime_of[t] for t in trace}))


def _remove_stale_latent(path: str | os.PathLike[str]) -> None:
    latent_path(path).unlink(missing_ok=True)
