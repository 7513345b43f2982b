"""Kalshi WebSocket client: subscriptions, sequence tracking per sid, books, recovery.

Two layers:

- :class:`FrameIngestor` (no I/O): raw frame -> :func:`frames.decode` -> per-sid
  ``seq`` check -> order book frames applied to a :class:`BookStore`; every other
  frame is returned to the caller (``feed`` takes raw frames, ``ingest`` frames
  decoded already, as recorded sessions hand them over). A gap marks every book of
  that sid stale and is reported through ``on_stale``. The same object ingests live
  frames, recorded sessions and benchmarks, so they all take the same path.
- :class:`KalshiWebSocket` (asyncio + ``websockets``): the signed connection (its
  auth header values are redacted from the ``websockets`` debug log), commands and
  their replies, and recovery: ``get_snapshot`` (then resubscribe) on a gap,
  resubscribe on terminal errors (codes 10, 25), reconnect with capped exponential
  backoff and jitter (every subscription again, with new sids; the backoff starts
  over after a connection that stayed up ``healthy_after`` seconds), and a watchdog
  that reconnects a connection silent for ``silence_timeout`` seconds.

Every recovery is counted in :class:`WSStats` and logged once per occurrence (never
per frame); malformed frames are counted, logged sparsely and skipped.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

import msgspec
import orjson
import websockets
from websockets.asyncio.client import ClientConnection

from ..books import BookStore
from ..units import ONE_DOLLAR
from . import frames as F
from .auth import Signer

log = logging.getLogger(__name__)
_ws_log = logging.getLogger("websockets.client")  # websockets' own default: its users' log config still applies
REDACTED = "[redacted]"

WS_PATH = "/trade-api/ws/v2"
PRODUCTION_URL = "wss://external-api-ws.kalshi.com" + WS_PATH
DEMO_URL = "wss://external-api-ws.demo.kalshi.co" + WS_PATH

CHANNELS = (
    "orderbook_delta",
    "trade",
    "ticker",
    "fill",
    "user_orders",
    "market_positions",
    "market_lifecycle_v2",
)
BOOK_CHANNEL = "orderbook_delta"

_PRICES = F._PRICES  # the converters' caches, read inline on the hot path
_COUNTS = F._COUNTS
_decode_fast = F._decoder.decode  # known types only; F.decode handles the rest


@dataclass
class WSStats:
    """Counters of one client (or ingestor); read them, never reset them mid-run."""

    frames: int = 0
    snapshots: int = 0  # book snapshots applied
    deltas: int = 0  # book deltas applied
    malformed: int = 0
    gaps: int = 0
    resyncs: int = 0  # get_snapshot / resubscribe recoveries started
    resubscribes: int = 0
    reconnects: int = 0
    terminal_errors: int = 0
    command_errors: int = 0
    silent_disconnects: int = 0
    duplicate_frames: int = 0  # seq not above the last one: dropped
    rejected_deltas: int = 0  # deltas that took a level below zero (book marked stale)
    orphan_deltas: int = 0  # deltas for a market without a book (no snapshot yet)
    callback_errors: int = 0  # on_event raised
    command_retries: int = 0  # commands sent again after a rate-limit error (26, 27)
    connected: bool = False
    backoff_s: float = 0.0  # the wait before the latest reconnect

    def as_dict(self) -> dict[str, int | float | bool]:
        return asdict(self)


class FrameIngestor:
    """Decode, sequence-check and apply frames; returns the frames that are not book updates.

    ``on_stale(sid, tickers)`` is called once per recovery need, after the books
    were marked stale: a seq gap (all markets of the sid; ``tickers`` may be empty
    for a channel without books) or an impossible delta (that one market). ``yes_priced_sids`` holds sids subscribed with
    ``use_yes_price=True``, whose NO-side prices arrive on the YES scale.
    """

    def __init__(
        self,
        store: BookStore,
        stats: WSStats | None = None,
        *,
        on_stale: Callable[[int, list[str]], None] | None = None,
    ) -> None:
        self.store = store
        self.stats = stats if stats is not None else WSStats()
        self.on_stale = on_stale
        self._rejected_seen = store.rejected_deltas
        self.last_seq: dict[int, int] = {}
        self.sid_tickers: dict[int, set[str]] = {}  # book sids -> markets with a snapshot under them
        self.yes_priced_sids: set[int] = set()

    def feed(self, data: bytes | str) -> F.Frame | F.UnknownFrame | None:
        """Ingest one raw frame. Returns it unless it was consumed (book update) or dropped."""
        frame = self.decode(data)
        return None if frame is None else self.ingest(frame)

    def decode(self, data: bytes | str) -> F.Frame | F.UnknownFrame | None:
        """Decode one raw frame for :meth:`ingest`; None for a malformed one (counted as a frame and as malformed)."""
        try:
            return _decode_fast(data)
        except msgspec.MsgspecError:  # an unknown type, or malformed: the full path tells which
            try:
                return F.decode(data)
            except F.FrameError as exc:
                self.stats.frames += 1
                self._malformed(exc)
                return None

    def ingest(self, frame: F.Frame | F.UnknownFrame) -> F.Frame | F.UnknownFrame | None:
        """Ingest one decoded frame (:meth:`feed` without the decoding: recorded sessions decode once)."""
        stats = self.stats
        stats.frames += 1
        sid = frame.sid
        if sid is not None:
            seq = frame.seq
            if seq is not None:
                last_seq = self.last_seq
                last = last_seq.get(sid)
                if last is None or seq == last + 1:
                    last_seq[sid] = seq
                elif seq > last:
                    last_seq[sid] = seq
                    self._gap(sid, last + 1, seq)
                else:
                    stats.duplicate_frames += 1
                    return None
        kind = type(frame)
        if kind is F.OrderbookDeltaFrame:
            msg = frame.msg
            price = _PRICES.get(msg.price_dollars)
            delta = _COUNTS.get(msg.delta_fp)
            if price is None or delta is None:
                try:
                    price = F.price_pips(msg.price_dollars)
                    delta = F.count_hundredths(msg.delta_fp)
                except F.FrameError as exc:
                    self._malformed(exc)
                    return None
            side = msg.side
            if self.yes_priced_sids and side == "no" and sid in self.yes_priced_sids:
                price = ONE_DOLLAR - price
            ts_ms = msg.ts_ms
            if ts_ms is None and msg.ts is not None:  # production sent only RFC 3339 ``ts`` (April 2026)
                try:
                    ts_ms = F.rfc3339_ms(msg.ts)
                except F.FrameError as exc:
                    self._malformed(exc)
                    return None
            if self.store.apply_delta(msg.market_ticker, side, price, delta, ts_ms):
                stats.deltas += 1
            else:
                self._not_applied(sid, msg.market_ticker)
            return None
        if kind is F.OrderbookSnapshotFrame:
            self._snapshot(frame)
            return None
        if kind is F.SubscribedFrame:
            self.last_seq[frame.msg.sid] = 0  # the sid's first sequenced frame is seq 1
        elif kind is F.UnsubscribedFrame and sid is not None:
            self.forget_sid(sid)
        return frame

    def _malformed(self, exc: Exception) -> None:
        stats = self.stats
        stats.malformed += 1
        if stats.malformed & (stats.malformed - 1) == 0:  # 1, 2, 4, 8...: visible, never a flood
            log.warning("skipping malformed frame (%d so far): %s", stats.malformed, exc)

    def _not_applied(self, sid: int | None, ticker: str) -> None:
        store = self.store
        if store.rejected_deltas != self._rejected_seen:  # an impossible delta: that book needs a snapshot
            self._rejected_seen = store.rejected_deltas
            self.stats.rejected_deltas += 1
            log.warning("sid %s: %s", sid, store.books[ticker].stale_reason)
            if self.on_stale is not None and sid is not None:
                self.on_stale(sid, [ticker])
        elif ticker not in store.books:
            self.stats.orphan_deltas += 1

    def _snapshot(self, frame: F.OrderbookSnapshotFrame) -> None:
        msg = frame.msg
        try:
            yes = msg.yes_levels()
            no = msg.no_levels()
        except F.FrameError as exc:
            self._malformed(exc)
            return
        if frame.sid in self.yes_priced_sids:
            no = [(ONE_DOLLAR - p, s) for p, s in no]
        self.store.apply_snapshot(msg.market_ticker, yes, no, market_id=msg.market_id)
        self.stats.snapshots += 1
        if frame.sid is not None:
            self.sid_tickers.setdefault(frame.sid, set()).add(msg.market_ticker)

    def _gap(self, sid: int, expected: int, got: int) -> None:
        self.stats.gaps += 1
        tickers = sorted(self.sid_tickers.get(sid, ()))
        self.store.mark_stale(tickers, f"sequence gap on sid {sid}: expected {expected}, got {got}")
        log.warning("sid %d: sequence gap (expected seq %d, got %d); %d books stale", sid, expected, got, len(tickers))
        if self.on_stale is not None:
            self.on_stale(sid, tickers)

    def forget_sid(self, sid: int) -> set[str]:
        """Stop tracking a sid (unsubscribed, or the connection is gone); returns its markets."""
        self.last_seq.pop(sid, None)
        self.yes_priced_sids.discard(sid)
        return self.sid_tickers.pop(sid, set())

    def reset(self) -> None:
        """Forget every sid (a new connection has new sids)."""
        self.last_seq.clear()
        self.sid_tickers.clear()
        self.yes_priced_sids.clear()


# --- the async client ---


RETRIED_CODES = frozenset({26, 27})  # subscription market limit exceeded, too many requests: back off, send again
RETRIED_ATTEMPTS = 5


class WSCommandError(Exception):
    """The server answered a command with an error frame (``code`` as in Kalshi's table)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"error {code}: {message}")
        self.code = code
        self.message = message


class NotConnected(ConnectionError):
    """A command needs an open connection (it was lost, or not yet made)."""


@dataclass(eq=False)
class Subscription:
    """One channel as the client wants it. Survives reconnects; ``sid`` is the current server id.

    ``market_tickers`` None means no market filter (all markets: not allowed for
    ``orderbook_delta`` by Kalshi).
    """

    channel: str
    market_tickers: set[str] | None = None
    sid: int | None = None
    active: bool = True


class _Connection(ClientConnection):
    """Remembers when the last frame of any kind (data, ping, pong) arrived, for the silence watchdog."""

    last_frame_at = 0.0

    def process_event(self, event: Any) -> None:
        self.last_frame_at = self.loop.time()
        super().process_event(event)


class _RedactingLogger(logging.LoggerAdapter[logging.Logger]):
    """A logger that masks one connection's auth header values in every record.

    At DEBUG ``websockets`` logs each header of the upgrade request, and a logged
    signature could be replayed within Kalshi's timestamp window.
    """

    def __init__(self, logger: logging.Logger, secrets: Iterable[str]) -> None:
        super().__init__(logger)
        self.secrets = [secret for secret in secrets if secret]

    def log(self, level: int, msg: Any, *args: Any, **kwargs: Any) -> None:
        if self.isEnabledFor(level):
            kwargs["stacklevel"] = kwargs.get("stacklevel", 1) + 1  # the record shows websockets' line, not ours
            super().log(level, self._redact(msg), *map(self._redact, args), **kwargs)

    def _redact(self, value: Any) -> Any:
        if isinstance(value, str):
            for secret in self.secrets:
                value = value.replace(secret, REDACTED)
        return value


@dataclass
class _Pending:
    expected: int
    future: asyncio.Future = field(default_factory=lambda: asyncio.get_running_loop().create_future())
    replies: list[Any] = field(default_factory=list)
    subscription: Subscription | None = None


class KalshiWebSocket:
    """A self-healing connection to Kalshi's WebSocket API that keeps a :class:`BookStore` exact.

    >>> async with KalshiWebSocket(signer, DEMO_URL, on_event=queue.put_nowait) as ws:  # doctest: +SKIP
    ...     await ws.subscribe(["orderbook_delta", "trade"], ["KXBTCD-26JUL0317-T60499.99"])
    ...     await ws.subscribe(["fill", "user_orders", "market_positions"])

    Book frames update :attr:`store`; every other frame (trades, tickers, fills,
    orders, positions, lifecycle, unknown types) goes to ``on_event`` (a plain
    callable, e.g. ``queue.put_nowait``; its exceptions are counted and logged).
    Commands raise :class:`NotConnected` while the connection is down;
    subscriptions made before are restored on reconnect automatically.

    ``url``: :data:`DEMO_URL`, :data:`PRODUCTION_URL` or a simulator's (no default:
    production must be chosen on purpose). ``use_yes_price`` is sent explicitly on
    every book subscription (NO levels are converted back to NO prices either way).
    Times are seconds: ``silence_timeout`` (no frame at all, pings included, for that
    long: reconnect), ``ping_interval`` (our keepalive pings; None for none),
    ``command_timeout`` (a reply, or the snapshots of a recovery), and the reconnect
    backoff ``backoff_initial * 2**failures`` capped at ``backoff_max``, times a
    random factor in [0.5, 1), where ``failures`` counts the losses in a row: a
    connection that stayed ready for ``healthy_after`` seconds ends the run, so
    one drop after hours up waits the first step again, while a peer that hangs up
    right after every upgrade still sees the waits grow.
    """

    def __init__(
        self,
        signer: Signer,
        url: str,
        *,
        store: BookStore | None = None,
        on_event: Callable[[Any], object] | None = None,
        on_raw: Callable[[bytes], object] | None = None,
        use_yes_price: bool = False,
        silence_timeout: float = 30.0,
        ping_interval: float | None = 10.0,
        command_timeout: float = 10.0,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        healthy_after: float = 10.0,
    ) -> None:
        self.url = url
        self.store = store if store is not None else BookStore()
        self.stats = WSStats()
        self.on_event = on_event
        self.on_raw = on_raw  # sees every frame as received, before it is ingested (the recorder)
        self.use_yes_price = use_yes_price
        self.silence_timeout = silence_timeout
        self.ping_interval = ping_interval
        self.command_timeout = command_timeout
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.healthy_after = healthy_after
        self.ingestor = FrameIngestor(self.store, self.stats, on_stale=self._on_stale)
        # Every received frame goes through ``feed``; the live actor replaces it with MarketData.feed
        # (which wraps this ingestor), so live and training share one ingest path.
        self.feed: Callable[[bytes], Any] = self.ingestor.feed
        self._signer = signer
        self._subs: list[Subscription] = []
        self._by_sid: dict[int, Subscription] = {}
        self._ids = itertools.count(1)
        self._pending: dict[int, _Pending] = {}
        self._ws: _Connection | None = None
        self._ready = asyncio.Event()  # connected and every subscription restored
        self._ready_at: float | None = None  # loop time the current connection got ready
        self._closing = False
        self._runner: asyncio.Task | None = None
        self._tasks: set[asyncio.Task] = set()
        self._recovering: set[int] = set()  # sids with a recovery in flight
        self._rng = random.Random()

    # --- lifecycle ---

    async def __aenter__(self) -> KalshiWebSocket:
        self.start()
        try:
            await self.wait_ready(self.command_timeout)
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def start(self) -> None:
        """Run the connection loop in the background (idempotent)."""
        if self._runner is None:
            self._runner = asyncio.create_task(self.run(), name="kalshi-ws")

    async def wait_ready(self, timeout: float | None = None) -> None:
        """Wait until connected with every subscription restored."""
        await asyncio.wait_for(self._ready.wait(), timeout)

    @property
    def connected(self) -> bool:
        return self._ready.is_set()

    async def close(self) -> None:
        self._closing = True
        self._ready.clear()
        if self._ws is not None:
            await self._ws.close()
        if self._runner is not None:
            self._runner.cancel()
            await asyncio.gather(self._runner, return_exceptions=True)
            self._runner = None
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        log.info("kalshi ws closed; stats %s", self.stats.as_dict())

    async def run(self) -> None:
        """Connect, restore subscriptions, read; on any loss back off (growing per loss in a row) and reconnect."""
        failures = 0  # losses in a row
        while not self._closing:
            self._ready_at = None
            try:
                await self._connect_and_read()  # returns only by raising
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # every failure is a reason to reconnect, none to stop
                if self._closing:
                    break
                log.warning("kalshi ws connection lost (ready for %.1fs): %s: %s", self._uptime(),
                            type(exc).__name__, exc)
            finally:
                self._on_disconnect()
            if self._closing:
                break
            healthy = self._ready_at is not None and self._uptime() >= self.healthy_after
            failures = 1 if healthy else failures + 1  # after a healthy connection a loss is a first one
            self.stats.reconnects += 1
            delay = self.stats.backoff_s = self._backoff(failures)
            log.info("kalshi ws reconnecting in %.2fs (attempt %d, loss %d in a row)",
                     delay, self.stats.reconnects, failures)
            await asyncio.sleep(delay)

    def _uptime(self) -> float:
        """Seconds the current (or just lost) connection has been ready; 0 if it never was."""
        return 0.0 if self._ready_at is None else asyncio.get_running_loop().time() - self._ready_at

    def _backoff(self, failures: int) -> float:
        """The wait after ``failures`` failures in a row (connects, rate-limited commands): doubling, capped,
        jittered."""
        delay = min(self.backoff_max, self.backoff_initial * 2 ** min(failures, 30))
        return delay * self._rng.uniform(0.5, 1.0)  # jitter: many clients must not reconnect in step

    async def _connect_and_read(self) -> None:
        path = urlsplit(self.url).path or WS_PATH
        headers = self._signer.headers("GET", path)
        ws = await websockets.connect(
            self.url,
            additional_headers=headers,
            create_connection=_Connection,
            logger=_RedactingLogger(_ws_log, headers.values()),
            ping_interval=self.ping_interval,
            ping_timeout=self.silence_timeout,
            close_timeout=2,
            max_size=None,
        )
        self._ws = ws
        self.stats.connected = True
        watchdog = self._spawn(self._watch_silence(ws))
        reader = self._spawn(self._read(ws))
        try:
            for sub in [s for s in self._subs if s.active]:
                try:
                    await self._send_subscribe(sub)
                except WSCommandError as exc:  # e.g. the market is gone: keep the rest going
                    self.stats.command_errors += 1
                    log.warning("restoring %s subscription failed: %s", sub.channel, exc)
            self._ready.set()
            self._ready_at = asyncio.get_running_loop().time()
            log.info("kalshi ws connected to %s, %d subscriptions", self.url, len(self._by_sid))
            await reader
        finally:
            watchdog.cancel()
            reader.cancel()
            await ws.close()

    async def _read(self, ws: _Connection) -> None:
        feed = self.feed
        on_raw = self.on_raw
        while True:
            raw = await ws.recv(decode=False)
            if on_raw is not None:
                on_raw(raw)
            frame = feed(raw)
            if frame is not None:
                self._dispatch(frame)

    async def _watch_silence(self, ws: _Connection) -> None:
        period = max(0.05, self.silence_timeout / 4)
        ws.last_frame_at = ws.loop.time()
        while True:
            await asyncio.sleep(period)
            if ws.loop.time() - ws.last_frame_at > self.silence_timeout:
                self.stats.silent_disconnects += 1
                log.warning("kalshi ws silent for %.1fs: dropping the connection", self.silence_timeout)
                ws.transport.abort()
                return

    def _on_disconnect(self) -> None:
        self._ready.clear()
        self._ws = None
        self.stats.connected = False
        for pending in self._pending.values():
            if not pending.future.done():
                pending.future.set_exception(NotConnected("connection lost"))
        self._pending.clear()
        self.ingestor.reset()
        self._by_sid.clear()
        self._recovering.clear()
        for sub in self._subs:
            sub.sid = None
        self.store.mark_all_stale("disconnected")

    def _spawn(self, coro: Any) -> asyncio.Task:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if task.cancelled() or (exc := task.exception()) is None:
            return
        if not isinstance(exc, (NotConnected, websockets.ConnectionClosed)):  # a closed socket is not a failure
            log.warning("kalshi ws background task failed: %s: %s", type(exc).__name__, exc)

    # --- frames ---

    def _dispatch(self, frame: Any) -> None:
        command_id = getattr(frame, "id", 0)
        kind = type(frame)
        if kind is F.SubscribedFrame:
            pending = self._pending.get(command_id)
            sub = pending.subscription if pending is not None else None
            if sub is not None:  # bind now: the snapshot follows in the very next frame
                sub.sid = frame.msg.sid
                self._by_sid[sub.sid] = sub
                if sub.channel == BOOK_CHANNEL and self.use_yes_price:
                    self.ingestor.yes_priced_sids.add(sub.sid)
        if command_id and command_id in self._pending and kind in _REPLY_TYPES:
            pending = self._pending[command_id]
            pending.replies.append(frame)
            if len(pending.replies) >= pending.expected and not pending.future.done():
                pending.future.set_result(pending.replies)
            return
        if kind is F.ErrorFrame:
            self._on_error(frame)
            return
        if kind in _REPLY_TYPES:
            return  # an unsolicited reply (e.g. to a command that timed out)
        if self.on_event is not None:
            try:
                self.on_event(frame)
            except Exception:  # the consumer's bug must not stop the feed
                self.stats.callback_errors += 1
                if self.stats.callback_errors & (self.stats.callback_errors - 1) == 0:
                    log.exception("on_event failed (%d so far)", self.stats.callback_errors)

    def _on_error(self, frame: F.ErrorFrame) -> None:
        sub = self._by_sid.get(frame.sid) if frame.sid is not None else None
        if frame.terminal and sub is not None:
            self.stats.terminal_errors += 1
            log.warning("sid %d (%s): terminal error %d %s: resubscribing", frame.sid, sub.channel,
                        frame.msg.code, frame.msg.msg)
            self._spawn(self._resubscribe(sub))
        else:
            self.stats.command_errors += 1
            log.warning("kalshi ws error %d: %s (sid %s)", frame.msg.code, frame.msg.msg, frame.sid)

    def _on_stale(self, sid: int, tickers: list[str]) -> None:
        sub = self._by_sid.get(sid)
        if sub is None or sid in self._recovering or sub.channel != BOOK_CHANNEL:
            return  # trades etc. cannot be replayed: the gap is counted and logged, nothing to heal
        wanted = sorted(set(tickers) | (sub.market_tickers or set()))
        if wanted:
            self._recovering.add(sid)
            self.stats.resyncs += 1
            self._spawn(self._recover(sub, sid, wanted))

    async def _recover(self, sub: Subscription, sid: int, wanted: list[str]) -> None:
        """Heal a gapped subscription: ``get_snapshot`` for its books, resubscribe if that fails."""
        try:
            log.info("sid %d: requesting snapshots of %d markets", sid, len(wanted))
            try:
                await self._send({"cmd": "update_subscription",
                                  "params": {"sids": [sid], "market_tickers": wanted, "action": "get_snapshot"}})
                if await self._books_fresh(wanted, self.command_timeout):
                    return
                log.warning("sid %d: snapshots did not arrive in %.1fs: resubscribing", sid, self.command_timeout)
            except (NotConnected, WSCommandError) as exc:
                log.warning("sid %d: get_snapshot failed (%s): resubscribing", sid, exc)
            if sub.sid == sid:
                await self._resubscribe(sub)
        except NotConnected:
            pass  # the reconnect restores everything
        finally:
            self._recovering.discard(sid)

    async def _books_fresh(self, tickers: list[str], timeout: float) -> bool:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            if all((b := self.store.get(t)) is not None and not b.stale for t in tickers):
                return True
            if asyncio.get_running_loop().time() >= deadline:
                return False
            await asyncio.sleep(0.02)

    async def _resubscribe(self, sub: Subscription) -> None:
        self.stats.resubscribes += 1
        old = sub.sid
        if old is not None:
            self._by_sid.pop(old, None)
            tickers = self.ingestor.forget_sid(old)
            self.store.mark_stale(tickers | (sub.market_tickers or set()), f"resubscribing sid {old}")
            sub.sid = None
            try:
                await self._command({"cmd": "unsubscribe", "params": {"sids": [old]}}, expected=1)
            except (WSCommandError, NotConnected, TimeoutError):
                pass  # a terminal error may have ended it already
        if sub.active:
            await self._send_subscribe(sub)

    # --- commands ---

    async def _send(self, command: dict[str, Any], command_id: int | None = None) -> int:
        ws = self._ws
        if ws is None:
            raise NotConnected("not connected")
        command_id = next(self._ids) if command_id is None else command_id
        try:
            await ws.send(orjson.dumps({"id": command_id, **command}).decode())
        except websockets.ConnectionClosed:
            raise NotConnected("connection lost") from None
        return command_id

    async def _command(self, command: dict[str, Any], *, expected: int = 1,
                       subscription: Subscription | None = None) -> list[Any]:
        """Send a command and wait for its ``expected`` replies; an error reply raises :class:`WSCommandError`.

        Kalshi's "too many requests" (27) and "subscription market limit exceeded" (26) are the exchange
        asking us to slow down: the command is sent again after a backoff, up to ``RETRIED_ATTEMPTS`` times."""
        for attempt in range(RETRIED_ATTEMPTS):
            try:
                return await self._command_once(command, expected, subscription)
            except WSCommandError as exc:
                if exc.code not in RETRIED_CODES or attempt == RETRIED_ATTEMPTS - 1:
                    raise
                self.stats.command_retries += 1
                delay = self._backoff(attempt + 1)
                log.warning("kalshi ws %s: %s; again in %.2fs", command.get("cmd"), exc, delay)
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    async def _command_once(self, command: dict[str, Any], expected: int,
                            subscription: Subscription | None) -> list[Any]:
        if self._ws is None:
            raise NotConnected("not connected")
        command_id = next(self._ids)
        pending = self._pending[command_id] = _Pending(expected, subscription=subscription)
        try:
            await self._send(command, command_id)
            replies = await asyncio.wait_for(pending.future, self.command_timeout)
        finally:
            self._pending.pop(command_id, None)
        for reply in replies:
            if isinstance(reply, F.ErrorFrame):
                raise WSCommandError(reply.msg.code, reply.msg.msg)
        return replies

    async def _send_subscribe(self, sub: Subscription) -> None:
        params: dict[str, Any] = {"channels": [sub.channel]}
        if sub.market_tickers is not None:
            params["market_tickers"] = sorted(sub.market_tickers)
        if sub.channel == BOOK_CHANNEL:
            params["use_yes_price"] = self.use_yes_price  # explicit: Kalshi announced the default will flip
        await self._command({"cmd": "subscribe", "params": params}, subscription=sub)

    async def subscribe(self, channels: Iterable[str], market_tickers: Iterable[str] | None = None) -> list[Subscription]:
        """Subscribe each channel (one command per channel, so every reply is unambiguous).

        Returns the :class:`Subscription` handles (their ``sid`` set). They are kept
        and restored after a reconnect even when this call fails because the
        connection is down.
        """
        tickers = None if market_tickers is None else set(market_tickers)
        subs = []
        for channel in channels:
            if channel not in CHANNELS:
                raise ValueError(f"unknown channel {channel!r}; known: {', '.join(CHANNELS)}")
            sub = Subscription(channel, None if tickers is None else set(tickers))
            self._subs.append(sub)
            subs.append(sub)
        for sub in subs:
            try:
                await self._send_subscribe(sub)
            except WSCommandError:
                self._subs.remove(sub)
                raise
        return subs

    async def unsubscribe(self, *subs: Subscription) -> None:
        for sub in subs:
            sub.active = False
            if sub in self._subs:
                self._subs.remove(sub)
            sid = sub.sid
            if sid is None:
                continue
            sub.sid = None
            self._by_sid.pop(sid, None)
            tickers = self.ingestor.forget_sid(sid)
            await self._command({"cmd": "unsubscribe", "params": {"sids": [sid]}}, expected=1)
            if sub.channel == BOOK_CHANNEL:
                for ticker in tickers | (sub.market_tickers or set()):
                    if not any(s.channel == BOOK_CHANNEL and s.market_tickers and ticker in s.market_tickers
                               for s in self._subs):
                        self.store.remove(ticker)

    async def add_markets(self, sub: Subscription, market_tickers: Iterable[str]) -> list[str]:
        """Add markets to a subscription; returns the full market list the server reports."""
        tickers = list(market_tickers)
        if sub.market_tickers is None:
            sub.market_tickers = set()
        sub.market_tickers.update(tickers)
        return await self._update(sub, tickers, "add_markets")

    async def delete_markets(self, sub: Subscription, market_tickers: Iterable[str]) -> list[str]:
        tickers = list(market_tickers)
        if sub.market_tickers is not None:
            sub.market_tickers.difference_update(tickers)
        result = await self._update(sub, tickers, "delete_markets")
        if sub.channel == BOOK_CHANNEL:
            known = self.ingestor.sid_tickers.get(sub.sid or -1, set())
            for ticker in tickers:
                known.discard(ticker)
                self.store.remove(ticker)
        return result

    async def get_snapshot(self, sub: Subscription, market_tickers: Iterable[str] | None = None) -> None:
        """Ask for fresh ``orderbook_snapshot`` frames (the subscription itself is unchanged)."""
        tickers = sorted(sub.market_tickers or ()) if market_tickers is None else list(market_tickers)
        if sub.sid is None:
            raise NotConnected("subscription has no sid (not connected)")
        await self._send({"cmd": "update_subscription",
                          "params": {"sids": [sub.sid], "market_tickers": tickers, "action": "get_snapshot"}})

    async def _update(self, sub: Subscription, tickers: list[str], action: str) -> list[str]:
        if sub.sid is None:
            raise NotConnected("subscription has no sid (not connected); it is restored on reconnect")
        replies = await self._command({"cmd": "update_subscription",
                                       "params": {"sids": [sub.sid], "market_tickers": tickers, "action": action}})
        msg = replies[0].msg if replies else None
        return list(msg.market_tickers or []) if isinstance(msg, F.OkMsg) else []

    async def list_subscriptions(self) -> list[F.SubscriptionInfo]:
        """The server's view: ``[SubscriptionInfo(channel, sid), ...]``."""
        replies = await self._command({"cmd": "list_subscriptions"})
        return list(replies[0].subscriptions or [])

    @property
    def subscriptions(self) -> list[Subscription]:
        return list(self._subs)


_REPLY_TYPES = frozenset({F.SubscribedFrame, F.OkFrame, F.UnsubscribedFrame, F.ErrorFrame})
