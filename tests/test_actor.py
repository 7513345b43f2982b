"""The actor (actor/loop.py) end to end against the simulator: real sockets on 127.0.0.1, real models.

The Actor is served by ``create_app`` + ``running`` (uvicorn in the test's loop); the
simulator is the exchange, on a virtual clock that the test advances in small steps, with
awaits between them so frames travel and orders are answered. The models are small real
PPO policies published to a temporary registry (tests/actor_models.py).
"""

from __future__ import annotations

import asyncio
from datetime import datetime
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import websockets

from actor_models import Models, build_models
from kalshi_actor.actor.app import create_app, running
from kalshi_actor.actor.config import ActorConfig
from kalshi_actor.actor.loop import Actor
from kalshi_actor.kalshi import frames as F
from kalshi_actor.kalshi.rest import RestClient
from kalshi_actor.trading.fees import FeeSchedule
from kalshi_actor.sim.types import OrderStatus, TimeInForce
from kalshi_actor.trading.types import Action
from kalshi_actor.units import ONE_DOLLAR, parse_count, parse_money
from support import until

PREFIX = "ka-e2e-"
TOKEN = "admin-token-0123456789abcdef"
COUNTERPARTY = "test-counterparty"


@pytest.fixture(scope="session")
def models(tmp_path_factory: pytest.TempPathFactory) -> Models:
    return build_models(tmp_path_factory.mktemp("registry"))


@dataclass
class Served:
    actor: Actor
    base: str
    http: httpx.AsyncClient
    running: Any  # conftest.RunningSim
    admin_http: httpx.AsyncClient  # the admin port

    @property
    def sim(self):
        return self.running.sim

    @property
    def engine(self):
        return self.sim.engine

    @property
    def account(self) -> str:
        return self.running.key.key_id

    async def advance(self, seconds: float, step_ms: int = 250) -> None:
        """Move the exchange's virtual clock in small steps; between them frames travel and the orders
        in flight are answered (virtual time must not outrun the actor's rate-limited REST calls)."""
        for _ in range(round(seconds * 1000 / step_ms)):
            self.sim.world.run_for(step_ms)
            await asyncio.sleep(0.01)
            await until(lambda: not self.actor._inflight)

    async def health(self) -> dict[str, Any]:
        return (await self.http.get("/rl/actor/health")).json()

    async def admin(self, body: Any, token: str | None = TOKEN) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        content = body if isinstance(body, bytes) else orjson.dumps(body)
        return await self.admin_http.post("/rl/actor/config", content=content, headers=headers)

    def resting(self) -> dict[str, tuple]:
        """The engine's resting orders of our account: order id -> (ticker, side, price, remaining)."""
        return {o.order_id: (o.ticker, o.side, o.price, o.remaining) for o in self.engine.resting_orders(self.account)}

    def working(self) -> dict[str, tuple]:
        return {o.order_id: (o.ticker, o.side, o.price, o.remaining) for o in self.actor.orders.orders()}

    def our_fills(self) -> int:
        return len(self.sim.ledger.fills.get(self.account, []))

    async def settled(self) -> None:
        """Every fill and order update of ours has come through, and nothing is in flight."""
        m = self.actor.orders
        await until(lambda: not self.actor._inflight and m.stats.fills >= self.our_fills()
                    and self.working() == self.resting())


def actor_config(running_sim, models: Models, **changes: Any) -> ActorConfig:
    data = {"environment": "sim", "rest_url": running_sim.urls.rest, "ws_url": running_sim.urls.ws,
            "api_key_id": running_sim.key.key_id, "private_key": running_sim.key.private_pem,
            "registry": str(models.root), "model_id": models.taker, "market_limit": 4, "tick_interval": 1.0,
            "client_order_prefix": PREFIX, "admin_token": TOKEN, **changes}
    return ActorConfig.model_validate(data)


@contextlib.asynccontextmanager
async def serve(running_sim, models: Models, **changes: Any) -> AsyncIterator[Served]:
    actor = Actor(actor_config(running_sim, models, **changes))
    async with running(create_app(actor)) as at, httpx.AsyncClient(base_url=at.url, timeout=30) as http, \
            httpx.AsyncClient(base_url=at.admin_url, timeout=30) as admin_http:
        served = Served(actor, at.url, http, running_sim, admin_http)
        await until(lambda: actor.trading and actor.health().books_fresh, timeout=30)
        yield served


