"""The actor's HTTP service over real sockets: health, admin endpoint, events WebSocket, metrics.

``FakeActor`` below is a test double of the trading LOOP (actor/loop.py, which is written
later): it implements the interface ``create_app`` documents (config, events, metrics,
health(), apply_config(), start(), stop()) with plain state a test can set. Everything
else is real: the FastAPI app under uvicorn on 127.0.0.1 (a free port), httpx over HTTP,
a ``websockets`` client, the real EventHub, ActorMetrics and apply_changes.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import re
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from kalshi_actor.actor.app import Health, ServedActor, create_app, running
from kalshi_actor.actor.config import ActorConfig, ConfigChange, apply_changes, load_config
from kalshi_actor.actor.events import EventHub
from kalshi_actor.actor.metrics import ActorMetrics
from kalshi_actor.actor.risk import RiskState
from kalshi_actor.kalshi.ws import WSStats
from support import stuck_websocket, until

TOKEN = "admin-token-0123456789abcdef"
GOOD_MODELS = {"m-1", "m-2"}


class FakeActor:
    """Test double of the trading loop (see the module docstring)."""

    def __init__(self, config: ActorConfig, *, queue_size: int = 1024) -> None:
        self.config = config
        self.events = EventHub(snapshot=self.snapshot, queue_size=queue_size, drop_grace_s=30.0)
        self.metrics = ActorMetrics()
        self.connected = False
        self.books_fresh = False
        self.model: dict[str, Any] | None = None
        self.risk_state = "ACTIVE"
        self.alive = True
        self.markets: list[str] = []
        self.last_reload: dict[str, Any] | None = None
        self.started = self.halted = self.stopped = False
        self.positions: dict[str, str] = {}

    def snapshot(self) -> dict[str, Any]:
        return {"status": {"connected": self.connected, "risk_state": self.risk_state},
                "model": self.model, "positions": dict(self.positions), "pnl": {"total": "0.0000"}}

    def health(self) -> Health:
        return Health(connected=self.connected, books_fresh=self.books_fresh, risk_state=self.risk_state,
                      active_model=self.model, markets=self.markets, last_reload=self.last_reload, alive=self.alive)

    async def apply_config(self, changes: dict[str, Any]) -> ConfigChange:
        change = apply_changes(self.config, changes)
        if "model_id" in change.applied:
            model_id = change.config.model_id
            await asyncio.sleep(0)  # a reload happens off the loop
            if model_id in GOOD_MODELS:
                self.model = {"id": model_id, "algorithm": "ppo"}
                self.last_reload = {"ok": True, "model_id": model_id}
            else:
                self.last_reload = {"ok": False, "model_id": model_id, "message": "not in the registry"}
                change = change.refuse("model_id", f"model {model_id!r} failed to load: not in the registry")
        self.config = change.config
        return change

    async def start(self) -> None:
        self.started = True

    async def halt(self) -> None:
        self.halted = not self.stopped  # the first step: before stop()

    async def stop(self) -> None:
        self.stopped = True

    def make_ready(self) -> None:
        self.connected = self.books_fresh = True
        self.model = {"id": "m-1", "algorithm": "ppo"}
        self.markets = ["KXA-1"]


@pytest.fixture
def env(api_key) -> dict[str, str]:
    return {"RL_ACTOR_REST_URL": "http://127.0.0.1:9/trade-api/v2", "RL_ACTOR_WS_URL": "ws://127.0.0.1:9/ws",
            "RL_ACTOR_API_KEY_ID": api_key.key_id, "RL_ACTOR_PRIVATE_KEY": api_key.private_pem,
            "RL_ACTOR_ADMIN_TOKEN": TOKEN}


@pytest.fixture
def actor(env) -> FakeActor:
    return FakeActor(load_config(env))


@pytest.fixture
async def served(actor: FakeActor):
    """(the public base URL, a client of the public port, a client of the admin port)"""
    async with running(create_app(actor)) as at, httpx.AsyncClient(base_url=at.url) as http, \
            httpx.AsyncClient(base_url=at.admin_url) as admin:
        yield at.url, http, admin


def _ws_url(base: str) -> str:
    return base.replace("http://", "ws://") + "/rl/actor/ws"


def test_the_fake_loop_implements_the_interface(actor: FakeActor) -> None:
    assert isinstance(actor, ServedActor)


async def test_start_and_stop_follow_the_server(actor: FakeActor) -> None:
    async with running(create_app(actor)):
        assert actor.started and not actor.halted and not actor.stopped
    assert actor.halted and actor.stopped


# --- health ---


async def test_health_not_ready_says_why(served, actor: FakeActor) -> None:
    _, http, admin = served
    reply = await http.get("/rl/actor/health")
    assert reply.status_code == 503
    body = reply.json()
    assert body["ready"] is False and body["live"] is True
    assert body["reasons"] == ["not connected to the exchange", "no market subscribed", "no model loaded"]
    assert body["target_model_id"] == "" and body["active_model_id"] is None


async def test_health_ready(served, actor: FakeActor) -> None:
    _, http, admin = served
    actor.make_ready()
    reply = await http.get("/rl/actor/health")
    assert reply.status_code == 200
    body = reply.json()
    assert body["ready"] is True and body["reasons"] == []
    assert body["active_model_id"] == "m-1" and body["markets"] == ["KXA-1"] and body["risk_state"] == "ACTIVE"
    assert body["config"]["market_limit"] == 100 and body["environment"] == "sim"


@pytest.mark.parametrize(("change", "reason"), [
    ({"connected": False}, "not connected to the exchange"),
    ({"books_fresh": False}, "books not fresh"),
    ({"model": None}, "no model loaded"),
    ({"risk_state": "HALTED"}, "halted"),
    ({"risk_state": RiskState.HALTED}, "halted"),
])
async def test_health_each_condition_matters(served, actor: FakeActor, change: dict, reason: str) -> None:
    _, http, admin = served
    actor.make_ready()
    for name, value in change.items():
        setattr(actor, name, value)
    reply = await http.get("/rl/actor/health")
    assert reply.status_code == 503 and reply.json()["reasons"] == [reason]


async def test_paused_is_not_ready(served, actor: FakeActor) -> None:
    _, http, admin = served
    actor.make_ready()
    reply = await admin.post("/rl/actor/config", json={"paused": True}, headers={"Authorization": f"Bearer {TOKEN}"})
    assert reply.status_code == 200
    health = await http.get("/rl/actor/health")
    assert health.status_code == 503 and health.json()["reasons"] == ["paused"]


async def test_liveness_is_separate(served, actor: FakeActor) -> None:
    _, http, admin = served
    assert (await http.get("/rl/actor/health", params={"probe": "live"})).status_code == 200  # alive, not ready
    actor.alive = False
    assert (await http.get("/rl/actor/health", params={"probe": "live"})).status_code == 503
    assert (await http.get("/rl/actor/health", params={"probe": "maybe"})).status_code == 400


# --- the admin endpoint ---


async def test_admin_without_or_with_a_wrong_token_is_401(served, actor: FakeActor) -> None:
    _, http, admin = served
    for headers in ({}, {"Authorization": "Bearer wrong-token-0123456789"}, {"Authorization": f"Basic {TOKEN}"},
                    {"Authorization": f"Bearer {TOKEN}x"}, {"Authorization": TOKEN}):
        reply = await admin.post("/rl/actor/config", json={"market_limit": 5}, headers=headers)
        assert reply.status_code == 401, headers
        assert reply.headers["www-authenticate"].startswith("Bearer")
    assert actor.config.market_limit == 100


async def test_admin_applies_and_says_what(served, actor: FakeActor) -> None:
    _, http, admin = served
    reply = await admin.post("/rl/actor/config", headers={"Authorization": f"Bearer {TOKEN}"},
                            json={"model_id": "m-2", "tick_interval": 0.5, "risk": {"max_exposure": "25"}})
    assert reply.status_code == 200
    body = reply.json()
    assert body["ok"] is True and body["refused"] == {}
    assert body["applied"]["model_id"] == "m-2" and body["applied"]["tick_interval"] == 0.5
    assert body["config"]["risk"]["max_exposure"] == "25.00"
    assert actor.config.model_id == "m-2" and actor.model == {"id": "m-2", "algorithm": "ppo"}
    health = (await http.get("/rl/actor/health")).json()
    assert health["target_model_id"] == "m-2" and health["active_model_id"] == "m-2"
    assert health["last_config_change"]["source"] == "admin"


async def test_admin_refusals_tell_why(served, actor: FakeActor) -> None:
    _, http, admin = served
    actor.make_ready()
    reply = await admin.post("/rl/actor/config", headers={"Authorization": f"Bearer {TOKEN}"},
                            json={"model_id": "broken", "environment": "demo", "market_limit": 0, "paused": True})
    assert reply.status_code == 422
    body = reply.json()
    assert body["ok"] is False
    assert "failed to load" in body["refused"]["model_id"]
    assert body["refused"]["environment"] == "needs a restart (cold field)"
    assert "greater than or equal to 1" in body["refused"]["market_limit"]
    assert body["applied"] == {"paused": True}  # the rest was applied
    assert actor.config.model_id == "" and actor.model["id"] == "m-1"  # the serving model keeps serving
    health = (await http.get("/rl/actor/health")).json()
    assert health["last_reload"]["ok"] is False and health["target_model_id"] == ""


@pytest.mark.parametrize(("body", "message"), [
    (b"{not json", "not valid JSON"),
    (b"", "not valid JSON"),
    (b"[1, 2]", "expected a JSON object"),
    (b'"paused"', "expected a JSON object"),
    (b'{"market_limt": 3, "paused": true}', "unknown fields: market_limt"),
    (b'{"risk": {"max_exposur": 3}}', "unknown fields: risk.max_exposur"),
])
async def test_admin_malformed_bodies_are_400(served, actor: FakeActor, body: bytes, message: str) -> None:
    _, http, admin = served
    reply = await admin.post("/rl/actor/config", content=body,
                            headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
    assert reply.status_code == 400
    assert message in reply.json()["error"]["message"]
    assert actor.config.paused is False  # nothing applied


async def test_admin_oversized_body_is_413(served) -> None:
    _, http, admin = served
    reply = await admin.post("/rl/actor/config", content=b'{"model_id": "' + b"x" * 70_000 + b'"}',
                            headers={"Authorization": f"Bearer {TOKEN}"})
    assert reply.status_code == 413


async def test_admin_is_disabled_without_a_token(env) -> None:
    del env["RL_ACTOR_ADMIN_TOKEN"]
    actor = FakeActor(load_config(env))
    async with running(create_app(actor)) as at, httpx.AsyncClient(base_url=at.admin_url) as admin:
        reply = await admin.post("/rl/actor/config", json={"paused": True}, headers={"Authorization": "Bearer x"})
    assert reply.status_code == 403 and actor.config.paused is False


async def test_a_config_file_change_takes_the_same_path(env, tmp_path: Path) -> None:
    path = tmp_path / "actor.yaml"
    path.write_text("market_limit: 7\n")
    environ = env | {"RL_ACTOR_CONFIG_FILE": str(path)}
    actor = FakeActor(load_config(environ))
    app = create_app(actor, environ=environ, watch_interval=0.02)
    async with running(app) as at, httpx.AsyncClient(base_url=at.url) as http:
        path.write_text("market_limit: 8\nmodel_id: m-2\nenvironment: demo\n")
        await until(lambda: actor.config.market_limit == 8)
        health = (await http.get("/rl/actor/health")).json()
    assert actor.model == {"id": "m-2", "algorithm": "ppo"}  # the actor's own apply ran: the model reloaded
    change = health["last_config_change"]
    assert change["source"] == "file" and change["applied"] == {"market_limit": 8, "model_id": "m-2"}
    assert change["refused"] == {"environment": "needs a restart (cold field)"}
    assert health["config_file"] == {"path": str(path), "last_error": None}


# --- the events WebSocket ---


def _without_time(data: dict) -> dict:
    """An event's data less its ``timestamp`` (every event has one: the ISO form of its ``ts_ms``)."""
    assert data["timestamp"].endswith("Z")
    return {k: v for k, v in data.items() if k != "timestamp"}


