"""The simulator's WebSocket endpoint, ``/trade-api/ws/v2``, speaking Kalshi's protocol.

The upgrade is authenticated like Kalshi's (the three signed headers over
``GET /trade-api/ws/v2``) and refused with HTTP 401 before the socket is accepted.
Commands and frames are the :class:`~kalshi_actor.sim.feed.FeedConnection`'s
business; this module only moves bytes and applies the socket-level faults:

- ``ws_delay_ms``: every frame leaves that much later than it was produced;
- ``drop_connections``: the admin endpoint calls ``hub.drop_connections``, which
  closes sockets through the ``on_drop`` hook given here;
- ``skip_seq``: applied by the feed when it numbers the next sequenced frame.

A consumer that falls ``MAX_QUEUED`` frames behind gets Kalshi's terminal error 25
(subscription buffer overflow) on every subscription, as the real exchange does.
Heartbeat: a ping with body ``heartbeat`` every :data:`HEARTBEAT_S` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import orjson
from fastapi import APIRouter, WebSocket
from starlette.responses import Response
from starlette.websockets import WebSocketDisconnect

from .auth import AuthError

log = logging.getLogger(__name__)

router = APIRouter()

WS_PATH = "/trade-api/ws/v2"
HEARTBEAT_S = 10.0
MAX_QUEUED = 100_000


@router.websocket(WS_PATH)
async def kalshi_websocket(websocket: WebSocket) -> None:
    sim = websocket.app.state.sim
    try:
        account = sim.keyring.authenticate("GET", WS_PATH, websocket.headers)
    except AuthError as exc:
        body = orjson.dumps({"error": {"code": "authentication_error", "message": exc.message, "details": ""}})
        await websocket.send_denial_response(Response(body, status_code=401, media_type="application/json"))
        return
    await websocket.accept()

    loop = asyncio.get_running_loop()
    outbox: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue()
    overflowing = False

    def send(data: bytes) -> None:
        nonlocal overflowing
        if outbox.qsize() >= MAX_QUEUED and not overflowing:
            overflowing = True  # the terminal errors themselves must still be queued
            try:
                conn.fail_subscriptions(25)
            finally:
                overflowing = False
            return
        outbox.put_nowait((loop.time(), data))

    def drop() -> None:
        outbox.put_nowait(None)

    conn = sim.hub.connect(account, send, faults=sim.faults, on_drop=drop)
    writer = asyncio.create_task(_write(websocket, outbox, sim.faults))
    heartbeat = asyncio.create_task(_heartbeat(websocket))
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                break
            data = message.get("text") or message.get("bytes")
            if data:
                conn.handle(data)
    except (WebSocketDisconnect, RuntimeError):
        pass  # the peer went away, or we closed the socket ourselves (drop)
    finally:
        conn.close()
        heartbeat.cancel()
        writer.cancel()
        await asyncio.gather(writer, heartbeat, return_exceptions=True)


async def _write(websocket: WebSocket, outbox: asyncio.Queue, faults) -> None:
    loop = asyncio.get_running_loop()
    try:
        while True:
            item = await outbox.get()
            if item is None:  # dropped by fault injection
                break
            produced, data = item
            delay = faults.ws_delay_ms / 1000
            if delay:
                wait = produced + delay - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
            await websocket.send_text(data.decode())
    except (WebSocketDisconnect, RuntimeError, OSError):
        return
    with contextlib.suppress(Exception):
        await websocket.close(code=1001)


async def _heartbeat(websocket: WebSocket) -> None:
    """Kalshi pings every 10 s with body ``heartbeat``. ASGI has no ping message, so this reaches
    the server's protocol object behind the ASGI ``receive``/``send`` callables (uvicorn's
    ``websockets`` and ``websockets-sansio`` implementations); on other servers the server's
    own keepalive pings have to do."""
    ping = _protocol_ping(websocket)
    if ping is None:
        log.debug("no protocol-level ping available: no heartbeat frames")
        return
    while True:
        await asyncio.sleep(HEARTBEAT_S)
        try:
            await ping(b"heartbeat")
        except Exception:  # the connection is closing; the reader notices
            return


def _protocol_ping(websocket: WebSocket):
    for channel in (getattr(websocket, "_receive", None), getattr(websocket, "_send", None)):
        protocol = getattr(channel, "__self__", None)
        if protocol is None:
            continue
        legacy_ping = getattr(protocol, "ping", None)  # websockets' legacy protocol: a coroutine
        if legacy_ping is not None:
            return legacy_ping
        conn, transport = getattr(protocol, "conn", None), getattr(protocol, "transport", None)
        if hasattr(conn, "send_ping") and transport is not None:  # a sans-I/O protocol

            async def sansio_ping(data: bytes, conn=conn, transport=transport) -> None:
                conn.send_ping(data)
                transport.write(b"".join(conn.data_to_send()))

            return sansio_ping
    return None