def exchange_figures(s: Served) -> dict:
    acct = s.engine.accounts[s.account]
    tickers = set(acct.positions) | set(acct.realized_pnl) | set(acct.fees_paid)
    return {"balance": acct.balance,
            "positions": {t: (acct.positions.get(t, 0), acct.cost_basis.get(t, 0), acct.realized_pnl.get(t, 0),
                              acct.fees_paid.get(t, 0)) for t in tickers},
            "realized": sum(acct.realized_pnl.values()), "fees": sum(acct.fees_paid.values())}


def actor_figures(s: Served) -> dict:
    p = s.actor.portfolio
    acct = s.engine.accounts[s.account]
    tickers = set(acct.positions) | set(acct.realized_pnl) | set(acct.fees_paid)
    return {"balance": p.available,
            "positions": {t: (p.position(t).count, p.position(t).cost_basis, p.position(t).realized_pnl,
                              p.position(t).fees_paid) for t in tickers},
            "realized": p.realized_pnl, "fees": p.fees_paid}


# --- 1. end to end ---


async def test_trades_and_its_books_equal_the_exchanges(sim_server, models: Models) -> None:
    async with serve(sim_server, models, market_limit=2) as s:
        await s.advance(12)
        await s.settled()
        m = s.actor.orders
        assert s.actor.decisions > 5
        assert m.stats.fills >= 8 and m.stats.foreign_fills == 0
        assert actor_figures(s) == exchange_figures(s)
        assert s.actor.portfolio.realized_pnl != 0 and s.actor.portfolio.fees_paid > 0
        assert s.actor.portfolio.cash == s.engine.accounts[s.account].balance  # nothing rests: all cash is free
        async with RestClient(sim_server.urls.rest, sim_server.signer) as rest:
            listed = [p async for p in rest.iter_positions(limit=1000)]
        assert listed
        for p in listed:
            mine = s.actor.portfolio.position(p.ticker)
            assert (mine.count, mine.cost_basis, mine.realized_pnl, mine.fees_paid) == \
                (p.position_fp, p.market_exposure_dollars, p.realized_pnl_dollars, p.fees_paid_dollars)
        ours = [o for o in s.engine.orders.values() if o.account == s.account]
        assert ours and all(o.client_order_id.startswith(PREFIX) for o in ours)

        # then a maker (hot reload): its resting orders are partly filled by a counterparty
        assert (await s.admin({"model_id": models.maker})).status_code == 200
        s.engine.open_account(COUNTERPARTY, parse_money("1000000"))
        taker_fills = m.stats.fills
        await fill_partly(s, rounds=6)
        maker_fills = [f for f in s.sim.ledger.fills[s.account] if not f.is_taker]
        assert m.stats.fills > taker_fills and maker_fills and s.resting()
        assert actor_figures(s) == exchange_figures(s)  # with orders resting: the free balance too


async def fill_partly(s: Any, rounds: int) -> None:
    """A counterparty takes the size resting ahead of each of our orders and half a contract of ours, each round."""
    for _ in range(rounds):
        await s.advance(1)
        await s.settled()
        for order in s.actor.orders.orders():
            ahead = s.engine.book(order.ticker, order.side)[order.price] - order.remaining
            other = "no" if order.side == "yes" else "yes"
            s.engine.place_order(COUNTERPARTY, order.ticker, other, ONE_DOLLAR - order.price,
                                 ahead + min(order.remaining, parse_count("0.5")), time_in_force=TimeInForce.IOC)
    await s.settled()


@pytest.fixture
async def maker_fee_sim(api_key) -> AsyncIterator[Any]:
    """World seed 4: three KXNEXTTEAMNBA markets (quadratic_with_maker_fees: resting orders hold their maker
    fee) and one KXBTC market (plain quadratic)."""
    from conftest import RunningSim

    from kalshi_actor.sim.server import Simulator
    from kalshi_actor.sim.server import running as serve_sim
    from kalshi_actor.sim.world import World

    sim = Simulator(World(seed=4, n_markets=4, clock="virtual"))
    sim.add_key(api_key.key_id, api_key.public_pem)
    async with serve_sim(sim) as urls:
        yield RunningSim(sim, urls, api_key)