async def _frames(conn, count: int) -> list[dict]:
    return [json.loads(await asyncio.wait_for(conn.recv(), 10)) for _ in range(count)]


async def test_snapshot_then_events_in_order_without_gap_or_duplicate(served, actor: FakeActor) -> None:
    base, _, admin = served
    hub = actor.events
    for i in range(5):
        hub.publish("actor_fill", {"ticker": "KXA-1", "i": i})
    actor.positions = {"KXA-1": "5.00"}
    async with websockets.connect(_ws_url(base)) as conn:
        snapshot = json.loads(await asyncio.wait_for(conn.recv(), 10))
        assert snapshot["type"] == "actor_snapshot" and snapshot["seq"] == 5
        assert snapshot["data"]["positions"] == {"KXA-1": "5.00"} and snapshot["data"]["model"] is None
        assert [e["seq"] for e in snapshot["data"]["recent"]] == [1, 2, 3, 4, 5]
        hub.publish("actor_order", {"status": "placed"})
        hub.publish("actor_pnl", {"total": "1.0000"})
        hub.publish("actor_status", {"risk_state": "ACTIVE"})
        events = await _frames(conn, 3)
    assert [(e["type"], e["seq"]) for e in events] == [("actor_order", 6), ("actor_pnl", 7), ("actor_status", 8)]
    assert all(isinstance(e["ts_ms"], int) for e in events) and _without_time(events[0]["data"]) == {"status": "placed"}


