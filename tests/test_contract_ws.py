"""Contract: every WebSocket frame the simulator sends is a message of Kalshi's AsyncAPI spec.

One recorded session (module fixture) over a real, signed WebSocket: subscribe to every
channel the simulator serves, run the update/list/unsubscribe commands and a few failing
ones, then drive activity (the maker's and our own orders over REST, the synthetic traders
through the admin clock, a market closed and settled). Every frame received is validated
against the payload schema of the ``tests/contract/spec/asyncapi.yaml`` message of its
``type``; the test for a type fails naming the frame and the JSON path of each problem.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx
import orjson
import pytest
import websockets
from contract import specs
from contract.kalshi_http import kalshi_request

from kalshi_actor.sim.feed import CHANNELS, PRIVATE_CHANNELS, PUBLIC_CHANNELS
from kalshi_actor.units import parse_count, parse_money, parse_price

if TYPE_CHECKING:
    from conftest import ApiKey, RunningSim

WS_PATH = "/trade-api/ws/v2"
MAKER = "contract-mm"
WAIT_S = 15.0  # a generous bound on one command's round trip (a failure, not a timing assertion)

# What the session must make the simulator send: each is validated by its own test.
EXPECTED_TYPES = ("subscribed", "ok", "error", "unsubscribed", "orderbook_snapshot", "orderbook_delta", "trade",
                  "ticker", "fill", "user_order", "market_position", "market_lifecycle_v2")


@dataclass
class Session:
    frames: list[dict[str, Any]] = field(default_factory=list)  # every JSON frame received, in order
    commands: list[dict[str, Any]] = field(default_factory=list)  # every command sent

    def of_type(self, kind: str) -> list[tuple[int, dict[str, Any]]]:
        return [(i, f) for i, f in enumerate(self.frames) if f.get("type") == kind]


class _Wire:
    """The client side of the socket: sends commands, collects frames, waits for replies."""

    def __init__(self, ws: websockets.ClientConnection, session: Session) -> None:
        self.ws = ws
        self.session = session
        self._ids = itertools.count(1)
        self._arrived = asyncio.Event()

    async def read_forever(self) -> None:
        async for raw in self.ws:
            self.session.frames.append(orjson.loads(raw))
            self._arrived.set()

    async def command(self, cmd: str, params: dict[str, Any] | None = None) -> int:
        command_id = next(self._ids)
        command: dict[str, Any] = {"id": command_id, "cmd": cmd}
        if params is not None:
            command["params"] = params
        self.session.commands.append(command)
        await self.ws.send(orjson.dumps(command).decode())
        return command_id

    async def settle(self) -> None:
        """Wait until every frame caused so far has arrived: the reply to a later list_subscriptions
        comes after them, since the simulator sends one connection's frames in order."""
        command_id = await self.command("list_subscriptions")
        async with asyncio.timeout(WAIT_S):
            while not any(f.get("id") == command_id and isinstance(f.get("msg"), list) for f in self.session.frames):
                self._arrived.clear()
                await self._arrived.wait()

    def sid_of(self, command_id: int, channel: str) -> int:
        return next(f["msg"]["sid"] for f in self.session.frames
                    if f.get("id") == command_id and f.get("type") == "subscribed" and f["msg"]["channel"] == channel)