async def test_holds_and_cash_equal_the_exchanges_on_a_maker_fee_series(maker_fee_sim, models: Models) -> None:
    """Each market's fee schedule comes from its series, so a resting order's hold (price * remaining + its
    maximal maker fee) is the exchange's to the micro, and no reconciliation has anything to heal."""
    async with serve(maker_fee_sim, models, model_id=models.maker, market_limit=4) as s:
        fees = s.actor.portfolio.fee_schedules
        assert {t: (f.fee_type, f.fee_multiplier) for t, f in fees.items()} == \
            {t: (m.fee_type, m.fee_multiplier) for t, m in s.engine.markets.items()}
        s.engine.open_account(COUNTERPARTY, parse_money("1000000"))
        await fill_partly(s, rounds=6)
        acct = s.engine.accounts[s.account]
        resting = s.engine.resting_orders(s.account)
        maker_fee_markets = {t for t, m in s.engine.markets.items() if m.fee_type == "quadratic_with_maker_fees"}
        assert {o.ticker for o in resting} & maker_fee_markets  # orders rest where makers pay fees
        maker_fills = [f for f in s.sim.ledger.fills[s.account] if not f.is_taker and f.ticker in maker_fee_markets]
        assert maker_fills and all(f.fee_cost > 0 for f in maker_fills)
        assert acct.resting_order_cost > sum(o.price * o.remaining for o in resting)  # maker fees are held too
        assert s.actor.portfolio.held == acct.resting_order_cost
        assert s.actor.portfolio.cash == acct.balance + acct.resting_order_cost
        assert actor_figures(s) == exchange_figures(s)
        report = await s.actor.orders.reconcile()
        assert report.mismatches == [] and s.actor.orders.stats.mismatches == 0


# --- 2. health, events, metrics ---


async def test_health_events_and_metrics(sim_server, models: Models) -> None:
    async with serve(sim_server, models, market_limit=2) as s:
        response = await s.http.get("/rl/actor/health")
        body = response.json()
        assert response.status_code == 200 and body["ready"], body
        assert body["active_model_id"] == models.taker and body["connected"] and body["books_fresh"]
        assert len(body["markets"]) == 2 and body["risk_state"] == "ACTIVE"

        seen: list[dict] = []
        async with websockets.connect(s.base.replace("http://", "ws://") + "/rl/actor/ws") as ws:
            first = orjson.loads(await ws.recv())
            assert first["type"] == "actor_snapshot" and first["data"]["model"]["active"]["id"] == models.taker

            async def read() -> None:
                async for raw in ws:
                    seen.append(orjson.loads(raw))

            reader = asyncio.create_task(read())
            wanted = {"actor_action", "actor_order", "actor_fill", "actor_position", "actor_pnl"}
            for _ in range(40):
                await s.advance(0.5)
                if wanted <= {e["type"] for e in seen}:
                    break
            await asyncio.sleep(1.1)  # actor_pnl is published every second of wall time
            reader.cancel()
        assert wanted <= {e["type"] for e in seen}
        seqs = [e["seq"] for e in seen]
        assert seqs == list(range(first["seq"] + 1, first["seq"] + 1 + len(seqs)))  # no gap, no duplicate
        fill = next(e["data"] for e in seen if e["type"] == "actor_fill")
        assert fill["market_ticker"] in body["markets"] and parse_count(fill["count"]) > 0
        pnl = next(e["data"] for e in reversed(seen) if e["type"] == "actor_pnl")  # live action shares
        assert pnl["action_shares"] and abs(sum(pnl["action_shares"].values()) - 1) < 1e-3
        assert first["data"]["model"]["evaluation"] is None  # the test models carry no evaluation
        action = next(e for e in seen if e["type"] == "actor_action")  # the product's event contract
        assert action["data"]["market_ticker"] in body["markets"] and type(action["data"]["action"]) is int
        assert action["data"]["action_name"] == Action(action["data"]["action"]).name
        for event in seen:
            stamp = datetime.strptime(event["data"]["timestamp"], "%Y-%m-%dT%H:%M:%S.%f%z")
            assert round(stamp.timestamp() * 1000) == event["ts_ms"], event
        order = next(e["data"] for e in seen if e["type"] == "actor_order")
        assert order["status"] == "placed" and order["client_order_id"].startswith(PREFIX)

        metrics = (await s.http.get("/metrics")).text
        assert _sample(metrics, 'kalshi_actor_orders_total{action="place",result="accepted"}') > 0
        assert sum(_samples(metrics, "kalshi_actor_fills_total")) > 0
        assert _sample(metrics, "kalshi_actor_exchange_connected") == 1