async def test_events_published_while_a_client_connects_are_not_lost(served, actor: FakeActor) -> None:
    base, _, admin = served
    hub = actor.events

    async def publisher(stop: asyncio.Event) -> None:  # the loop publishes as fast as it can
        while not stop.is_set():
            hub.publish("actor_action", {"action": 0})
            await asyncio.sleep(0)

    for _ in range(5):
        stop = asyncio.Event()
        task = asyncio.create_task(publisher(stop))
        try:
            # max_queue=None: a full client-side queue would stop the client reading the close handshake
            async with websockets.connect(_ws_url(base), max_queue=None) as conn:
                snapshot = json.loads(await asyncio.wait_for(conn.recv(), 10))
                recent = [e["seq"] for e in snapshot["data"]["recent"]]
                assert recent[-1] == snapshot["seq"]  # the snapshot reflects exactly the events up to its seq
                events = await _frames(conn, 50)
                assert [e["seq"] for e in events] == list(range(snapshot["seq"] + 1, snapshot["seq"] + 51))
        finally:
            stop.set()
            await task


async def test_recent_events_are_bounded(served, actor: FakeActor) -> None:
    base, _, admin = served
    for i in range(1000):
        actor.events.publish("actor_pnl", {"i": i})
    actor.events.publish("actor_model", {"id": "m-1"})
    async with websockets.connect(_ws_url(base)) as conn:
        snapshot = json.loads(await asyncio.wait_for(conn.recv(), 10))
    recent = snapshot["data"]["recent"]
    pnl = [e for e in recent if e["type"] == "actor_pnl"]
    assert len(pnl) == 200 and _without_time(pnl[-1]["data"]) == {"i": 999}  # the newest, bounded per type
    assert recent[-1]["type"] == "actor_model" and snapshot["seq"] == 1001


