"""The actor's event stream: typed events, a recent-events buffer, and the ``/rl/actor/ws`` clients.

Wire format (JSON text frames)::

    {"type": "actor_fill", "seq": 42, "ts_ms": 1764000000123, "data": {...}}

``seq`` increases by one per event over the life of the process (from 1). On connect a
client first gets ONE snapshot frame, then every event after it, in order, with no gap
and no duplicate::

    {"type": "actor_snapshot", "seq": 41, "ts_ms": ..., "data": {...the loop's snapshot..., "recent": [events]}}

The snapshot's ``seq`` is the last event it reflects: the next frame has ``seq + 1``.
``recent`` holds the latest events of each type (bounded per type), oldest first.

Event types (the loop publishes them; the web view reads them):

====================  ==========================================================
``actor_action``      the policy's decision for a market (action number and name, model)
``actor_order``       an order placed, amended, cancelled or rejected (with reason)
``actor_fill``        a fill of one of our orders
``actor_position``    a market's position after a change
``actor_pnl``         account P&L (realized, unrealized, fees, total), cash, exposure
``actor_status``      connection, risk state, paused, markets, errors
``actor_model``       model loaded / reload failed (id, algorithm, result, message)
====================  ==========================================================

Every event's ``data`` carries ``timestamp`` (ISO 8601 UTC, the event's ``ts_ms``) and, where the
event is about a market, ``market_ticker``: the product's event contract, e.g.
``{"type": "actor_action", "data": {"market_ticker": "KX-1", "action": 1, "action_name": "BUY_YES_LIMIT",
"timestamp": "2025-01-10T15:30:00.000Z", ...}}``.

Convention for ``data``: money as dollar strings (``format_money``: ``"12.3400"``), prices as
dollar strings (``format_price``), counts as contract strings (``format_count``): exact, as
in Kalshi's own API. Never a secret.

A slow client never slows the loop: :meth:`EventHub.publish` encodes once and appends to
each client's bounded queue without awaiting. A client whose queue is full is dropped:
its queue is discarded, it gets a final ``{"type": "actor_dropped", "seq": null, "data":
{"reason", "last_seq"}}`` frame (``last_seq``: the last event it was sent) and the connection is closed with code 1013 (try again later); it
reconnects and re-syncs from a new snapshot. A client that cannot even take that frame is
cut off after ``drop_grace_s``. A client that sends anything is closed with 1008: the stream
takes no messages.

:meth:`publish` must be called from the event loop's thread (the hub is not thread-safe;
that is also what makes snapshot + registration atomic).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import orjson

log = logging.getLogger(__name__)

__all__ = ["CLOSE_GOING_AWAY", "CLOSE_TOO_MANY", "CLOSE_TOO_SLOW", "DROPPED", "EVENT_TYPES", "SNAPSHOT", "EventHub"]

EVENT_TYPES = frozenset({"actor_action", "actor_order", "actor_fill", "actor_position", "actor_pnl",
                         "actor_status", "actor_model"})
SNAPSHOT = "actor_snapshot"
DROPPED = "actor_dropped"

CLOSE_TOO_SLOW = 1013  # "try again later": reconnect and re-sync
CLOSE_TOO_MANY = 1013
CLOSE_GOING_AWAY = 1001  # the actor is shutting down
CLOSE_SNAPSHOT_FAILED = 1011
CLOSE_POLICY = 1008  # the client sent a message: the stream takes none


class _Socket(Protocol):
    """What the hub needs of a WebSocket (Starlette's ``WebSocket`` fits)."""

    async def send_text(self, data: str) -> None: ...
    async def receive(self) -> Mapping[str, Any]: ...
    async def close(self, code: int = 1000, reason: str | None = None) -> None: ...


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _iso(ts_ms: int) -> str:
    """``1764000000123`` -> ``"2025-11-24T16:00:00.123Z"`` (the event contract's ISO-8601 UTC timestamp)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts_ms // 1000)) + f".{ts_ms % 1000:03d}Z"


class _Client:
    """One connection's bounded queue of encoded frames, and how it ended."""

    __slots__ = ("close_code", "close_reason", "ended", "limit", "queue", "sent_seq", "wakeup")

    def __init__(self, limit: int) -> None:
        self.queue: deque[tuple[int, str]] = deque()
        self.limit = limit
        self.wakeup: asyncio.Future[None] | None = None
        self.ended = asyncio.Event()  # the hub ended it (dropped, or shutting down)
        self.close_code: int | None = None  # set when the hub ends the connection
        self.close_reason = ""
        self.sent_seq = 0

    def push(self, seq: int, frame: str) -> bool:
        """Queue a frame; False when the queue is full (the caller drops the client)."""
        if len(self.queue) >= self.limit:
            return False
        self.queue.append((seq, frame))
        self._wake()
        return True

    def end(self, code: int, reason: str, final: str | None) -> None:
        """Discard what is queued, queue ``final`` (beyond the bound) and close after it."""
        self.queue.clear()
        if final is not None:
            self.queue.append((0, final))
        self.close_code, self.close_reason = code, reason
        self.ended.set()
        self._wake()

    def _wake(self) -> None:
        wakeup = self.wakeup
        if wakeup is not None and not wakeup.done():
            wakeup.set_result(None)


class EventHub:
    """Publishes the actor's events to WebSocket clients and keeps the recent ones.

    ``snapshot`` (set by the loop, at construction or later) returns the JSON-able state a
    new client starts from: status, model, positions, P&L. ``queue_size`` bounds each
    client's backlog (events); ``recent`` bounds the recent events kept per type
    (``recent_by_type`` overrides it for a type, e.g. a longer P&L history).
    """

    def __init__(self, snapshot: Callable[[], Mapping[str, Any]] | None = None, *, queue_size: int = 1024,
                 recent: int = 200, recent_by_type: Mapping[str, int] | None = None, max_clients: int = 64,
                 drop_grace_s: float = 5.0) -> None:
        self.snapshot = snapshot
        self.queue_size = queue_size
        self.max_clients = max_clients
        self.drop_grace_s = drop_grace_s
        sizes = {kind: recent for kind in EVENT_TYPES} | dict(recent_by_type or {})
        unknown = set(sizes) - EVENT_TYPES
        if unknown:
            raise ValueError(f"recent_by_type names unknown event types: {sorted(unknown)}")
        self._recent: dict[str, deque[tuple[int, bytes]]] = {kind: deque(maxlen=n) for kind, n in sizes.items()}
        self._clients: set[_Client] = set()
        self._seq = 0
        self._closed = False
        self.published: dict[str, int] = dict.fromkeys(sorted(EVENT_TYPES), 0)
        self.dropped_clients = 0  # clients dropped for being too slow

    @property
    def seq(self) -> int:
        """The ``seq`` of the last event published (0 before the first)."""
        return self._seq

    @property
    def client_count(self) -> int:
        return len(self._clients)

    def publish(self, type: str, data: Mapping[str, Any], ts_ms: int | None = None) -> int:
        """Publish one event; returns its ``seq``. Never blocks: encodes once, queues per client.

        ``data`` must be JSON-able by orjson (dicts, lists, str, int, float, bool, None, dataclasses).
        """
        if type not in EVENT_TYPES:
            raise ValueError(f"unknown event type {type!r}; expected one of {sorted(EVENT_TYPES)}")
        self._seq = seq = self._seq + 1
        ts_ms = _now_ms() if ts_ms is None else ts_ms
        frame = orjson.dumps({"type": type, "seq": seq, "ts_ms": ts_ms, "data": {**data, "timestamp": _iso(ts_ms)}})
        self._recent[type].append((seq, frame))
        self.published[type] += 1
        if self._clients:
            text = frame.decode()
            for client in tuple(self._clients):  # a copy: a full client leaves the set
                if not client.push(seq, text):
                    self._drop(client)
        return seq

    def recent(self) -> list[bytes]:
        """The recent events (encoded), all types merged, oldest first."""
        return [frame for _, frame in heapq.merge(*self._recent.values())]

    def _drop(self, client: _Client) -> None:
        self._clients.discard(client)
        self.dropped_clients += 1
        reason = f"too slow: more than {client.limit} events queued"
        final = orjson.dumps({"type": DROPPED, "seq": None, "ts_ms": _now_ms(),
                              "data": {"reason": reason, "last_seq": client.sent_seq}}).decode()
        client.end(CLOSE_TOO_SLOW, reason, final)
        log.warning("events: dropped a WebSocket client (%s)", reason)

    def _snapshot_frame(self) -> str:
        state = dict(self.snapshot()) if self.snapshot is not None else {}
        state["recent"] = orjson.Fragment(b"[" + b",".join(self.recent()) + b"]")
        return orjson.dumps({"type": SNAPSHOT, "seq": self._seq, "ts_ms": _now_ms(), "data": state}).decode()

    async def serve(self, websocket: _Socket) -> None:
        """Serve one accepted WebSocket until it closes: the snapshot, then live events.

        Returns when the client disconnects, is dropped, or the hub closes.
        """
        if self._closed or len(self._clients) >= self.max_clients:
            await websocket.close(CLOSE_TOO_MANY if not self._closed else CLOSE_GOING_AWAY,
                                  "too many clients" if not self._closed else "actor shutting down")
            return
        client = _Client(self.queue_size)
        try:
            # No await between taking the snapshot and registering: every event after the
            # snapshot's seq reaches the queue, none before it does.
            snapshot = self._snapshot_frame()
        except Exception:
            log.exception("events: building the snapshot failed")
            await websocket.close(CLOSE_SNAPSHOT_FAILED, "snapshot failed")
            return
        client.sent_seq = self._seq
        self._clients.add(client)
        try:
            await websocket.send_text(snapshot)
            pump = asyncio.ensure_future(self._pump(websocket, client))
            listen = asyncio.ensure_future(_until_disconnected(websocket))
            ended = asyncio.ensure_future(client.ended.wait())
            await asyncio.wait({pump, listen, ended}, return_when=asyncio.FIRST_COMPLETED)
            if ended.done() and not pump.done() and not listen.done():
                # Ended by the hub: the pump sends the last frames and closes, unless the socket is
                # stuck (a client that reads nothing); then it is cut off after the grace period.
                await asyncio.wait({pump, listen}, timeout=self.drop_grace_s, return_when=asyncio.FIRST_COMPLETED)
            for task in (pump, listen, ended):
                task.cancel()
            for task in (pump, listen, ended):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        except Exception:
            log.debug("events: a WebSocket client failed", exc_info=True)
        finally:
            self._clients.discard(client)

    async def _pump(self, websocket: _Socket, client: _Client) -> None:
        loop = asyncio.get_running_loop()
        while True:
            while client.queue:
                seq, frame = client.queue.popleft()
                if seq:  # before the await: a drop meanwhile reports this in-flight frame as sent
                    client.sent_seq = seq
                await websocket.send_text(frame)
            if client.close_code is not None:
                await websocket.close(client.close_code, client.close_reason)
                return
            client.wakeup = loop.create_future()
            await client.wakeup
            client.wakeup = None

    async def close(self) -> None:
        """End every connection (code 1001) after what is queued, and refuse new ones."""
        self._closed = True
        for client in tuple(self._clients):
            # unlike a drop, queued events still go out first
            client.close_code, client.close_reason = CLOSE_GOING_AWAY, "actor shutting down"
            client.ended.set()
            client._wake()
        for _ in range(100):  # bounded: each serve() removes its client when its socket is done
            if not self._clients:
                break
            await asyncio.sleep(0.01)


async def _until_disconnected(websocket: _Socket) -> None:
    """Wait for the client to disconnect. The stream takes no messages: one closes it (1008)."""
    message = await websocket.receive()
    if message.get("type") != "websocket.disconnect":
        await websocket.close(CLOSE_POLICY, "the event stream takes no messages")