def _samples(text: str, name: str) -> list[float]:
    return [float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
            if line.startswith(name) and line[len(name)] in "{ "]


def _sample(text: str, series: str) -> float:
    found = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(series + " ")]
    assert found, f"no {series} in the metrics"
    return found[0]


# --- 3. faults mid-run ---


def _spy_decisions(actor: Actor) -> list[tuple[str, bool]]:
    """(ticker, book stale?) of every market the actor builds an observation for (a spy: it calls through)."""
    seen: list[tuple[str, bool]] = []
    build = actor.builder.build

    def spying(inputs):
        inputs = list(inputs)
        seen.extend((m.info.ticker, m.book.stale) for m in inputs)
        return build(inputs)

    actor.builder.build = spying  # type: ignore[method-assign]
    return seen


async def test_a_dropped_connection_and_a_seq_gap_heal_and_stale_books_are_never_traded(sim_server,
                                                                                       models: Models) -> None:
    async with serve(sim_server, models, market_limit=3) as s:
        actor = s.actor
        decided = _spy_decisions(actor)
        await s.advance(3)
        stats = actor.ws.stats
        decisions, reconnects = actor.decisions, stats.reconnects

        await s.http.patch(sim_server.urls.admin + "/faults", json={"drop_connections": 1})
        await until(lambda: stats.reconnects > reconnects)
        await until(lambda: actor.health().books_fresh)
        await s.advance(3)
        assert actor.decisions > decisions  # trading again after the reconnect

        gaps, resyncs = stats.gaps, stats.resyncs
        sim_server.sim.faults.skip_seq = 1
        for _ in range(20):
            await s.advance(0.25)
            if stats.gaps > gaps:
                break
        assert stats.gaps > gaps
        await until(lambda: stats.resyncs > resyncs and actor.health().books_fresh)
        decisions = actor.decisions
        await s.advance(3)
        assert actor.decisions > decisions
        body = (await s.http.get("/rl/actor/health")).json()
        assert body["ready"] and body["books_fresh"], body
        await s.settled()
        for ticker in actor.tickers:  # the healed books are the exchange's
            book = actor.md.books[ticker]
            assert (book.yes, book.no) == (s.engine.book(ticker, "yes"), s.engine.book(ticker, "no"))
        assert decided and not any(stale for _, stale in decided)
        assert actor_figures(s) == exchange_figures(s)
        # /metrics counts what happened, from the feed's own figures (the dashboard plots these)
        metrics = (await s.http.get("/metrics")).text
        assert _sample(metrics, "kalshi_actor_exchange_reconnects_total") == stats.reconnects >= 1
        assert _sample(metrics, "kalshi_actor_sequence_gaps_total") == stats.gaps >= 1
        assert _sample(metrics, "kalshi_actor_resyncs_total") == stats.resyncs >= 1
        assert _sample(metrics, 'kalshi_actor_book_frames_total{kind="snapshot"}') == stats.snapshots > 3
        assert _sample(metrics, 'kalshi_actor_book_frames_total{kind="delta"}') == stats.deltas > 0