def test_unknown_event_types_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown event type"):
        EventHub().publish("actor_secret", {})


async def test_a_slow_client_is_dropped_and_told_and_never_blocks(env) -> None:
    actor = FakeActor(load_config(env), queue_size=16)
    hub = actor.events
    async with running(create_app(actor)) as at:
        base = at.url
        # max_queue=1: the slow client stops reading its socket, so TCP backpressure reaches the server
        # (no compression: the padding must really travel)
        slow = await websockets.connect(_ws_url(base), max_queue=1, max_size=None, compression=None)
        fast = await websockets.connect(_ws_url(base), max_size=None, compression=None)
        await slow.recv(), await fast.recv()  # the snapshots
        received: list[int] = []

        async def read_fast() -> None:
            async for message in fast:
                received.append(json.loads(message)["seq"])

        reader = asyncio.create_task(read_fast())
        payload = os.urandom(192_000).hex()  # 384 kB
        published = 0
        while hub.dropped_clients == 0 and published < 2000:
            published = hub.publish("actor_action", {"pad": payload})  # returns at once, never awaits
            await until(lambda n=published: received and received[-1] == n)  # the fast client keeps up
        assert hub.dropped_clients == 1 and hub.client_count == 1  # only the slow one went
        for _ in range(5):  # the loop keeps publishing; the fast client keeps receiving
            published = hub.publish("actor_pnl", {"total": "1.0000"})
        await until(lambda: received[-1] == published)

        frames = []
        with pytest.raises(websockets.ConnectionClosed) as closed:
            while True:
                frames.append(json.loads(await asyncio.wait_for(slow.recv(), 10)))
        last = frames[-1]
        assert last["type"] == "actor_dropped" and "too slow" in last["data"]["reason"]
        seqs = [f["seq"] for f in frames[:-1]]
        assert seqs == list(range(1, len(seqs) + 1)) and last["data"]["last_seq"] == seqs[-1]  # in order, no dup
        assert closed.value.rcvd.code == 1013 and "too slow" in closed.value.rcvd.reason
        assert received == list(range(1, published + 1))  # the fast client missed nothing
        metrics = (await httpx.AsyncClient().get(base + "/metrics")).text
        assert "kalshi_actor_ws_clients_dropped_total 1.0" in metrics and "kalshi_actor_ws_clients 1.0" in metrics
        await fast.close()
        await reader


