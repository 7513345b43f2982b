"""``kalshi-actor record``: follow markets on an exchange and write every frame received to a session.

The recorder speaks to any exchange with Kalshi's protocol (the simulator, Kalshi's
demo, Kalshi itself): it picks the markets over REST (the most traded open markets,
or the tickers given), subscribes ``orderbook_delta``, ``trade``, ``ticker`` (those
markets) and ``market_lifecycle_v2`` (Kalshi filters that channel by nothing), and
writes every frame exactly as it arrived, with its receive time, through
:class:`~kalshi_actor.sessions.format.SessionWriter`. The connection is the
project's :class:`~kalshi_actor.kalshi.ws.KalshiWebSocket`, so reconnects and gap
recovery happen as they do live, and their frames (new ``subscribed`` replies,
recovery snapshots) are in the session too: replaying it through a
:class:`~kalshi_actor.kalshi.ws.FrameIngestor` rebuilds the books the recorder had.

The header holds what training needs besides the frames: where it was recorded, the
tickers, and each market's wire description (close times, ``price_ranges``...), which
:meth:`Market.from_wire <kalshi_actor.kalshi.models.Market.from_wire>` reads back, with its
series' fee schedule (``fee_type``, ``fee_multiplier``: ``GET /series/{ticker}``, once per series).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .. import __version__
from ..kalshi import rest as kalshi_rest
from ..kalshi import ws as kalshi_ws
from ..kalshi.auth import KeyLoadError, Signer
from ..kalshi.errors import KalshiError
from ..kalshi.models import Market
from ..kalshi.rest import RestClient
from ..kalshi.ws import KalshiWebSocket, WSCommandError
from ..marketdata.discovery import MarketSelectionError, discover_markets, fee_schedules, fetch_markets
from ..trading.fees import FeeSchedule
from .format import SessionWriter, market_info

log = logging.getLogger(__name__)

MARKET_CHANNELS = ("orderbook_delta", "trade", "ticker")
ALL_MARKETS_CHANNELS = ("market_lifecycle_v2",)  # Kalshi does not filter this channel by market
CHANNELS = MARKET_CHANNELS + ALL_MARKETS_CHANNELS

# What the header keeps of each market (wire names; Market.from_wire reads it back).
KEY_ID_ENV = "KALSHI_API_KEY_ID"
PRIVATE_KEY_ENV = "KALSHI_PRIVATE_KEY"  # the PEM text itself
PRIVATE_KEY_FILE_ENV = "KALSHI_PRIVATE_KEY_FILE"

__all__ = ["Endpoints", "ENVIRONMENTS", "RecordError", "RecordStats", "Recorder", "record", "endpoints",
           "load_signer", "CHANNELS"]


class RecordError(Exception):
    """The recording cannot start (bad credentials, unknown tickers, no open markets, no connection)."""


@dataclass(frozen=True)
class Endpoints:
    """An exchange's REST base URL and WebSocket URL; ``name`` goes in the session header."""

    name: str
    rest: str
    ws: str


ENVIRONMENTS = {
    "sim": Endpoints("sim", "http://127.0.0.1:8000/trade-api/v2", "ws://127.0.0.1:8000/trade-api/ws/v2"),  # make run
    "demo": Endpoints("demo", kalshi_rest.DEMO_URL, kalshi_ws.DEMO_URL),
    "production": Endpoints("production", kalshi_rest.PRODUCTION_URL, kalshi_ws.PRODUCTION_URL),
}


def endpoints(env: str | None = None, rest_url: str | None = None, ws_url: str | None = None) -> Endpoints:
    """The environment's URLs (``sim`` by default), either overridden; overrides without ``env`` are ``custom``."""
    try:
        base = ENVIRONMENTS[env or "sim"]
    except KeyError:
        raise RecordError(f"unknown environment {env!r}; choose one of {', '.join(ENVIRONMENTS)}") from None
    if rest_url is None and ws_url is None:
        return base
    return Endpoints(env or "custom", (rest_url or base.rest).rstrip("/"), ws_url or base.ws)


def load_signer(key_id: str | None = None, private_key_file: str | os.PathLike[str] | None = None,
                environ: Mapping[str, str] = os.environ) -> Signer:
    """The API key: arguments first, then ``KALSHI_API_KEY_ID`` and ``KALSHI_PRIVATE_KEY`` (PEM text)
    or ``KALSHI_PRIVATE_KEY_FILE``. Errors name what is missing, never the key."""
    key_id = key_id or environ.get(KEY_ID_ENV)
    if not key_id:
        raise RecordError(f"no API key id: pass --key-id or set {KEY_ID_ENV}")
    try:
        if private_key_file:
            return Signer.from_pem_file(key_id, private_key_file)
        if environ.get(PRIVATE_KEY_ENV):
            return Signer.from_pem(key_id, environ[PRIVATE_KEY_ENV])
        if environ.get(PRIVATE_KEY_FILE_ENV):
            return Signer.from_pem_file(key_id, environ[PRIVATE_KEY_FILE_ENV])
    except KeyLoadError as exc:
        raise RecordError(f"private key: {exc}") from None
    raise RecordError(f"no private key: pass --private-key-file or set {PRIVATE_KEY_ENV} (PEM text) "
                      f"or {PRIVATE_KEY_FILE_ENV}")


@dataclass
class RecordStats:
    """What a recording wrote; ``seconds`` is wall time from the first subscription to the stop."""

    path: str
    frames: int
    markets: int
    reconnects: int
    gaps: int
    resyncs: int
    seconds: float

    def summary(self) -> str:
        return (f"recorded {self.frames} frames of {self.markets} markets in {self.seconds:.1f}s to {self.path} "
                f"({self.reconnects} reconnects, {self.gaps} gaps, {self.resyncs} resyncs)")


