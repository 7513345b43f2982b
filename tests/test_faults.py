"""Every fault at once: the client's books stay exact and no order is lost or duplicated.

The simulator runs with all of its faults switched on together (429s, 5xx, order creates
answered too late, delayed frames, skipped sequence numbers, dropped connections) while a
client follows every book over the WebSocket and places orders over REST. When the faults
stop, the client's books must equal the engine's, and every order the client asked for
must exist exactly once, or, where the client reported an unknown outcome, at most once.
"""

from __future__ import annotations

import asyncio

from kalshi_actor.kalshi.errors import KalshiError, UnknownOrderOutcome
from kalshi_actor.kalshi.rest import RestClient, RetryPolicy
from kalshi_actor.kalshi.ws import KalshiWebSocket

from support import advance, books_match_engine, until

ROUNDS = 24


async def test_books_and_orders_survive_every_fault_at_once(sim_server) -> None:
    sim, engine = sim_server.sim, sim_server.sim.engine
    tickers = sorted(engine.markets)
    account = sim_server.key.key_id
    retry = RetryPolicy(attempts=8, base_delay_s=0.01, max_delay_s=0.05)
    async with (
        RestClient(sim_server.urls.rest, sim_server.signer, timeout_s=0.5, retry=retry, seed=1) as rest,
        KalshiWebSocket(sim_server.signer, sim_server.urls.ws, backoff_initial=0.05, backoff_max=0.2) as ws,
    ):
        await ws.subscribe(["orderbook_delta"], tickers)
        await until(lambda: books_match_engine(ws, engine, tickers))
        faults = sim.faults
        faults.rate_429, faults.rate_5xx, faults.create_timeout_rate = 0.15, 0.15, 0.2
        faults.create_timeout_s, faults.ws_delay_ms = 1.0, 5

        created: set[str] = set()
        unknown: set[str] = set()
        for i in range(ROUNDS):
            if i % 8 == 3:
                faults.skip_seq = 1
            if i % 8 == 6:
                faults.drop_connections = 1
                await sim.hub.drop_connections(faults)
            await advance(sim, 2, 250)
            cid = rest.new_client_order_id()
            try:
                # $0.01 bids rest far from the touch on every grid: the order's life is only the fault's
                reply = await rest.create_order(tickers[i % len(tickers)], "bid", price=100, count=100,
                                                client_order_id=cid)
                assert reply.client_order_id == cid
                created.add(cid)
            except UnknownOrderOutcome:
                unknown.add(cid)
            except KalshiError as exc:  # a 429/5xx on every retry: the client says so, nothing is assumed
                assert exc.status in (429, 503), exc

        faults.rate_429 = faults.rate_5xx = faults.create_timeout_rate = 0.0
        faults.ws_delay_ms = 0
        await asyncio.sleep(faults.create_timeout_s)  # replies still held back by the fault are released
        await advance(sim, 4, 250)
        await until(lambda: books_match_engine(ws, engine, tickers), timeout=30)

    on_exchange = [o.client_order_id for o in engine.orders.values() if o.account == account]
    assert len(on_exchange) == len(set(on_exchange)), "an order was duplicated"
    assert created <= set(on_exchange), "an order the client reported as created is missing"
    assert set(on_exchange) <= created | unknown, "the exchange holds an order the client reported as failed"
    assert created, "some orders got through the faults"
    assert ws.stats.gaps >= 1 and ws.stats.reconnects >= 1, "the faults really happened"