async def test_a_failing_decision_is_reported_and_the_feed_goes_on(sim_server, models: Models) -> None:
    """A decision that raises (here: the observation builder) must not drop the connection or the books."""
    async with serve(sim_server, models, market_limit=3) as s:
        actor = s.actor
        await s.advance(2)
        build, reconnects, frames = actor.builder.build, actor.ws.stats.reconnects, actor.ws.stats.frames

        def broken(markets, out=None):
            raise RuntimeError("the builder broke")

        actor.builder.build = broken
        await s.advance(4)
        assert actor.decision_errors >= 3
        health = (await s.http.get("/rl/actor/health")).json()
        assert "decision failed: RuntimeError: the builder broke" in health["last_error"]["message"]
        assert health["books_fresh"] and health["connected"] and health["ready"], health
        metrics = (await s.http.get("/metrics")).text
        assert f"kalshi_actor_decision_errors_total {float(actor.decision_errors)}" in metrics

        actor.builder.build = build
        decisions = actor.decisions
        await s.advance(3)
        assert actor.decisions > decisions  # deciding again
        assert actor.ws.stats.reconnects == reconnects and actor.ws.stats.frames > frames
        await s.settled()
        for ticker in actor.tickers:  # the books stayed the exchange's throughout
            book = actor.md.books[ticker]
            assert (book.yes, book.no) == (s.engine.book(ticker, "yes"), s.engine.book(ticker, "no"))


async def test_5xx_and_timeouts_on_create_lose_and_duplicate_no_order(sim_server, models: Models) -> None:
    from kalshi_actor.kalshi.rest import RateLimits, RetryPolicy

    # the maker rests one order per market and side, so a duplicate or a lost order would show
    async with serve(sim_server, models, market_limit=3, model_id=models.maker) as s:
        actor = s.actor
        # a client that gives up on a create after 0.2 s (the simulator holds such replies for 0.5 s)
        fragile = RestClient(sim_server.urls.rest, sim_server.signer, timeout_s=0.2,
                             retry=RetryPolicy(attempts=3, base_delay_s=0.001, max_delay_s=0.005),
                             limits=RateLimits(read_per_s=0, write_per_s=0), client_order_id_prefix=PREFIX)
        steady, actor.orders.rest = actor.orders.rest, fragile
        try:
            await s.advance(2)
            faults = sim_server.sim.faults
            faults.rate_5xx, faults.create_timeout_rate, faults.create_timeout_s = 0.3, 0.3, 0.5
            faults.rate_429 = 0.2  # and a 429 storm: retried, or given up as certainly not run
            for _ in range(12):  # the world moves the touch: the maker amends, cancels and places again
                await s.advance(1)
            unknown = actor.orders.stats.unknown_outcomes
            faults.rate_5xx = faults.create_timeout_rate = faults.rate_429 = 0.0
            await until(lambda: not actor.orders.unknown_client_order_ids and not actor.orders.reconcile_due)
            await s.advance(1)
            await s.settled()
        finally:
            actor.orders.rest = steady
            await fragile.aclose()
        assert unknown > 0  # the faults did hit order calls
        ours = [o for o in s.engine.orders.values() if o.account == s.account]
        assert ours and all(o.client_order_id.startswith(PREFIX) for o in ours)
        assert len({o.client_order_id for o in ours}) == len(ours)  # each create landed once
        resting = [(o.ticker, o.side) for o in ours if o.status is OrderStatus.RESTING]
        assert len(resting) == len(set(resting))  # at most one per market and side: no duplicate
        assert s.working() == s.resting()  # none lost, none orphaned
        assert actor_figures(s) == exchange_figures(s)


async def test_risk_limits_are_never_passed(sim_server, models: Models) -> None:
    """A policy that only buys: its positions stop at the per-market limit, the rest is blocked."""
    async with serve(sim_server, models, model_id=models.buyer, market_limit=2,
                     risk={"max_position": 3, "max_exposure": 4}) as s:
        highest: dict[str, int] = {}
        for _ in range(12):
            await s.advance(0.5)
            for ticker, count in s.engine.accounts[s.account].positions.items():
                highest[ticker] = max(highest.get(ticker, 0), abs(count))
        await s.settled()
        acct = s.engine.accounts[s.account]
        assert max(highest.values()) <= parse_count("3")
        assert sum(acct.cost_basis.values()) <= parse_money("4")
        assert sum(highest.values()) >= parse_count("4")  # it did trade up to the limits
        metrics = (await s.http.get("/metrics")).text
        assert _sample(metrics, 'kalshi_actor_orders_total{action="place",result="blocked"}') > 0
        assert actor_figures(s) == exchange_figures(s)