# --- metrics, static files, secrets ---


async def test_metrics_are_prefixed_and_per_market_labels_bounded(served, actor: FakeActor) -> None:
    _, http, admin = served
    m = actor.metrics
    m.observe_decision(0.0004)
    m.observe_inference(0.0002, batch_size=100)
    m.observe_tick(0.003)
    m.tick_skipped()
    m.track_feed(WSStats(snapshots=2, deltas=10, gaps=1, resyncs=1, reconnects=3))  # the feed's own counts
    m.order("place", "accepted")
    m.reject("insufficient_balance")
    m.fill("yes", is_taker=False, count=250)
    m.set_markets(["KXA-1", "KXB-2"])
    for ticker in ("KXA-1", "KXB-2"):
        m.set_market(ticker, position=-300, realized=1_500_000, unrealized=-250_000, fees=70_000, exposure=1_200_000)
    m.set_books(stale=0, ages_s={"KXA-1": 0.5})
    m.set_account(cash=9_000_000_000, exposure=1_200_000, realized=1_500_000, unrealized=0, fees=70_000)
    m.set_risk_state("REDUCING", paused=False)
    m.model_loaded("m-1", "ppo")
    m.model_load_failed()
    m.set_exchange_connected(True)
    text = (await http.get("/metrics")).text
    names = {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line and not line.startswith("#")}
    assert names and all(name.startswith("kalshi_actor_") for name in names)
    for expected in ("decision_latency_seconds_bucket", "inference_latency_seconds_bucket", "tick_duration_seconds_count",
                     "ticks_skipped_total", "book_frames_total", "sequence_gaps_total", "resyncs_total",
                     "books_stale", "book_age_seconds", "orders_total", "rejects_total", "fills_total",
                     "position_contracts", "market_pnl_dollars", "pnl_dollars", "cash_dollars", "exposure_dollars",
                     "risk_state", "model_info", "model_reloads_total", "exchange_connected", "ws_clients",
                     "config_changes_total", "events_total"):
        assert f"kalshi_actor_{expected}" in names, expected
    assert 'kalshi_actor_book_frames_total{kind="delta"} 10.0' in text
    assert "kalshi_actor_sequence_gaps_total 1.0" in text and "kalshi_actor_exchange_reconnects_total 3.0" in text
    assert 'kalshi_actor_position_contracts{market="KXB-2"} -3.0' in text
    assert 'kalshi_actor_market_pnl_dollars{kind="total",market="KXA-1"} 1.18' in text
    assert 'kalshi_actor_risk_state{state="REDUCING"} 1.0' in text
    assert 'kalshi_actor_model_info{algorithm="ppo",model_id="m-1"} 1.0' in text
    m.set_markets(["KXB-2"])  # KXA-1 is no longer traded: its series go
    text = (await http.get("/metrics")).text
    assert "KXA-1" not in text and 'market="KXB-2"' in text


def test_metric_labels_are_checked_and_capped() -> None:
    m = ActorMetrics()
    with pytest.raises(ValueError):
        m.order("buy", "accepted")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        m.set_risk_state("PANIC")
    for i in range(100):
        m.reject(f"code_{i}")
    reasons = set(re.findall(r'kalshi_actor_rejects_total\{reason="([^"]+)"\}', m.render().decode()))
    assert len(reasons) <= 33 and "other" in reasons