class Recorder:
    """One recording session. ``await run()`` records until ``duration_s`` passes or :meth:`stop` is called.

    ``flush_interval_s`` bounds what a crash can lose (seconds of frames); ``fsync``
    also forces them to disk (power loss). ``ws_options`` go to :class:`KalshiWebSocket`.
    """

    def __init__(self, path: str | os.PathLike[str], *, endpoints: Endpoints, signer: Signer,
                 tickers: Sequence[str] | None = None, n_markets: int = 10, flush_interval_s: float = 1.0,
                 fsync: bool = False, connect_timeout_s: float = 15.0,
                 ws_options: Mapping[str, Any] | None = None) -> None:
        self.path = Path(path)
        self.endpoints = endpoints
        self.signer = signer
        self.tickers = list(tickers) if tickers else None
        self.n_markets = n_markets
        self.flush_interval_s = flush_interval_s
        self.fsync = fsync
        self.connect_timeout_s = connect_timeout_s
        self.ws_options = dict(ws_options or {})
        self.markets: list[Market] = []
        self.fees: dict[str, FeeSchedule] = {}  # market ticker -> its series' fee schedule
        self.ws: KalshiWebSocket | None = None
        self.writer: SessionWriter | None = None
        self._stop = asyncio.Event()

    def stop(self) -> None:
        """End the recording (safe from a signal handler or another task)."""
        self._stop.set()

    async def run(self, duration_s: float | None = None) -> RecordStats:
        if self.path.exists() and self.path.stat().st_size > 0:
            raise RecordError(f"{self.path} exists; choose a new --out")
        async with RestClient(self.endpoints.rest, self.signer) as rest:
            try:
                self.markets = (await fetch_markets(rest, self.tickers) if self.tickers
                                else await discover_markets(rest, self.n_markets))
                self.fees = await fee_schedules(rest, self.markets)
            except MarketSelectionError as exc:
                raise RecordError(str(exc)) from None
            except KalshiError as exc:
                raise RecordError(f"choosing markets at {self.endpoints.rest}: {exc}") from None
        tickers = [m.ticker for m in self.markets]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.writer = writer = SessionWriter(self.path, self._header(tickers), flush_every=4096, fsync=self.fsync)
        self.ws = ws = KalshiWebSocket(self.signer, self.endpoints.ws,
                                       on_raw=lambda raw: writer.write(raw, time.time_ns()), **self.ws_options)
        flusher = asyncio.create_task(self._flush_regularly(writer))
        started = time.monotonic()
        try:
            await self._connect_and_subscribe(ws, tickers)
            started = time.monotonic()
            log.info("recording %d markets from %s to %s", len(tickers), self.endpoints.ws, self.path)
            try:
                await asyncio.wait_for(self._stop.wait(), duration_s)
            except TimeoutError:
                pass
        finally:
            seconds = time.monotonic() - started
            flusher.cancel()
            await asyncio.gather(flusher, return_exceptions=True)
            await ws.close()
            writer.close()
            if writer.records == 0:
                self.path.unlink(missing_ok=True)  # nothing recorded: leave no empty session behind
        stats = ws.stats
        return RecordStats(os.fspath(self.path), writer.records, len(tickers), stats.reconnects, stats.gaps,
                           stats.resyncs, seconds)

    def _header(self, tickers: list[str]) -> dict[str, Any]:
        now = datetime.now(timezone.utc)
        return {
            "source": self.endpoints.name,
            "recorder": f"kalshi-actor record {__version__}",
            "rest_url": self.endpoints.rest,
            "ws_url": self.endpoints.ws,
            "started_at": now.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "selection": "tickers" if self.tickers else f"top {self.n_markets} by volume",
            "channels": list(CHANNELS),
            "tickers": tickers,
            "market_info": market_info(self.markets, self.fees),
        }

    async def _connect_and_subscribe(self, ws: KalshiWebSocket, tickers: list[str]) -> None:
        ws.start()
        try:
            await ws.wait_ready(self.connect_timeout_s)
        except TimeoutError:
            raise RecordError(f"could not connect to {self.endpoints.ws} in {self.connect_timeout_s:.0f}s "
                              f"(the log says why)") from None
        try:
            await ws.subscribe(MARKET_CHANNELS, tickers)
            await ws.subscribe(ALL_MARKETS_CHANNELS)
        except WSCommandError as exc:
            raise RecordError(f"subscribing at {self.endpoints.ws}: {exc}") from None

    async def _flush_regularly(self, writer: SessionWriter) -> None:
        while True:
            await asyncio.sleep(self.flush_interval_s)
            writer.flush()


async def record(path: str | os.PathLike[str], *, endpoints: Endpoints, signer: Signer,
                 tickers: Sequence[str] | None = None, n_markets: int = 10, duration_s: float | None = None,
                 fsync: bool = False, handle_signals: bool = True) -> RecordStats:
    """Record until ``duration_s`` seconds pass or SIGINT/SIGTERM arrives (the session is closed cleanly)."""
    recorder = Recorder(path, endpoints=endpoints, signer=signer, tickers=tickers, n_markets=n_markets, fsync=fsync)
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM) if handle_signals else ()
    for signum in signals:
        loop.add_signal_handler(signum, recorder.stop)
    try:
        return await recorder.run(duration_s)
    finally:
        for signum in signals:
            loop.remove_signal_handler(signum)