# --- 4. hot reload and live configuration ---


def _corrupt_copy(models: Models, model_id: str) -> str:
    """A copy of a model whose file no longer matches its checksum."""
    registry = models.registry
    record = registry.get(models.hold)
    new = registry.add(record.model_path, record.metadata, model_id=model_id, set_latest=False)
    with open(new.model_path, "ab") as f:
        f.write(b"tampered")
    return model_id


def _unloadable(models: Models, tmp_path: Path, model_id: str) -> str:
    """A model with valid checksums and metadata whose file is not a model at all."""
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"PK\x03\x04 this is not a stable-baselines3 model")
    return models.registry.add(junk, models.registry.get(models.hold).metadata, model_id=model_id,
                               set_latest=False).model_id


async def test_hot_reload_and_live_changes(sim_server, models: Models, tmp_path: Path) -> None:
    async with serve(sim_server, models, market_limit=2, model_id=models.maker) as s:
        actor = s.actor
        await s.advance(2)
        await s.settled()
        assert s.resting()  # the maker rests orders

        # a new model id loads and serves
        reply = await s.admin({"model_id": models.taker})
        assert reply.status_code == 200 and reply.json()["applied"] == {"model_id": models.taker}
        metrics = (await s.http.get("/metrics")).text
        assert _sample(metrics, 'kalshi_actor_config_changes_total{result="applied"}') == 1  # counted once
        health = await s.health()
        assert health["active_model_id"] == models.taker and health["last_reload"]["ok"]

        # a corrupt model file and an unloadable one are refused; the serving model keeps serving
        bad_models = {_corrupt_copy(models, "corrupt-1"): "does not match its checksum",
                      _unloadable(models, tmp_path, "junk-1"): "zip"}
        for bad, why in bad_models.items():
            reply = await s.admin({"model_id": bad})
            assert reply.status_code == 422 and why in reply.json()["refused"]["model_id"], reply.json()
            health = await s.health()
            assert health["active_model_id"] == models.taker and health["target_model_id"] == models.taker
            assert health["last_reload"]["ok"] is False and health["last_reload"]["model_id"] == bad
            assert why in health["last_reload"]["message"]
            decisions = actor.decisions
            await s.advance(2)
            assert actor.decisions > decisions and actor.policy.model_id == models.taker
        assert _sample((await s.http.get("/metrics")).text, 'kalshi_actor_model_reloads_total{result="failed"}') == 2

        # tick interval and risk limits, live
        reply = await s.admin({"tick_interval": 2.0, "risk": {"max_position": 3}})
        assert reply.status_code == 200, reply.json()
        assert actor.ticks.interval_ms == 2000 and actor.risk.limits.max_position == parse_count("3")
        assert (await s.health())["config"]["tick_interval"] == 2.0
        ticks = actor.ticks.ticks
        await s.advance(4)
        assert 1 <= actor.ticks.ticks - ticks <= 2

        # paused: our resting orders are cancelled and nothing new is sent
        await s.admin({"model_id": models.maker, "tick_interval": 1.0})
        await s.advance(2)
        await s.settled()
        assert s.resting()
        reply = await s.admin({"paused": True})
        assert reply.status_code == 200 and s.resting() == {} and actor.orders.orders() == []
        sent = len([o for o in s.engine.orders.values() if o.account == s.account])
        await s.advance(3)
        assert len([o for o in s.engine.orders.values() if o.account == s.account]) == sent
        health = await s.health()
        assert not health["ready"] and "paused" in health["reasons"] and health["risk_state"] == "HALTED"
        await s.admin({"paused": False})
        await s.advance(2)
        await s.settled()
        assert s.resting()  # trading again

        # a larger market limit subscribes the difference
        before = list(actor.tickers)
        reply = await s.admin({"market_limit": 4})
        assert reply.status_code == 200 and len(actor.tickers) == 4 and set(before) < set(actor.tickers)
        await until(lambda: actor.health().books_fresh)
        await s.advance(1)
        await s.settled()
        for ticker in actor.tickers:
            book = actor.md.books[ticker]
            assert (book.yes, book.no) == (s.engine.book(ticker, "yes"), s.engine.book(ticker, "no"))
        assert len((await s.health())["markets"]) == 4
        assert {t for t, *_ in s.resting().values()} == set(actor.tickers)

        # a smaller one unsubscribes the difference, and our orders there are cancelled (none left behind)
        reply = await s.admin({"market_limit": 1})
        assert reply.status_code == 200 and len(actor.tickers) == 1
        assert set(actor.md.books.books) == set(actor.tickers)
        await s.advance(1)
        await s.settled()
        assert {t for t, *_ in s.resting().values()} == set(actor.tickers)

        # bad admin requests change nothing
        config = actor.config
        assert (await s.admin({"paused": True}, token=None)).status_code == 401
        assert (await s.admin({"paused": True}, token="wrong-token-0123456789abcdef")).status_code == 401
        assert (await s.admin(b"{not json")).status_code == 400
        assert (await s.admin([1, 2])).status_code == 400
        assert (await s.admin({"paused": True, "no_such_field": 1})).status_code == 400
        reply = await s.admin({"tick_interval": -1, "environment": "production"})
        assert reply.status_code == 422 and set(reply.json()["refused"]) == {"tick_interval", "environment"}
        assert actor.config == config and not actor.config.paused


