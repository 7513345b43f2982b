"""Serving a FastAPI app with uvicorn: the simulator's and the actor's one way to listen.

The socket is bound first, so ``port=0`` yields a known free port before serving (tests,
``kalshi-actor sim`` printing its endpoints), and with ``IPPROTO_TCP`` so asyncio turns on
TCP_NODELAY (without it every small response waits ~40 ms for Nagle).

Shutdown (SIGINT/SIGTERM, or ``should_exit``) runs in this order, each step bounded:

1. ``on_exit``, when given, starts at once from the signal handler (the actor stops deciding
   and cancels its orders here, before anything that may wait on a client);
2. uvicorn closes the listeners and asks every connection to close, waiting at most
   ``GRACEFUL_S`` for them (a client that stops reading would otherwise hold the process);
3. the app's lifespan shutdown.

A shutdown that a signal started returns normally: the process exits 0 after its own cleanup
(uvicorn's habit of re-raising the signal would kill it before the caller's ``finally``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
import time
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from types import FrameType
from typing import Any, Literal

import uvicorn
from fastapi import FastAPI
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

log = logging.getLogger(__name__)

WsImpl = Literal["websockets", "websockets-sansio"]
OnExit = Callable[[], Awaitable[None]]
GRACEFUL_S = 3.0  # how long open connections may delay the exit after on_exit


class BackpressuredWebSocket(WebSocketsSansIOProtocol):
    """uvicorn's sans-I/O WebSocket, where a peer that does not read is not read either.

    uvicorn answers every ping by writing a pong without looking at the write buffer, so a
    client that pings and never reads grows our memory without bound. Here, while the buffer
    is over its high-water mark, reading pauses: TCP's own flow control then holds the client.
    """

    def pause_writing(self) -> None:
        super().pause_writing()
        if not self.disconnected:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        super().resume_writing()
        if not self.disconnected and not self.read_paused:  # read_paused: the app's own pause
            self.transport.resume_reading()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        # uvicorn's receive path resumes reading when the app reads: still blocked, stay paused
        if not self.writable.is_set() and not self.disconnected:
            self.transport.pause_reading()


class Server(uvicorn.Server):
    """uvicorn's server with the shutdown order of the module docstring."""

    def __init__(self, config: uvicorn.Config, on_exit: OnExit | None = None, handle_signals: bool = True) -> None:
        super().__init__(config)
        self.on_exit = on_exit
        self.handle_signals = handle_signals  # False: the host owns signals (tests, embedding, other threads)
        self._exiting: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        await super().serve(sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        if self._loop is not None:  # a signal handler: hand over to the loop, which starts on_exit now
            self._loop.call_soon_threadsafe(self._begin_exit)

    def _begin_exit(self) -> asyncio.Task[None]:
        if self._exiting is None:
            self._exiting = asyncio.get_running_loop().create_task(self._run_on_exit(), name="serving-on-exit")
        return self._exiting

    async def _run_on_exit(self) -> None:
        if self.on_exit is not None:
            try:
                await self.on_exit()
            except Exception:  # the rest of the shutdown must still run
                log.exception("shutdown: the first step failed")

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        await self._begin_exit()
        await super().shutdown(sockets)

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if not self.handle_signals:
            yield
            return
        with super().capture_signals():
            try:
                yield
            finally:
                self._captured_signals.clear()  # exit normally after a clean shutdown (module docstring)


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.setblocking(False)
    return sock


def base_url(sock: socket.socket, scheme: str = "http") -> str:
    host, port = sock.getsockname()[:2]
    return f"{scheme}://[{host}]:{port}" if sock.family == socket.AF_INET6 else f"{scheme}://{host}:{port}"


def server(app: FastAPI, ws: WsImpl = "websockets-sansio", on_exit: OnExit | None = None,
           handle_signals: bool = True, **options: Any) -> Server:
    """``ws``: uvicorn's WebSocket implementation. The simulator keeps the legacy ``websockets`` one,
    the only one that exposes ping() for Kalshi's heartbeat; its deprecation notice is not the user's concern.
    The sans-I/O one is served with :class:`BackpressuredWebSocket`."""
    if ws == "websockets":
        warnings.filterwarnings("ignore", message="The `websockets` implementation is deprecated")
    protocol: Any = BackpressuredWebSocket if ws == "websockets-sansio" else ws
    options.setdefault("timeout_graceful_shutdown", GRACEFUL_S)
    config = uvicorn.Config(app, log_level="warning", ws=protocol, lifespan="on", **options)
    return Server(config, on_exit, handle_signals)


async def serve(app: FastAPI, sock: socket.socket, ws: WsImpl = "websockets-sansio", on_exit: OnExit | None = None,
                **options: Any) -> None:
    """Serve until SIGINT/SIGTERM (then the shutdown of the module docstring)."""
    try:
        await server(app, ws, on_exit, **options).serve(sockets=[sock])
    finally:
        sock.close()


@contextlib.asynccontextmanager
async def running(app: FastAPI, host: str = "127.0.0.1", port: int = 0, ws: WsImpl = "websockets-sansio",
                  on_exit: OnExit | None = None, **options: Any) -> AsyncIterator[socket.socket]:
    """Serve ``app`` in the current event loop for the block (tests, embedding); yields the bound socket."""
    sock = bind(host, port)
    srv = server(app, ws, on_exit, handle_signals=False, **options)
    task = asyncio.create_task(srv.serve(sockets=[sock]))
    try:
        while not srv.started:
            if task.done():
                task.result()  # raises the startup error
                raise RuntimeError("the server stopped during startup")
            await asyncio.sleep(0.01)
        yield sock
    finally:
        srv.should_exit = True
        await task
        sock.close()


@contextlib.contextmanager
def running_in_thread(app: FastAPI, sock: socket.socket, name: str, **options: Any) -> Iterator[Server]:
    """Serve ``app`` on ``sock`` from a thread with its own event loop, for the block.

    What it answers stays fast however busy the caller's loop is (the actor's probes and admin
    endpoint); the app reaches the caller's loop only through thread-safe calls.
    """
    srv = server(app, handle_signals=False, **options)
    failed: list[BaseException] = []

    def main() -> None:
        try:
            asyncio.run(srv.serve(sockets=[sock]))
        except BaseException as exc:  # noqa: BLE001 - reported to the starting thread
            failed.append(exc)

    thread = threading.Thread(target=main, name=name, daemon=True)
    thread.start()
    while not srv.started and thread.is_alive():
        time.sleep(0.005)
    if not srv.started:
        raise RuntimeError(f"{name}: the server did not start") from (failed[0] if failed else None)
    try:
        yield srv
    finally:
        srv.should_exit = True
        thread.join(timeout=GRACEFUL_S + 2)
        sock.close()