async def test_static_files_are_served(actor: FakeActor, tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("<title>ActorTradingView</title>")
    async with running(create_app(actor, static_dir=tmp_path)) as at, httpx.AsyncClient(base_url=at.url) as http:
        page = await http.get("/")
        health = await http.get("/rl/actor/health")  # the API still wins over the static mount
    assert page.status_code == 200 and "ActorTradingView" in page.text
    assert health.status_code == 503


async def test_no_secret_leaves_the_service(served, actor: FakeActor, api_key) -> None:
    base, http, admin = served
    actor.make_ready()
    pem_line = api_key.private_pem.strip().splitlines()[1]
    await admin.post("/rl/actor/config", json={"admin_token": "x" * 32, "paused": True},
                    headers={"Authorization": f"Bearer {TOKEN}"})
    texts = [(await http.get("/rl/actor/health")).text, (await http.get("/metrics")).text]
    async with websockets.connect(_ws_url(base)) as conn:
        texts.append(await asyncio.wait_for(conn.recv(), 10))
    texts.append((await admin.post("/rl/actor/config", json={"private_key": "zzz"},
                                  headers={"Authorization": f"Bearer {TOKEN}"})).text)
    for text in texts:
        assert TOKEN not in text and pem_line not in text and "x" * 32 not in text


async def test_closing_the_hub_flushes_then_says_going_away(served, actor: FakeActor) -> None:
    base, _, admin = served
    async with websockets.connect(_ws_url(base)) as conn:
        await asyncio.wait_for(conn.recv(), 10)  # the snapshot
        actor.events.publish("actor_status", {"state": "stopping"})
        await actor.events.close()
        last = json.loads(await asyncio.wait_for(conn.recv(), 10))
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(conn.recv(), 10)
    assert _without_time(last["data"]) == {"state": "stopping"}  # queued events go out first
    assert closed.value.rcvd.code == 1001
    async with websockets.connect(_ws_url(base)) as late:  # a closed hub refuses new clients
        with pytest.raises(websockets.ConnectionClosed) as refused:
            await asyncio.wait_for(late.recv(), 10)
    assert refused.value.rcvd.code == 1001


async def test_a_failing_health_report_is_not_ready(served, actor: FakeActor) -> None:
    _, http, admin = served

    def broken() -> Health:
        raise RuntimeError("boom")

    actor.health = broken  # type: ignore[method-assign]
    reply = await http.get("/rl/actor/health")
    assert reply.status_code == 503 and "health report failed" in reply.json()["last_error"]["message"]
    assert (await http.get("/rl/actor/health", params={"probe": "live"})).status_code == 200


# --- the exposed surface: who may open the stream, what it takes, what health tells ---


VIEWER = "viewer-token-0123456789abcdef"


@pytest.fixture
async def locked(env):
    """An actor with a viewer token (as the operator deploys it): (endpoints, actor)."""
    actor = FakeActor(load_config(env | {"RL_ACTOR_VIEWER_TOKEN": VIEWER,
                                         "RL_ACTOR_ALLOWED_ORIGINS": "https://grafana.example"}))
    async with running(create_app(actor)) as at:
        yield at, actor


async def test_a_page_of_another_origin_cannot_open_the_stream(served) -> None:
    base, _, _ = served
    with pytest.raises(websockets.InvalidStatus) as refused:
        await websockets.connect(_ws_url(base), origin="http://evil.example")
    assert refused.value.response.status_code == 403
    own = "http://" + base.removeprefix("http://")  # the page the actor serves itself
    async with websockets.connect(_ws_url(base), origin=own) as conn:
        assert json.loads(await asyncio.wait_for(conn.recv(), 10))["type"] == "actor_snapshot"


async def test_the_viewer_token_guards_the_stream(locked) -> None:
    at, _ = locked
    url = _ws_url(at.url)
    for kwargs in ({}, {"subprotocols": ["kalshi-actor.v1", "bearer.wrong-token-0123456789"]},
                   {"additional_headers": {"Authorization": "Bearer " + VIEWER + "x"}},
                   {"subprotocols": ["bearer." + VIEWER], "origin": "http://evil.example"}):
        with pytest.raises(websockets.InvalidStatus) as refused:
            await websockets.connect(url, **kwargs)
        assert refused.value.response.status_code == 403, kwargs
    for kwargs in ({"subprotocols": ["kalshi-actor.v1", "bearer." + VIEWER]},  # how the web view sends it
                   {"additional_headers": {"Authorization": "Bearer " + VIEWER}},
                   {"subprotocols": ["bearer." + VIEWER], "origin": "https://grafana.example"},
                   {"additional_headers": {"Authorization": "Bearer " + TOKEN}}):  # the admin token too
        async with websockets.connect(url, **kwargs) as conn:
            assert json.loads(await asyncio.wait_for(conn.recv(), 10))["type"] == "actor_snapshot"
            assert conn.subprotocol == ("kalshi-actor.v1" if "kalshi-actor.v1" in kwargs.get("subprotocols", [])
                                        else None)


async def test_health_detail_needs_a_token_on_both_ports(locked) -> None:
    at, actor = locked
    actor.last_reload = {"ok": False, "message": "/models/secret/path: not found"}
    async with httpx.AsyncClient() as http:
        for base in (at.url, at.admin_url):
            for _ in range(100):  # the admin port serves the report the loop refreshes every HEALTH_REFRESH_S
                detailed = await http.get(base + "/rl/actor/health", headers={"Authorization": f"Bearer {TOKEN}"})
                if detailed.json().get("last_reload"):
                    break
                await asyncio.sleep(0.05)
            anonymous = await http.get(base + "/rl/actor/health")
            assert anonymous.status_code == 503
            assert anonymous.json() == {"ready": False, "live": True, "reasons": [
                "not connected to the exchange", "no market subscribed", "no model loaded"]}
            for token in (VIEWER, TOKEN):
                detailed = (await http.get(base + "/rl/actor/health",
                                           headers={"Authorization": f"Bearer {token}"})).json()
                assert detailed["last_reload"]["message"].startswith("/models/secret"), base
            live = await http.get(base + "/rl/actor/health", params={"probe": "live"})
            assert live.status_code == 200 and set(live.json()) == {"ready", "live", "reasons"}


async def test_the_admin_endpoint_is_not_on_the_public_port(served) -> None:
    _, http, admin = served
    public = await http.post("/rl/actor/config", json={"paused": True}, headers={"Authorization": f"Bearer {TOKEN}"})
    assert public.status_code in (404, 405)
    assert (await admin.post("/rl/actor/config", json={"paused": True},
                             headers={"Authorization": f"Bearer {TOKEN}"})).status_code == 200


async def test_the_admin_port_answers_while_the_loop_is_stuck(served, actor: FakeActor) -> None:
    """The probes' port lives on its own thread: a loop busy for seconds does not fail a liveness probe."""
    _, _, admin = served
    await asyncio.sleep(0.6)  # a report refreshed by the loop
    loop = asyncio.get_running_loop()
    answers: list[int] = []

    def probe() -> None:
        with httpx.Client(base_url=str(admin.base_url), timeout=5) as client:
            answers.append(client.get("/rl/actor/health", params={"probe": "live"}).status_code)

    prober = loop.run_in_executor(None, probe)
    time.sleep(1.5)  # the loop is blocked: nothing on it answers meanwhile
    assert answers == [200]
    await prober


async def test_the_stream_takes_no_messages(served) -> None:
    base, _, _ = served
    async with websockets.connect(_ws_url(base)) as conn:
        await asyncio.wait_for(conn.recv(), 10)
        await conn.send("hello")
        with pytest.raises(websockets.ConnectionClosed) as closed:
            while True:
                await asyncio.wait_for(conn.recv(), 10)
    assert closed.value.rcvd.code == 1008
    async with websockets.connect(_ws_url(base), max_size=None) as conn:
        await asyncio.wait_for(conn.recv(), 10)
        await conn.send("x" * 100_000)  # over the frame bound: refused by the protocol before the app sees it
        with pytest.raises(websockets.ConnectionClosed) as closed:
            while True:
                await asyncio.wait_for(conn.recv(), 10)
    assert closed.value.rcvd.code == 1009


async def test_a_client_that_pings_and_never_reads_is_held_back(served, actor: FakeActor) -> None:
    """The server stops reading a peer whose pongs it cannot write, so the peer's pings stall in TCP's
    buffers instead of our memory; once it reads again, it is served as before."""
    base, _, _ = served
    port = int(base.rsplit(":", 1)[1])
    loop = asyncio.get_running_loop()
    sock, sent = await loop.run_in_executor(None, functools.partial(stuck_websocket, port, flood_limit=96 << 20))
    try:
        assert sent < 48 << 20, f"{sent / 1e6:.0f} MB of pings taken: nothing holds the client back"
        assert actor.events.client_count == 1
    finally:
        sock.close()