# --- 5. restart and shutdown ---


async def test_a_restart_cancels_the_first_runs_resting_orders(sim_server, models: Models) -> None:
    first = Actor(actor_config(sim_server, models, model_id=models.maker, market_limit=3))
    await first.start()
    await until(lambda: first.trading, timeout=30)
    for _ in range(40):
        sim_server.sim.world.run_for(250)
        await asyncio.sleep(0.02)
        if len(first.orders.orders()) >= 3 and not first._inflight:
            break
    account = sim_server.key.key_id
    left = {o.order_id for o in sim_server.sim.engine.resting_orders(account)}
    assert len(left) >= 3
    # the first run dies without cancelling: the exchange refuses its last calls
    sim_server.sim.faults.rate_5xx = 1.0
    await first.stop()
    sim_server.sim.faults.rate_5xx = 0.0
    assert {o.order_id for o in sim_server.sim.engine.resting_orders(account)} == left

    async with serve(sim_server, models, model_id=models.hold, market_limit=3) as s:
        assert s.resting() == {}  # reconciled before trading: none orphaned
        resting_after = {o.order_id for o in s.engine.resting_orders(account)}
        assert not (left & resting_after)
        assert actor_figures(s) == exchange_figures(s)


async def test_an_event_fee_override_reaches_its_markets_fees_and_clearing_it_restores_the_series(
        sim_server, models: Models) -> None:
    """``event_fee_update`` (Kalshi's market_lifecycle_v2 channel): the markets of the event get the override's
    schedule at once (holds of resting orders included); cleared, their series' schedule comes back."""
    async with serve(sim_server, models, model_id=models.maker, market_limit=3) as s:
        actor = s.actor
        ticker = actor.tickers[0]
        event = actor._event_of[ticker]
        series = actor.md.markets[ticker].fees
        assert series is not None and not series.charges_makers
        frame = ('{"type":"event_fee_update","sid":5,"seq":9,"msg":{"event_ticker":"%s",'
                 '"fee_type_override":"quadratic_with_maker_fees","fee_multiplier_override":%s}}')
        actor._on_event(F.decode(frame % (event, "2")))
        others = [t for t in actor.tickers if actor._event_of[t] != event]
        assert actor.md.markets[ticker].fees == FeeSchedule.of("quadratic_with_maker_fees", 2)
        assert actor.portfolio.fee_schedules[ticker].charges_makers
        assert all(actor.md.markets[t].fees == actor._series_fees[t] for t in others)
        cleared = '{"type":"event_fee_update","sid":5,"seq":10,"msg":{"event_ticker":"%s","fee_type_override":null,' \
                  '"fee_multiplier_override":null}}' % event
        actor._on_event(F.decode(cleared))
        assert actor.md.markets[ticker].fees == series and actor.portfolio.fee_schedules[ticker] == series
