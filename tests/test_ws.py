"""The WebSocket client against the simulator (real sockets on 127.0.0.1), and recorded sessions.

Where the simulator cannot misbehave in the needed way (garbage frames, terminal
errors, a silent peer), a few lines of ``websockets`` server stand in for Kalshi.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest
import websockets
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.server import serve
from websockets.frames import Opcode

from kalshi_actor.books import BookStore
from kalshi_actor.kalshi import frames as F
from kalshi_actor.kalshi.auth import (HEADER_KEY, HEADER_SIGNATURE, HEADER_TIMESTAMP, Signer, generate_rsa_keypair,
                                     new_key_id)
from kalshi_actor.kalshi.ws import FrameIngestor, KalshiWebSocket, WSCommandError
from kalshi_actor.sessions.format import SessionError, SessionWriter, read_frames, read_header, replay
from kalshi_actor.sim import ws_api
from kalshi_actor.units import parse_price
from support import advance, books_match_engine, until

WS_PATH = "/trade-api/ws/v2"


@contextlib.asynccontextmanager
async def raw_socket(running_sim) -> AsyncIterator[ClientConnection]:
    headers = running_sim.signer.headers("GET", WS_PATH)
    async with websockets.connect(running_sim.urls.ws, additional_headers=headers) as ws:
        yield ws


async def replies(ws, n: int) -> list[dict]:
    return [orjson.loads(await asyncio.wait_for(ws.recv(), 10)) for _ in range(n)]


# --- the simulator's endpoint ---


async def test_unsigned_and_badly_signed_upgrades_get_401(sim_server):
    with pytest.raises(websockets.InvalidStatus) as unsigned:
        async with websockets.connect(sim_server.urls.ws):
            pass
    assert unsigned.value.response.status_code == 401
    private_pem, _ = generate_rsa_keypair()
    stranger = Signer.from_pem(sim_server.key.key_id, private_pem)  # right key id, wrong key
    with pytest.raises(websockets.InvalidStatus) as forged:
        async with websockets.connect(sim_server.urls.ws, additional_headers=stranger.headers("GET", WS_PATH)):
            pass
    assert forged.value.response.status_code == 401


async def test_wire_replies_and_error_codes(sim_server):
    ticker = sorted(sim_server.sim.engine.markets)[0]
    async with raw_socket(sim_server) as ws:
        await ws.send(orjson.dumps({"id": 1, "cmd": "subscribe", "params": {
            "channels": ["orderbook_delta", "nonsense"], "market_tickers": [ticker], "use_yes_price": False}}).decode())
        subscribed, snapshot, error = await replies(ws, 3)
        assert subscribed == {"id": 1, "type": "subscribed", "msg": {"channel": "orderbook_delta", "sid": 1}}
        assert snapshot["type"] == "orderbook_snapshot" and (snapshot["sid"], snapshot["seq"]) == (1, 1)
        assert error == {"id": 1, "type": "error", "msg": {"code": 8, "msg": "Unknown channel name"}}
        commands = [
            ({"id": 2, "cmd": "subscribe", "params": {"channels": ["orderbook_delta"]}}, 14),
            ({"id": 3, "cmd": "frobnicate", "params": {}}, 5),
            ({"id": 4, "cmd": "subscribe"}, 2),
            ({"id": 5, "cmd": "subscribe", "params": {"channels": []}}, 3),
            ({"id": 6, "cmd": "unsubscribe", "params": {}}, 4),
            ({"id": 7, "cmd": "unsubscribe", "params": {"sids": [42]}}, 7),
            ({"id": 8, "cmd": "update_subscription", "params": {"sids": [1], "market_tickers": [ticker]}}, 15),
            ({"id": 9, "cmd": "update_subscription", "params": {"sids": [1], "action": "explode",
                                                                 "market_tickers": [ticker]}}, 13),
            ({"id": 10, "cmd": "update_subscription", "params": {"sids": [1, 2], "action": "add_markets",
                                                                  "market_tickers": [ticker]}}, 12),
        ]
        for command, code in commands:
            await ws.send(orjson.dumps(command).decode())
            (reply,) = await replies(ws, 1)
            while reply["type"] != "error":  # deltas of sid 1 keep flowing meanwhile
                (reply,) = await replies(ws, 1)
            assert (reply["id"], reply["msg"]["code"]) == (command["id"], code), command
        await ws.send("{not json")
        (reply,) = await replies(ws, 1)
        assert reply["msg"]["code"] == 1
        await ws.send('{"id": 11, "cmd": "list_subscriptions"}')
        (reply,) = await replies(ws, 1)
        assert reply == {"id": 11, "type": "ok", "msg": [{"channel": "orderbook_delta", "sid": 1}]}


async def test_add_markets_ok_carries_seq_and_is_followed_by_a_snapshot(sim_server):
    first, second = sorted(sim_server.sim.engine.markets)[:2]
    async with raw_socket(sim_server) as ws:
        await ws.send(orjson.dumps({"id": 1, "cmd": "subscribe", "params": {
            "channels": ["orderbook_delta"], "market_ticker": first}}).decode())
        await replies(ws, 2)
        await ws.send(orjson.dumps({"id": 2, "cmd": "update_subscription", "params": {
            "sid": 1, "market_tickers": [second], "action": "add_markets"}}).decode())
        ok, snapshot = await replies(ws, 2)
        assert ok == {"id": 2, "sid": 1, "seq": 2, "type": "ok", "msg": {"market_tickers": sorted([first, second])}}
        assert snapshot["msg"]["market_ticker"] == second and snapshot["seq"] == 3
        await ws.send(orjson.dumps({"id": 3, "cmd": "unsubscribe", "params": {"sids": [1]}}).decode())
        (reply,) = await replies(ws, 1)
        assert reply == {"id": 3, "sid": 1, "seq": 4, "type": "unsubscribed"}


async def test_heartbeat_pings(sim_server, monkeypatch):
    monkeypatch.setattr(ws_api, "HEARTBEAT_S", 0.05)
    pings: list[bytes] = []

    class Recording(ClientConnection):
        def process_event(self, event):
            if getattr(event, "opcode", None) == Opcode.PING:
                pings.append(bytes(event.data))
            super().process_event(event)

    headers = sim_server.signer.headers("GET", WS_PATH)
    async with websockets.connect(sim_server.urls.ws, additional_headers=headers, create_connection=Recording):
        await until(lambda: len(pings) >= 2)
    assert set(pings) == {b"heartbeat"}


# --- the client against the simulator ---


async def test_client_books_follow_the_engine_exactly(sim_server):
    sim = sim_server.sim
    tickers = sorted(sim.engine.markets)
    events: list = []
    async with KalshiWebSocket(sim_server.signer, sim_server.urls.ws, on_event=events.append) as ws:
        book_sub, trade_sub, ticker_sub = await ws.subscribe(["orderbook_delta", "trade", "ticker"], tickers)
        assert (book_sub.sid, trade_sub.sid, ticker_sub.sid) == (1, 2, 3)
        await advance(sim)
        await until(lambda: books_match_engine(ws, sim.engine, tickers))
        assert any(isinstance(e, F.TradeFrame) for e in events)
        assert any(isinstance(e, F.TickerFrame) for e in events)
        listed = await ws.list_subscriptions()
        assert {(s.channel, s.sid) for s in listed} == {("orderbook_delta", 1), ("trade", 2), ("ticker", 3)}
        assert ws.stats.gaps == ws.stats.malformed == ws.stats.reconnects == 0


async def test_yes_priced_no_side_is_converted_back(sim_server):
    """With ``use_yes_price`` the NO levels arrive on the YES scale; the books must not care."""
    sim = sim_server.sim
    tickers = sorted(sim.engine.markets)
    async with KalshiWebSocket(sim_server.signer, sim_server.urls.ws, use_yes_price=True) as ws:
        await ws.subscribe(["orderbook_delta"], tickers)
        await advance(sim)
        await until(lambda: books_match_engine(ws, sim.engine, tickers))
    ticker = next(t for t in tickers if sim.engine.book(t, "no"))
    async with raw_socket(sim_server) as raw:
        await raw.send(orjson.dumps({"id": 1, "cmd": "subscribe", "params": {
            "channels": ["orderbook_delta"], "market_ticker": ticker, "use_yes_price": True}}).decode())
        _, snapshot = await replies(raw, 2)
    wire_no = {parse_price(p) for p, _ in snapshot["msg"]["no_dollars_fp"]}
    assert wire_no == {10_000 - p for p in sim.engine.book(ticker, "no")}


async def test_a_failing_event_consumer_does_not_stop_the_feed(sim_server):
    sim = sim_server.sim
    tickers = sorted(sim.engine.markets)

    def broken(frame):
        raise RuntimeError("consumer bug")

    async with KalshiWebSocket(sim_server.signer, sim_server.urls.ws, on_event=broken) as ws:
        await ws.subscribe(["orderbook_delta", "ticker"], tickers)
        await advance(sim)
        await until(lambda: ws.stats.callback_errors > 0 and books_match_engine(ws, sim.engine, tickers))
        assert ws.stats.reconnects == 0


async def test_add_delete_markets_and_get_snapshot(sim_server):
    sim = sim_server.sim
    first, second, *_ = sorted(sim.engine.markets)
    async with KalshiWebSocket(sim_server.signer, sim_server.urls.ws) as ws:
        (sub,) = await ws.subscribe(["orderbook_delta"], [first])
        assert await ws.add_markets(sub, [second]) == sorted([first, second])
        await advance(sim, 4)
        await until(lambda: books_match_engine(ws, sim.engine, [first, second]))
        assert await ws.delete_markets(sub, [first]) == [second]
        assert ws.store.get(first) is None
        ws.store.mark_stale([second], "test wants a snapshot")
        await ws.get_snapshot(sub, [second])
        await until(lambda: books_match_engine(ws, sim.engine, [second]))
        with pytest.raises(WSCommandError) as error:
            await ws._command({"cmd": "unsubscribe", "params": {"sids": [99]}})
        assert error.value.code == 7
        assert ws.stats.gaps == 0


async def test_a_sequence_gap_is_detected_and_healed(sim_server):
    sim = sim_server.sim
    tickers = sorted(sim.engine.markets)
    async with KalshiWebSocket(sim_server.signer, sim_server.urls.ws) as ws:
        await ws.subscribe(["orderbook_delta"], tickers)
        await until(lambda: books_match_engine(ws, sim.engine, tickers))
        sim.faults.skip_seq = 1
        await advance(sim, 4)
        await until(lambda: ws.stats.gaps == 1)
        assert ws.stats.resyncs == 1
        await advance(sim, 4)
        await until(lambda: books_match_engine(ws, sim.engine, tickers))
        assert ws.stats.reconnects == 0 and ws.stats.gaps == 1


async def test_a_dropped_connection_is_reconnected_with_fresh_sids(sim_server):
    sim = sim_server.sim
    tickers = sorted(sim.engine.markets)
    async with KalshiWebSocket(sim_server.signer, sim_server.urls.ws, backoff_initial=0.05) as ws:
        book_sub, trade_sub = await ws.subscribe(["orderbook_delta", "trade"], tickers)
        await until(lambda: books_match_engine(ws, sim.engine, tickers))
        sim.faults.drop_connections = 1
        assert await sim.hub.drop_connections(sim.faults) == 1
        await until(lambda: ws.stats.reconnects == 1 and ws.connected)
        await advance(sim, 4)
        await until(lambda: books_match_engine(ws, sim.engine, tickers))
        assert book_sub.sid is not None and trade_sub.sid is not None
        assert {s.sid for s in await ws.list_subscriptions()} == {book_sub.sid, trade_sub.sid}


async def test_the_backoff_starts_over_after_a_healthy_connection(sim_server):
    """A drop after a good period is a new incident: it is healed at the first backoff step, not a later one."""
    sim = sim_server.sim
    tickers = sorted(sim.engine.markets)
    ws = KalshiWebSocket(sim_server.signer, sim_server.urls.ws, backoff_initial=0.02, healthy_after=0.1)
    delays = []
    async with ws:
        await ws.subscribe(["orderbook_delta"], tickers)
        for drops in range(1, 6):
            await asyncio.sleep(ws.healthy_after * 1.5)  # the good period
            sim.faults.drop_connections = 1
            assert await sim.hub.drop_connections(sim.faults) == 1
            await until(lambda: ws.stats.reconnects == drops and ws.connected)
            delays.append(ws.stats.backoff_s)
        await advance(sim, 4)
        await until(lambda: books_match_engine(ws, sim.engine, tickers))
    assert all(ws.backoff_initial <= delay <= 2 * ws.backoff_initial for delay in delays), delays


async def test_a_slow_consumer_gets_terminal_error_25_and_the_client_resubscribes(sim_server, monkeypatch):
    """``ws_delay_ms`` holds frames back; past ``MAX_QUEUED`` the feed ends the subscription (code 25)."""
    monkeypatch.setattr(ws_api, "MAX_QUEUED", 20)
    sim = sim_server.sim
    tickers = sorted(sim.engine.markets)
    async with KalshiWebSocket(sim_server.signer, sim_server.urls.ws) as ws:
        (sub,) = await ws.subscribe(["orderbook_delta"], tickers)
        first_sid = sub.sid
        sim.faults.ws_delay_ms = 200
        await advance(sim, 10)
        await until(lambda: ws.stats.terminal_errors >= 1)
        sim.faults.ws_delay_ms = 0
        await until(lambda: ws.stats.resubscribes >= 1 and books_match_engine(ws, sim.engine, tickers))
        assert sub.sid != first_sid and ws.stats.reconnects == 0


async def test_private_channels_carry_only_our_account(sim_server):
    sim = sim_server.sim
    engine = sim.engine
    account = sim_server.key.key_id
    events: list = []
    async with KalshiWebSocket(sim_server.signer, sim_server.urls.ws, on_event=events.append) as ws:
        await ws.subscribe(["fill", "user_orders", "market_positions"])
        await advance(sim, 4)  # synthetic traders trade among themselves: none of it is ours
        ticker = next(t for t in sorted(engine.markets) if engine.book(t, "no"))
        no_bid = max(engine.book(ticker, "no"))
        order = engine.place_order(account, ticker, "yes", 10_000 - no_bid, 100, client_order_id="mine-1")
        assert order.filled > 0
        await until(lambda: any(isinstance(e, F.FillFrame) for e in events)
                    and any(isinstance(e, F.MarketPositionFrame) for e in events))
    fills = [e.msg for e in events if isinstance(e, F.FillFrame)]
    orders = [e.msg for e in events if isinstance(e, F.UserOrderFrame)]
    positions = [e.msg for e in events if isinstance(e, F.MarketPositionFrame)]
    assert {f.order_id for f in fills} == {order.order_id}
    assert sum(f.count for f in fills) == order.filled
    assert fills[-1].post_position == engine.accounts[account].positions[ticker] == order.filled
    assert all(f.client_order_id == "mine-1" and f.outcome == "yes" and f.is_taker for f in fills)
    assert {o.order_id for o in orders} == {order.order_id} and orders[-1].client_order_id == "mine-1"
    assert positions[-1].position == order.filled


async def test_lifecycle_frames(sim_server):
    sim = sim_server.sim
    ticker = sorted(sim.engine.markets)[0]
    events: list = []
    async with KalshiWebSocket(sim_server.signer, sim_server.urls.ws, on_event=events.append) as ws:
        (sub,) = await ws.subscribe(["market_lifecycle_v2"])
        sim.engine.close_market(ticker)
        sim.engine.settle_market(ticker, "yes")
        await until(lambda: any(e.msg.event_type == "settled" for e in events))
        assert ws.stats.gaps == 0 and ws.ingestor.last_seq[sub.sid] == len(events)
    kinds = [e.msg.event_type for e in events]
    assert kinds[-1] == "settled" and "determined" in kinds
    determined = next(e.msg for e in events if e.msg.event_type == "determined")
    assert (determined.market_ticker, determined.result, determined.settlement_value) == (ticker, "yes", "1.0000")


async def test_unknown_channel_is_a_command_error(sim_server):
    async with KalshiWebSocket(sim_server.signer, sim_server.urls.ws) as ws:
        with pytest.raises(ValueError):
            await ws.subscribe(["nonsense"])
        with pytest.raises(WSCommandError) as error:
            await ws.subscribe(["orderbook_delta"])  # Kalshi wants markets for books
        assert error.value.code == 14
        assert ws.subscriptions == []


# --- a scripted peer for what the simulator does not do ---


@contextlib.asynccontextmanager
async def scripted_kalshi(script) -> AsyncIterator[tuple[str, list[dict]]]:
    """A bare WebSocket server running ``script(connection, commands, n)`` for its n-th connection."""
    commands: list[dict] = []
    count = 0

    async def handler(connection):
        nonlocal count
        count += 1
        await script(connection, commands, count)

    async with serve(handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        yield f"ws://127.0.0.1:{port}{WS_PATH}", commands


async def _answer_subscribe(connection, commands, sid: int) -> dict:
    command = orjson.loads(await connection.recv())
    commands.append(command)
    channel = command["params"]["channels"][0]
    await connection.send(orjson.dumps({"id": command["id"], "type": "subscribed",
                                        "msg": {"channel": channel, "sid": sid}}).decode())
    return command


def _snapshot(sid: int, seq: int, ticker: str = "KX-A", size: str = "10.00") -> str:
    return orjson.dumps({"type": "orderbook_snapshot", "sid": sid, "seq": seq, "msg": {
        "market_ticker": ticker, "market_id": "m", "yes_dollars_fp": [["0.4200", size]]}}).decode()


def _signer() -> Signer:
    return Signer.from_pem(new_key_id(), generate_rsa_keypair()[0])


async def test_malformed_frames_are_counted_and_skipped():
    async def script(connection, commands, n):
        await _answer_subscribe(connection, commands, 1)
        await connection.send("{garbage")
        await connection.send('{"type":"orderbook_delta","sid":1}')
        await connection.send(_snapshot(1, 1))
        await connection.wait_closed()

    async with scripted_kalshi(script) as (url, commands):
        async with KalshiWebSocket(_signer(), url) as ws:
            await ws.subscribe(["orderbook_delta"], ["KX-A"])
            await until(lambda: ws.store.get("KX-A") is not None)
            assert ws.stats.malformed == 2 and ws.connected and ws.stats.reconnects == 0
            assert ws.store["KX-A"].yes == {4200: 1000}
    assert commands[0]["params"]["use_yes_price"] is False  # sent explicitly


async def test_terminal_error_resubscribes():
    async def script(connection, commands, n):
        await _answer_subscribe(connection, commands, 1)
        await connection.send(_snapshot(1, 1))
        await connection.send('{"type":"error","sid":1,"seq":2,"msg":{"code":25,"msg":"buffer overflow"}}')
        unsubscribe = orjson.loads(await connection.recv())
        commands.append(unsubscribe)
        await connection.send(orjson.dumps({"id": unsubscribe["id"], "sid": 1, "seq": 3,
                                            "type": "unsubscribed"}).decode())
        await _answer_subscribe(connection, commands, 2)
        await connection.send(_snapshot(2, 1, size="20.00"))
        await connection.wait_closed()

    async with scripted_kalshi(script) as (url, commands):
        async with KalshiWebSocket(_signer(), url) as ws:
            (sub,) = await ws.subscribe(["orderbook_delta"], ["KX-A"])
            await until(lambda: sub.sid == 2 and ws.store.get("KX-A") is not None
                        and ws.store["KX-A"].yes == {4200: 2000} and not ws.store["KX-A"].stale)
            assert ws.stats.terminal_errors == 1 and ws.stats.resubscribes == 1
    assert [c["cmd"] for c in commands] == ["subscribe", "unsubscribe", "subscribe"]


async def test_a_silent_connection_is_dropped_and_reconnected():
    async def script(connection, commands, n):
        await _answer_subscribe(connection, commands, n)
        await connection.send(_snapshot(n, 1, size=f"{n}.00"))
        await connection.wait_closed()  # then silence: no data, and the client sends no pings

    async with scripted_kalshi(script) as (url, commands):
        ws = KalshiWebSocket(_signer(), url, silence_timeout=0.3, ping_interval=None, backoff_initial=0.01)
        async with ws:
            await ws.subscribe(["orderbook_delta"], ["KX-A"])
            await until(lambda: ws.stats.silent_disconnects >= 1 and ws.stats.reconnects >= 1 and ws.connected)
            await until(lambda: (b := ws.store.get("KX-A")) is not None and not b.stale and b.yes[4200] >= 200)
    assert len(commands) >= 2 and all(c["cmd"] == "subscribe" for c in commands)


async def test_connections_that_drop_at_once_still_back_off_exponentially():
    """A peer that hangs up right after every upgrade is failing: each wait doubles, up to ``backoff_max``."""
    waited: list[float] = []

    async def script(connection, commands, n):
        waited.append(ws.stats.backoff_s)  # the wait before this connection (0 before the first)
        # returning hangs up: the client was ready already (it has nothing to restore)

    async with scripted_kalshi(script) as (url, _):
        ws = KalshiWebSocket(_signer(), url, backoff_initial=0.01, backoff_max=0.16, healthy_after=60)
        ws.start()
        await until(lambda: len(waited) >= 8)
        await ws.close()
    for failures, delay in enumerate(waited[1:8], 1):
        step = min(ws.backoff_max, ws.backoff_initial * 2**failures)
        assert step / 2 <= delay <= step, (failures, waited)


async def test_debug_logging_never_shows_the_signed_upgrade_headers(sim_server, caplog):
    """At DEBUG ``websockets`` logs the upgrade's headers; a signature is replayable within Kalshi's time window."""
    signer = sim_server.signer
    sent: list[dict[str, str]] = []

    class Recording:
        def headers(self, method: str, path: str) -> dict[str, str]:
            sent.append(signer.headers(method, path))
            return sent[-1]

    caplog.set_level(logging.DEBUG)  # every logger, websockets' included
    sim = sim_server.sim
    async with KalshiWebSocket(Recording(), sim_server.urls.ws, backoff_initial=0.01) as ws:  # type: ignore[arg-type]
        sim.faults.drop_connections = 1  # a reconnect signs (and logs) a second upgrade
        assert await sim.hub.drop_connections(sim.faults) == 1
        await until(lambda: ws.stats.reconnects == 1 and ws.connected)
    assert len(sent) == 2
    lines = [record.getMessage() for record in caplog.records]
    for name in (HEADER_KEY, HEADER_TIMESTAMP, HEADER_SIGNATURE):
        leaks = [line for line in lines if any(headers[name] in line for headers in sent)]
        assert not leaks, (name, leaks)
        assert lines.count(f"> {name}: [redacted]") == 2  # the handshakes are still logged


# --- sessions ---


async def test_a_recorded_simulator_session_replays_to_the_same_books(sim_server, tmp_path: Path):
    sim = sim_server.sim
    tickers = sorted(sim.engine.markets)
    path = tmp_path / "run.session"
    with SessionWriter(path, {"source": "sim", "markets": tickers}, flush_every=1) as writer:
        conn = sim.hub.connect(None, lambda raw: writer.write(raw, sim.engine.now_ms() * 1_000_000))
        conn.subscribe_all()
        await advance(sim, 6)
        conn.close()
    assert read_header(path) == {"source": "sim", "markets": tickers}
    store = BookStore()
    ingestor = FrameIngestor(store)
    records = list(read_frames(path))
    stamps = [ts for ts, _ in records]
    assert stamps == sorted(stamps) and len(records) > 50
    for _, raw in records:
        ingestor.feed(raw)
    assert ingestor.stats.gaps == ingestor.stats.malformed == 0
    for ticker in tickers:
        assert store[ticker].yes == sim.engine.book(ticker, "yes")
        assert store[ticker].no == sim.engine.book(ticker, "no")
    replayed = [raw async for _, raw in replay(path, speed=None)]
    assert replayed == [raw for _, raw in records]


def test_a_half_written_session_reads_up_to_its_last_complete_frame(tmp_path: Path):
    path = tmp_path / "crash.session"
    with SessionWriter(path, {"source": "test"}) as writer:
        writer.write(b'{"type":"ok","id":1}\n', recv_ts_ns=1)
        writer.write('{"type":"ok",\n "id":2}', recv_ts_ns=2)  # pretty-printed: one line on disk
    with open(path, "ab") as f:
        f.write(b'3\t{"type":"orderbook_del')  # the crash
    assert list(read_frames(path)) == [(1, b'{"type":"ok","id":1}'), (2, b'{"type":"ok",  "id":2}')]
    with SessionWriter(path) as writer:  # continuing cuts the torn record off first
        writer.write(b'{"type":"ok","id":3}', recv_ts_ns=4)
    assert [ts for ts, _ in read_frames(path)] == [1, 2, 4]
    assert orjson.loads(list(read_frames(path))[1][1]) == {"type": "ok", "id": 2}


def test_not_a_session_file(tmp_path: Path):
    path = tmp_path / "x.session"
    path.write_bytes(b"hello\n1\tframe\n")
    with pytest.raises(SessionError):
        list(read_frames(path))
    path.write_bytes(b"#kalshi-session v1 {}\nnot-a-number\tframe\n")
    with pytest.raises(SessionError):
        list(read_frames(path))


async def test_live_frames_go_through_market_data_the_training_ingest_path(sim_server):
    from kalshi_actor.marketdata import MarketData

    sim = sim_server.sim
    tickers = sorted(sim.engine.markets)
    ws = KalshiWebSocket(sim_server.signer, sim_server.urls.ws)
    md = MarketData(ingestor=ws.ingestor)
    ws.feed = md.feed
    async with ws:
        await ws.subscribe(["orderbook_delta", "trade"], tickers)
        await advance(sim, 6)
        await until(lambda: books_match_engine(ws, sim.engine, tickers))
    assert md.books is ws.store
    assert md.clock_ms is not None and md.clock_ms <= sim.engine.now_ms()
    assert md.clock_ms > sim.engine.now_ms() - 3_000, "the exchange clock follows the frames' ts_ms"


async def test_rate_limited_commands_are_sent_again_after_a_backoff_and_other_errors_are_not():
    """Kalshi's 27 (too many requests) and 26 (subscription market limit exceeded) ask the client to slow down."""
    async def script(connection, commands, n):
        for code in (27, 26):
            command = orjson.loads(await connection.recv())
            commands.append(command)
            await connection.send(orjson.dumps({"id": command["id"], "type": "error",
                                                "msg": {"code": code, "msg": "slow down"}}).decode())
        await _answer_subscribe(connection, commands, 1)
        await connection.send(_snapshot(1, 1))
        command = orjson.loads(await connection.recv())
        commands.append(command)
        await connection.send(orjson.dumps({"id": command["id"], "type": "error",
                                            "msg": {"code": 8, "msg": "Unknown channel name"}}).decode())
        await connection.wait_closed()

    async with scripted_kalshi(script) as (url, commands):
        async with KalshiWebSocket(_signer(), url, backoff_initial=0.01) as ws:
            (sub,) = await ws.subscribe(["orderbook_delta"], ["KX-A"])
            await until(lambda: ws.store.get("KX-A") is not None)
            assert sub.sid == 1 and ws.stats.command_retries == 2
            with pytest.raises(WSCommandError) as refused:
                await ws.subscribe(["trade"])  # the peer refuses it (8): a plain error
            assert refused.value.code == 8 and ws.stats.command_retries == 2  # not a rate limit: not retried
    assert [c["cmd"] for c in commands] == ["subscribe"] * 4
    assert len({c["id"] for c in commands}) == 4  # each attempt is a new command