async def _record(api_key: ApiKey) -> Session:
    from kalshi_actor.sim.server import Simulator, running
    from kalshi_actor.sim.world import World

    sim = Simulator(World(seed=7, n_markets=4, clock="virtual"))
    sim.add_key(api_key.key_id, api_key.public_pem)
    engine = sim.engine
    engine.open_account(MAKER, parse_money("1000000"))
    t0, t1, t2, t3 = list(engine.markets)
    signer = api_key.signer()
    session = Session()
    async with running(sim) as urls, httpx.AsyncClient(timeout=WAIT_S) as http, \
            websockets.connect(urls.ws, additional_headers=signer.headers("GET", WS_PATH)) as ws:
        wire = _Wire(ws, session)
        reader = asyncio.create_task(wire.read_forever())

        async def rest(method: str, path: str, body: Any = None) -> dict[str, Any]:
            response = await kalshi_request(http, urls.rest, signer, method, path, body=body)
            assert response.status_code < 300, response.text
            return response.json() if response.content else {}

        async def order(**fields: Any) -> dict[str, Any]:
            return await rest("POST", "/portfolio/events/orders", {
                "time_in_force": "good_till_canceled", "self_trade_prevention_type": "taker_at_cross", **fields})

        async def admin(path: str, **kwargs: Any) -> None:
            response = await http.post(urls.admin + path, **kwargs)
            assert response.status_code == 200, response.text

        try:
            book = await wire.command("subscribe", {"channels": ["orderbook_delta"], "market_tickers": [t0, t1],
                                                    "use_yes_price": False})
            yes_priced = await wire.command("subscribe", {"channels": ["orderbook_delta"], "market_ticker": t0,
                                                          "use_yes_price": True})
            public = sorted(PUBLIC_CHANNELS - {"orderbook_delta"})
            await wire.command("subscribe", {"channels": public, "use_yes_price": False})
            await wire.command("subscribe", {"channels": sorted(PRIVATE_CHANNELS)})
            await wire.command("subscribe", {"channels": sorted(CHANNELS - PUBLIC_CHANNELS - PRIVATE_CHANNELS)})
            await wire.settle()
            book_sid, yes_priced_sid = wire.sid_of(book, "orderbook_delta"), wire.sid_of(yes_priced, "orderbook_delta")

            # the book moves: a maker outside the API, then our own orders (user_order, fill, market_position)
            engine.place_order(MAKER, t0, "yes", parse_price("0.4200"), parse_count("13.00"))
            engine.place_order(MAKER, t0, "no", parse_price("0.5500"), parse_count("7.50"))
            engine.place_order(MAKER, t3, "no", parse_price("0.6000"), parse_count("5.00"))
            resting = await order(ticker=t0, side="bid", count="2.00", price="0.4000", client_order_id="ws-rest")
            await order(ticker=t0, side="ask", count="1.00", price="0.4200", client_order_id="ws-sell",
                        time_in_force="immediate_or_cancel")
            await order(ticker=t3, side="bid", count="2.50", price="0.4000", client_order_id="ws-buy",
                        time_in_force="immediate_or_cancel")
            await rest("POST", f"/portfolio/events/orders/{resting['order_id']}/amend",
                       {"ticker": t0, "side": "bid", "price": "0.4100", "count": "3.00"})
            await rest("POST", f"/portfolio/events/orders/{resting['order_id']}/decrease", {"reduce_by": "1.00"})
            await rest("DELETE", f"/portfolio/events/orders/{resting['order_id']}")
            for _ in range(5):  # the synthetic traders quote and trade
                await admin("/clock/advance", json={"ms": 2000})

            await wire.command("update_subscription", {"sid": book_sid, "market_tickers": [t2],
                                                       "action": "add_markets"})
            await wire.command("update_subscription", {"sids": [book_sid], "market_ticker": t0,
                                                       "action": "get_snapshot"})
            await wire.command("update_subscription", {"sid": book_sid, "market_tickers": [t1],
                                                       "action": "delete_markets"})
            await wire.command("unsubscribe", {"sids": [yes_priced_sid]})
            # failures: an unknown channel, an unknown sid, a subscription-scoped error on a sequenced sid
            await wire.command("subscribe", {"channels": ["no_such_channel"]})
            await wire.command("update_subscription", {"sid": 999, "market_tickers": [t0], "action": "add_markets"})
            await wire.command("update_subscription", {"sid": book_sid, "market_tickers": [],
                                                       "action": "add_markets"})

            await admin(f"/markets/{t3}/close")  # lifecycle frames; our YES position on t3 is paid out
            await admin(f"/markets/{t3}/settle", params={"result": "yes"})
            await wire.settle()
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, websockets.ConnectionClosed):
                await reader
    return session


@pytest.fixture(scope="module")
def session(api_key: ApiKey) -> Iterator[Session]:
    # One recording for the whole module, in its own event loop (the tests below only read it).
    yield asyncio.run(_record(api_key))


@pytest.mark.parametrize("kind", EXPECTED_TYPES)
def test_frames_match_the_spec(session: Session, kind: str) -> None:
    frames = session.of_type(kind)
    assert frames, f"the session produced no {kind!r} frame"
    failures = []
    for index, frame in frames:
        problems = specs.ws_problems(frame)
        if problems:
            failures.append(f"frame {index} ({kind}): " + "; ".join(problems) + f"\n    {frame}")
    assert failures == [], f"{len(failures)} of {len(frames)} {kind!r} frames break the spec:\n" + "\n".join(
        failures[:20])


def test_no_frame_type_escapes_the_check(session: Session) -> None:
    assert {f.get("type") for f in session.frames} <= set(EXPECTED_TYPES)


def test_the_commands_sent_are_the_spec_s(session: Session) -> None:
    """The session speaks the spec's commands; the spec rejects the one meant to fail (the check has teeth)."""
    rejected = {c["id"] for c in session.commands if specs.ws_command_problems(c)}
    deliberate = {c["id"] for c in session.commands if c.get("params", {}).get("channels") == ["no_such_channel"]}
    assert deliberate and rejected == deliberate


def test_every_served_channel_was_subscribed(session: Session) -> None:
    subscribed = {f["msg"]["channel"] for f in session.frames if f.get("type") == "subscribed"}
    assert subscribed == set(CHANNELS)


async def test_a_subscription_by_market_id_covers_only_that_market(sim_server: RunningSim) -> None:
    engine = sim_server.sim.engine
    t0, t1 = list(engine.markets)[:2]
    engine.open_account(MAKER, parse_money("1000000"))
    session = Session()
    headers = sim_server.signer.headers("GET", WS_PATH)
    async with websockets.connect(sim_server.urls.ws, additional_headers=headers) as ws:
        wire = _Wire(ws, session)
        reader = asyncio.create_task(wire.read_forever())
        try:
            subscribe = {"channels": ["ticker"], "market_ids": [engine.markets[t0].market_id]}
            await wire.command("subscribe", subscribe)
            assert specs.ws_command_problems(session.commands[-1]) == []
            await wire.settle()
            engine.place_order(MAKER, t0, "yes", parse_price("0.4200"), parse_count("1.00"))
            engine.place_order(MAKER, t1, "yes", parse_price("0.4200"), parse_count("1.00"))
            await wire.settle()
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, websockets.ConnectionClosed):
                await reader
    tickers = [f["msg"]["market_ticker"] for _, f in session.of_type("ticker")]
    assert tickers == [t0]
