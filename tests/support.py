"""Helpers shared by the tests that drive the simulator over real sockets."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import urllib.error
import urllib.request
from collections.abc import Callable

from kalshi_actor.kalshi.ws import KalshiWebSocket


def free_port() -> int:
    """A port free on 127.0.0.1 now (for a process that binds it itself)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def actor_health(port: int, token: str | None = None) -> dict:
    """An actor's ``GET /rl/actor/health`` body on 127.0.0.1 (503 has the same body); {} when nothing answers."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}/rl/actor/health",
                                     headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return json.loads(exc.read())
    except OSError:
        return {}


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


def stuck_websocket(port: int, path: str = "/rl/actor/ws", *, flood_limit: int = 64 << 20,
                    headers: dict[str, str] | None = None) -> tuple[socket.socket, int]:
    """A WebSocket client that pings and never reads, as a background browser tab does.

    Opens ``path`` on 127.0.0.1 with a hand-made handshake, then sends 125-byte pings without
    reading a byte until the server stops taking them (a send would block for a second) or
    ``flood_limit`` bytes went out. Returns the socket (still open) and the bytes sent.
    """
    sock = socket.create_connection(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    extra = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
    sock.sendall((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n").encode())
    response = b""
    while b"\r\n\r\n" not in response:
        chunk = sock.recv(1)  # byte by byte: read nothing past the handshake
        if not chunk:
            raise AssertionError(f"the server closed during the handshake: {response!r}")
        response += chunk
    if not response.startswith(b"HTTP/1.1 101"):
        raise AssertionError(f"the handshake was refused: {response.splitlines()[0]!r}")
    mask = os.urandom(4)
    payload = bytes(b ^ mask[i % 4] for i, b in enumerate(b"p" * 125))
    batch = (b"\x89" + bytes([0x80 | 125]) + mask + payload) * 512  # 512 masked pings, 67 kB
    sock.settimeout(1.0)
    sent = offset = 0
    try:
        while sent < flood_limit:  # partial sends resume mid-batch: the frames stay whole
            n = sock.send(memoryview(batch)[offset:])
            sent, offset = sent + n, (offset + n) % len(batch)
    except TimeoutError:
        pass  # held back: the server stopped reading us
    return sock, sent
