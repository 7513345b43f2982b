"""The REST client against the simulator's REST endpoints, over real sockets on 127.0.0.1."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, get_args

import httpx
import pytest

from kalshi_actor.kalshi import (
    AuthenticationError,
    BadRequest,
    Conflict,
    KalshiError,
    NotFound,
    RateLimited,
    RateLimits,
    RestClient,
    RetryPolicy,
    ServerError,
    Signer,
    UnknownOrderOutcome,
)
from kalshi_actor.kalshi.auth import generate_ed25519_keypair, generate_rsa_keypair, new_key_id
from kalshi_actor.kalshi.errors import TransportError, error_from_response, parse_error_body
from kalshi_actor.kalshi.models import (
    BatchCancelItem,
    CreateOrderRequest,
    SelfTradePreventionName,
    TimeInForceName,
    series_ticker_of,
)
from kalshi_actor.kalshi.rest import DEMO_URL, PRODUCTION_URL
from kalshi_actor.sim.markets import SERIES_BY_TICKER
from kalshi_actor.sim.types import OrderStatus, SelfTradePrevention, TimeInForce
from kalshi_actor.units import parse_count, parse_money, parse_price

if TYPE_CHECKING:
    from conftest import RunningSim

    from kalshi_actor.sim.server import Simulator

P, C, M = parse_price, parse_count, parse_money
FAST = RetryPolicy(attempts=8, base_delay_s=0.001, max_delay_s=0.01)
UNLIMITED = RateLimits(read_per_s=0, write_per_s=0)
MAKER = "test-mm"  # an engine account the tests trade against, outside the REST API


@dataclass
class Exchange:
    """The running simulator (virtual clock: the synthetic traders stay still) seen from the tests."""

    running: RunningSim
    tickers: list[str]

    @property
    def sim(self) -> Simulator:
        return self.running.sim

    @property
    def rest_url(self) -> str:
        return self.running.urls.rest

    @property
    def key(self):
        return self.running.key

    @property
    def initial(self) -> int:
        return self.sim.initial_balance

    def client(self, signer: Signer | None | str = "own", **options: Any) -> RestClient:
        options.setdefault("retry", FAST)
        options.setdefault("limits", UNLIMITED)
        return RestClient(self.rest_url, self.key.signer() if signer == "own" else signer, **options)  # type: ignore[arg-type]

    def orders_with_client_id(self, client_order_id: str) -> list:
        return [o for o in self.sim.engine.orders.values() if o.client_order_id == client_order_id]


@pytest.fixture
async def exchange(sim_server: RunningSim) -> AsyncIterator[Exchange]:
    engine = sim_server.sim.engine
    engine.open_account(MAKER, M("1000000"))
    yield Exchange(sim_server, list(engine.markets))


# --- markets ---


async def test_markets_pages_and_single_market(exchange: Exchange) -> None:
    async with exchange.client(signer=None) as kalshi:  # market data is public
        n = len(exchange.tickers)
        first = await kalshi.get_markets(limit=n - 1)
        assert len(first.markets) == n - 1 and first.cursor
        every = [m.ticker async for m in kalshi.iter_markets(limit=n - 1)]
        assert every == exchange.tickers  # over 2 pages, each market once
        assert [m.ticker async for m in kalshi.iter_markets(status="open", limit=1)] == exchange.tickers
        assert [m async for m in kalshi.iter_markets(status="settled")] == []
        event = exchange.sim.engine.markets[exchange.tickers[0]].event_ticker
        same_event = [t for t in exchange.tickers if exchange.sim.engine.markets[t].event_ticker == event]
        assert [m.ticker async for m in kalshi.iter_markets(event_ticker=event)] == same_event
        picked = await kalshi.get_markets(tickers=exchange.tickers[1:3])
        assert [m.ticker for m in picked.markets] == exchange.tickers[1:3] and picked.cursor == ""

        ticker = exchange.tickers[0]
        market = await kalshi.get_market(ticker)
        assert market.ticker == ticker and market.status == "active" and market.market_type == "binary"
        assert market.price_ranges and market.tick_grid.min_price > 0
        with pytest.raises(NotFound) as info:
            await kalshi.get_market("NO-SUCH-MARKET")
        assert info.value.status == 404 and info.value.code == "not_found"


async def test_series_carry_the_fee_schedule_the_engine_charges(exchange: Exchange) -> None:
    engine = exchange.sim.engine
    async with exchange.client(signer=None) as kalshi:
        for ticker in exchange.tickers:
            market = engine.markets[ticker]
            wire = await kalshi.get_market(ticker)
            series = await kalshi.get_series(series_ticker_of(wire.event_ticker))
            assert series.ticker == market.series_ticker
            assert (series.fee_type, series.fee_multiplier) == (market.fee_type, market.fee_multiplier)
        listed = {s.ticker: s async for s in kalshi.iter_series()}
        assert set(SERIES_BY_TICKER) <= set(listed)  # the catalog's series, listed or not yet
        nba = listed["KXNEXTTEAMNBA"]
        assert (nba.fee_type, nba.fee_multiplier, nba.category) == ("quadratic_with_maker_fees", 1.0, "Sports")
        assert listed["KXINXU"].fee_multiplier == 0.5
        sports = [s.ticker async for s in kalshi.iter_series(category="Sports")]
        assert sports == ["KXNEXTTEAMNBA"]
        assert [s.ticker async for s in kalshi.iter_series(tags="BTC")] == ["KXBTCD", "KXBTC"]
        listing = {engine.markets[t].series_ticker for t in exchange.tickers}  # only listed series were updated
        assert {s.ticker async for s in kalshi.iter_series(min_updated_ts=0)} == listing
        volume = (await kalshi.get_series_list(include_volume=True)).series
        assert all(s.volume_fp is not None for s in volume)
        assert all(s.volume_fp is None for s in listed.values())
        with pytest.raises(NotFound):
            await kalshi.get_series("NOSUCHSERIES")


async def test_market_quotes_follow_the_book(exchange: Exchange) -> None:
    engine = exchange.sim.engine
    ticker = exchange.tickers[0]
    engine.place_order(MAKER, ticker, "yes", P("0.4200"), C("13.00"))
    engine.place_order(MAKER, ticker, "no", P("0.5500"), C("7.50"))
    async with exchange.client(signer=None) as kalshi:
        market = await kalshi.get_market(ticker)
    assert (market.yes_bid_dollars, market.yes_bid_size_fp) == (P("0.4200"), C("13.00"))
    assert (market.yes_ask_dollars, market.yes_ask_size_fp) == (P("0.4500"), C("7.50"))
    assert (market.no_bid_dollars, market.no_ask_dollars) == (P("0.5500"), P("0.5800"))


async def test_orderbooks(exchange: Exchange) -> None:
    engine = exchange.sim.engine
    ticker, other = exchange.tickers[0], exchange.tickers[1]
    for price, size in (("0.4000", "1.00"), ("0.4200", "13.00"), ("0.4100", "2.50")):
        engine.place_order(MAKER, ticker, "yes", P(price), C(size))
    engine.place_order(MAKER, ticker, "no", P("0.5500"), C("3.00"))
    async with exchange.client(signer=None) as kalshi:
        book = await kalshi.get_orderbook(ticker)
        assert book.yes_dollars == [(P("0.4000"), C("1.00")), (P("0.4100"), C("2.50")), (P("0.4200"), C("13.00"))]
        assert book.no_dollars == [(P("0.5500"), C("3.00"))]
        assert (book.best_yes_bid, book.best_yes_ask) == (P("0.4200"), P("0.4500"))
        top = await kalshi.get_orderbook(ticker, depth=2)
        assert top.yes_dollars == book.yes_dollars[-2:]
        books = await kalshi.get_orderbooks([ticker, other, "NO-SUCH-MARKET"])
        assert set(books) == {ticker, other}
        assert books[ticker] == book and books[other].yes_dollars == []
        with pytest.raises(NotFound):
            await kalshi.get_orderbook("NO-SUCH-MARKET")


async def test_raw_wire_strings(exchange: Exchange) -> None:
    """The simulator sends Kalshi's strings, not our integers."""
    ticker = exchange.tickers[0]
    exchange.sim.engine.place_order(MAKER, ticker, "yes", P("0.4200"), C("13.00"))
    async with httpx.AsyncClient() as http:
        raw = (await http.get(f"{exchange.rest_url}/markets/{ticker}/orderbook")).json()
    assert raw == {"orderbook_fp": {"yes_dollars": [["0.4200", "13.00"]], "no_dollars": []}}


# --- authentication ---


async def test_portfolio_requires_a_valid_signature(exchange: Exchange) -> None:
    stranger_private, _ = generate_rsa_keypair()
    cases = {
        "unsigned": None,
        "bad signature": Signer.from_pem(exchange.key.key_id, stranger_private),  # right id, wrong key
        "unknown key": Signer.from_pem(new_key_id(), stranger_private),
    }
    for name, signer in cases.items():
        async with exchange.client(signer=signer) as kalshi:
            with pytest.raises(AuthenticationError) as info:
                await kalshi.get_balance()
        assert info.value.status == 401 and info.value.code == "authentication_error", name

    # a stale timestamp, signed correctly
    path = "/trade-api/v2/portfolio/balance"
    stale = exchange.key.signer().headers("GET", path, timestamp_ms=int(time.time() * 1000) - 120_000)
    async with httpx.AsyncClient() as http:
        response = await http.get(exchange.rest_url + "/portfolio/balance", headers=stale)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_error"
    assert "stale" in response.json()["error"]["message"]


async def test_public_reads_accept_anonymous_but_check_presented_headers(exchange: Exchange) -> None:
    wrong = Signer.from_pem(exchange.key.key_id, generate_ed25519_keypair()[0])
    async with exchange.client(signer=wrong) as kalshi:
        with pytest.raises(AuthenticationError):
            await kalshi.get_market(exchange.tickers[0])
    async with exchange.client() as kalshi:
        assert (await kalshi.get_market(exchange.tickers[0])).ticker == exchange.tickers[0]


async def test_query_string_is_not_part_of_the_signature(exchange: Exchange) -> None:
    async with exchange.client() as kalshi:
        page = await kalshi.get_orders(ticker=exchange.tickers[0], status="resting", limit=5)
    assert page.orders == []


# --- portfolio and orders ---


async def test_order_lifecycle(exchange: Exchange) -> None:
    ticker = exchange.tickers[0]
    async with exchange.client() as kalshi:
        before = await kalshi.get_balance()
        assert before.balance_dollars == exchange.initial and before.balance == exchange.initial // 10_000

        placed = await kalshi.create_order(ticker, "bid", price=P("0.3000"), count=C("10.00"))
        assert placed.client_order_id and placed.client_order_id.startswith("ka-")
        assert (placed.fill_count, placed.remaining_count, placed.average_fill_price) == (0, C("10.00"), None)

        order = await kalshi.get_order(placed.order_id)
        assert (order.ticker, order.status, order.book_side, order.outcome_side) == (ticker, "resting", "bid", "yes")
        assert (order.yes_price_dollars, order.no_price_dollars) == (P("0.3000"), P("0.7000"))
        assert (order.initial_count_fp, order.remaining_count_fp, order.fill_count_fp) == (C("10.00"),) * 2 + (0,)
        assert order.client_order_id == placed.client_order_id and order.user_id == exchange.key.key_id

        held = await kalshi.get_balance()
        maker_fee = exchange.sim.engine.maker_fee(exchange.sim.engine.markets[ticker], P("0.3000"), C("10.00"))
        assert held.available == exchange.initial - P("0.3000") * C("10.00") - maker_fee  # the resting order's hold

        decreased = await kalshi.decrease_order(placed.order_id, reduce_by=C("2.50"))
        assert decreased.remaining_count == C("7.50")
        decreased = await kalshi.decrease_order(placed.order_id, reduce_to=C("5.00"))
        assert decreased.remaining_count == C("5.00")

        amended = await kalshi.amend_order(placed.order_id, ticker=ticker, side="bid", price=P("0.3100"),
                                           count=C("8.00"))
        assert amended.remaining_count == C("8.00") and amended.fill_count == 0
        order = await kalshi.get_order(placed.order_id)
        assert (order.yes_price_dollars, order.remaining_count_fp, order.initial_count_fp) == (
            P("0.3100"), C("8.00"), C("8.00"))

        canceled = await kalshi.cancel_order(placed.order_id, market_ticker=ticker)
        assert canceled.reduced_by == C("8.00") and canceled.client_order_id == placed.client_order_id
        order = await kalshi.get_order(placed.order_id)
        assert order.status == "canceled" and order.remaining_count_fp == 0
        assert (await kalshi.get_balance()).available == exchange.initial

        with pytest.raises(NotFound) as info:
            await kalshi.cancel_order(placed.order_id)
        assert info.value.code == "order_not_found"
        with pytest.raises(NotFound):
            await kalshi.get_order("no-such-order")


async def test_ask_is_a_no_bid_at_the_complement(exchange: Exchange) -> None:
    ticker = exchange.tickers[0]
    async with exchange.client() as kalshi:
        placed = await kalshi.create_order(ticker, "ask", price=P("0.6500"), count=C("4.00"))
        book = await kalshi.get_orderbook(ticker)
        order = await kalshi.get_order(placed.order_id)
    assert book.no_dollars == [(P("0.3500"), C("4.00"))] and book.yes_dollars == []
    assert (order.book_side, order.outcome_side) == ("ask", "no")
    assert (order.yes_price_dollars, order.no_price_dollars) == (P("0.6500"), P("0.3500"))


async def test_fills_positions_and_settlement(exchange: Exchange) -> None:
    engine = exchange.sim.engine
    ticker = exchange.tickers[0]
    engine.place_order(MAKER, ticker, "no", P("0.5500"), C("100.00"))  # a YES ask at 0.45
    async with exchange.client() as kalshi:
        taken = await kalshi.create_order(ticker, "bid", price=P("0.5000"), count=C("10.00"),
                                          time_in_force="immediate_or_cancel")
        assert (taken.fill_count, taken.remaining_count) == (C("10.00"), 0)
        assert taken.average_fill_price == M("0.45")  # traded at the resting price
        fee = engine.taker_fee(engine.markets[ticker], P("0.4500"), C("10.00"))
        assert fee > 0 and taken.average_fee_paid == fee * 100 // C("10.00")

        fills = [f async for f in kalshi.iter_fills(limit=1)]
        assert len(fills) == 1
        fill = fills[0]
        assert (fill.order_id, fill.ticker, fill.is_taker, fill.count_fp) == (taken.order_id, ticker, True, C("10.00"))
        assert (fill.yes_price_dollars, fill.no_price_dollars, fill.outcome_side, fill.book_side) == (
            P("0.4500"), P("0.5500"), "yes", "bid")
        assert fill.fee_cost == fee
        assert [f.order_id for f in (await kalshi.get_fills(order_id="other")).fills] == []

        positions = [p async for p in kalshi.iter_positions()]
        assert [(p.ticker, p.position_fp) for p in positions] == [(ticker, C("10.00"))]
        position = positions[0]
        assert position.market_exposure_dollars == M("4.5") and position.total_traded_dollars == M("4.5")
        assert position.fees_paid_dollars == fee and position.resting_orders_count == 0
        page = await kalshi.get_positions(count_filter="position")
        event = page.event_positions[0]
        assert event.event_ticker == engine.markets[ticker].event_ticker
        assert (event.total_cost_shares_fp, event.total_cost_dollars) == (C("10.00"), M("4.5"))

        executed = await kalshi.get_order(taken.order_id)
        assert executed.status == "executed" and executed.taker_fill_cost_dollars == M("4.5")
        assert executed.taker_fees_dollars == fee and executed.maker_fill_cost_dollars == 0

        engine.settle_market(ticker, "yes")
        settlements = [s async for s in kalshi.iter_settlements()]
        assert len(settlements) == 1
        s = settlements[0]
        assert (s.ticker, s.market_result, s.yes_count_fp, s.no_count_fp) == (ticker, "yes", C("10.00"), 0)
        assert (s.yes_total_cost_dollars, s.revenue, s.value) == (M("4.5"), 1_000, 100)
        balance = await kalshi.get_balance()
        assert balance.available == exchange.initial - M("4.5") - fee + M("10")
        market = await kalshi.get_market(ticker)
        assert (market.status, market.result) == ("finalized", "yes")
        assert [m.ticker async for m in kalshi.iter_markets(status="settled")] == [ticker]
        with pytest.raises(BadRequest) as info:
            await kalshi.create_order(ticker, "bid", price=P("0.5000"), count=C("1.00"))
        assert info.value.code == "market_closed"


async def test_orders_listing_filters_and_pages(exchange: Exchange) -> None:
    a, b = exchange.tickers[0], exchange.tickers[1]
    async with exchange.client() as kalshi:
        ids = [(await kalshi.create_order(a, "bid", price=P("0.1000") + 100 * i, count=C("1.00"))).order_id
               for i in range(3)]
        other = (await kalshi.create_order(b, "bid", price=P("0.1000"), count=C("1.00"))).order_id
        await kalshi.cancel_order(ids[0])
        listed = [o.order_id async for o in kalshi.iter_orders(limit=2)]
        assert listed == [other, *reversed(ids)]  # newest first, every order once
        assert [o.order_id async for o in kalshi.iter_orders(ticker=a, status="resting")] == [ids[2], ids[1]]
        assert [o.order_id for o in (await kalshi.get_orders(status="canceled")).orders] == [ids[0]]
        with pytest.raises(BadRequest):
            await kalshi.get_orders(cursor="not-a-cursor")


async def test_batch_create_and_cancel(exchange: Exchange) -> None:
    ticker = exchange.tickers[0]
    requests = [
        CreateOrderRequest(ticker=ticker, side="bid", price=P("0.2000"), count=C("1.00")),
        CreateOrderRequest(ticker=ticker, side="ask", price=P("0.9000"), count=C("2.00")),
        CreateOrderRequest(ticker=ticker, side="bid", price=P("0.2050"), count=C("1.00")),  # off the cent grid
    ]
    async with exchange.client() as kalshi:
        results = await kalshi.batch_create_orders(requests)
        assert [r.error is None for r in results] == [True, True, False]
        assert results[2].error is not None and results[2].error.code == "invalid_price"
        assert all(r.client_order_id for r in results)
        created = [r.order_id for r in results[:2]]
        assert all(created)

        cancels = await kalshi.batch_cancel_orders([created[0], BatchCancelItem(order_id=created[1],
                                                                                market_ticker=ticker), "nope"])
        assert [c.reduced_by for c in cancels] == [C("1.00"), C("2.00"), 0]
        assert cancels[2].error is not None and cancels[2].error.code == "order_not_found"

        for _ in range(3):
            await kalshi.create_order(ticker, "bid", price=P("0.1000"), count=C("1.00"))
        await kalshi.cancel_all_orders()
        assert (await kalshi.get_orders(status="resting")).orders == []


async def test_engine_errors_map_to_kalshi_error_bodies(exchange: Exchange) -> None:
    ticker = exchange.tickers[0]
    async with exchange.client() as kalshi:
        with pytest.raises(BadRequest) as info:
            await kalshi.create_order(ticker, "bid", price=P("0.4250"), count=C("1.00"))
        assert (info.value.status, info.value.code) == (400, "invalid_price")
        with pytest.raises(BadRequest) as info:
            await kalshi.create_order(ticker, "bid", price=P("0.9900"), count=C("10000000.00"))
        assert info.value.code == "insufficient_balance"
        with pytest.raises(NotFound) as info:
            await kalshi.create_order("NO-SUCH-MARKET", "bid", price=P("0.5000"), count=C("1.00"))
        await kalshi.create_order(ticker, "bid", price=P("0.1000"), count=C("1.00"), client_order_id="mine-1")
        with pytest.raises(Conflict) as info:  # a reused client_order_id is the caller's error, not retried
            await kalshi.create_order(ticker, "bid", price=P("0.1000"), count=C("1.00"), client_order_id="mine-1")
        assert info.value.code == "duplicate_client_order_id"
        assert len(exchange.orders_with_client_id("mine-1")) == 1
        with pytest.raises(ValueError):
            await kalshi.decrease_order("x", reduce_by=C("1.00"), reduce_to=C("1.00"))

    # a malformed body: numbers where Kalshi wants strings
    path = "/trade-api/v2/portfolio/events/orders"
    headers = exchange.key.signer().headers("POST", path)
    async with httpx.AsyncClient() as http:
        response = await http.post(exchange.rest_url + "/portfolio/events/orders", headers=headers, json={
            "ticker": ticker, "side": "bid", "count": 1, "price": 42, "time_in_force": "good_till_canceled",
            "self_trade_prevention_type": "taker_at_cross"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_parameters"
    assert exchange.sim.engine.resting_orders(exchange.key.key_id, ticker)[0].price == P("0.1000")  # only mine-1


def test_error_bodies_in_both_shapes() -> None:
    nested = b'{"error": {"code": "order_not_found", "message": "no such order", "details": "x"}}'
    flat = b'{"code": "order_not_found", "message": "no such order", "details": "x"}'
    assert parse_error_body(nested) == parse_error_body(flat) == ("order_not_found", "no such order", "x")
    assert parse_error_body(b"<html>bad gateway</html>") == ("", "<html>bad gateway</html>", "")
    for status, cls in ((400, BadRequest), (401, AuthenticationError), (404, NotFound), (409, Conflict),
                        (429, RateLimited), (500, ServerError), (503, ServerError), (418, BadRequest)):
        error = error_from_response(status, flat, method="GET", path="/x")
        assert type(error) is cls and isinstance(error, KalshiError)
        assert (error.status, error.code, error.message) == (status, "order_not_found", "no such order")
    assert "GET /x: 404 order_not_found: no such order" in str(error_from_response(404, flat, method="GET",
                                                                                     path="/x"))


# --- retries, faults, unknown outcomes ---


async def test_reads_retry_through_429_and_5xx(exchange: Exchange) -> None:
    exchange.sim.faults.rate_429 = 0.3
    exchange.sim.faults.rate_5xx = 0.3
    async with exchange.client(retry=RetryPolicy(attempts=1)) as fragile:
        outcomes = []
        for _ in range(20):
            try:
                await fragile.get_balance()
                outcomes.append("ok")
            except (RateLimited, ServerError) as exc:
                outcomes.append(type(exc).__name__)
    assert {"RateLimited", "ServerError"} <= set(outcomes)  # the faults are real
    async with exchange.client(retry=RetryPolicy(attempts=30, base_delay_s=0.001, max_delay_s=0.005)) as kalshi:
        for _ in range(20):
            assert (await kalshi.get_balance()).balance_dollars == exchange.initial
        assert len([m async for m in kalshi.iter_markets(limit=1)]) == len(exchange.tickers)


async def test_create_timeout_is_resolved_by_client_order_id(exchange: Exchange) -> None:
    exchange.sim.faults.create_timeout_rate = 1.0
    exchange.sim.faults.create_timeout_s = 2.0
    ticker = exchange.tickers[0]
    async with exchange.client(timeout_s=0.3) as kalshi:
        placed = await kalshi.create_order(ticker, "bid", price=P("0.2000"), count=C("3.00"),
                                           client_order_id="timeout-1")
        assert placed.client_order_id == "timeout-1" and placed.remaining_count == C("3.00")
    orders = exchange.orders_with_client_id("timeout-1")
    assert len(orders) == 1 and orders[0].order_id == placed.order_id  # found, not placed twice
    assert orders[0].status is OrderStatus.RESTING


class _DropFirstCreate(httpx.AsyncBaseTransport):
    """A network that loses the first order create: before it reaches the server, or its answer after."""

    def __init__(self, *, deliver: bool) -> None:
        self.deliver = deliver
        self.inner = httpx.AsyncHTTPTransport()
        self.dropped = 0
        self.creates = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        is_create = request.method == "POST" and request.url.path.endswith("/portfolio/events/orders")
        self.creates += is_create
        if is_create and not self.dropped:
            self.dropped += 1
            if self.deliver:
                response = await self.inner.handle_async_request(request)
                await response.aread()
            raise httpx.ReadError("connection reset by peer", request=request)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_lost_answer_is_found_without_resending(exchange: Exchange) -> None:
    network = _DropFirstCreate(deliver=True)
    async with exchange.client(transport=network) as kalshi:
        placed = await kalshi.create_order(exchange.tickers[0], "bid", price=P("0.2000"), count=C("1.00"))
    assert network.creates == 1  # looked up, not resent
    assert [o.order_id for o in exchange.orders_with_client_id(placed.client_order_id)] == [placed.order_id]


async def test_lost_request_is_resent_once_with_the_same_client_order_id(exchange: Exchange) -> None:
    network = _DropFirstCreate(deliver=False)
    async with exchange.client(transport=network) as kalshi:
        placed = await kalshi.create_order(exchange.tickers[0], "bid", price=P("0.2000"), count=C("1.00"),
                                           client_order_id="lost-1")
    assert network.creates == 2
    assert [o.order_id for o in exchange.orders_with_client_id("lost-1")] == [placed.order_id]


async def test_unresolvable_create_raises_unknown_order_outcome(exchange: Exchange) -> None:
    exchange.sim.faults.rate_5xx = 1.0  # every call fails, the lookups too
    async with exchange.client(retry=RetryPolicy(attempts=2, base_delay_s=0.001)) as kalshi:
        with pytest.raises(UnknownOrderOutcome) as info:
            await kalshi.create_order(exchange.tickers[0], "bid", price=P("0.2000"), count=C("1.00"),
                                      client_order_id="unknown-1")
    assert info.value.client_order_ids == ["unknown-1"]
    assert isinstance(info.value, KalshiError)


async def test_writes_other_than_create_are_not_retried_on_5xx(exchange: Exchange) -> None:
    async with exchange.client() as kalshi:
        placed = await kalshi.create_order(exchange.tickers[0], "bid", price=P("0.2000"), count=C("1.00"))
        exchange.sim.faults.rate_5xx = 1.0
        with pytest.raises(ServerError):
            await kalshi.cancel_order(placed.order_id)
        exchange.sim.faults.rate_5xx = 0.0
        assert (await kalshi.get_order(placed.order_id)).status == "resting"


async def test_connection_refused_is_a_transport_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once closed
    async with RestClient(f"http://127.0.0.1:{port}/trade-api/v2", retry=RetryPolicy(attempts=2, base_delay_s=0.001),
                          limits=UNLIMITED) as kalshi:
        with pytest.raises(TransportError) as info:
            await kalshi.get_market("X")
    assert info.value.sent is False and info.value.status is None


async def test_client_never_logs_key_material(exchange: Exchange, caplog: pytest.LogCaptureFixture) -> None:
    signer = exchange.key.signer()
    key_body = "".join(exchange.key.private_pem.splitlines()[1:-1])
    with caplog.at_level(logging.DEBUG):
        async with exchange.client() as kalshi:
            await kalshi.get_balance()
            logging.getLogger("test").debug("client %r", kalshi)
    assert caplog.records  # something was logged
    for record in caplog.records:
        text = record.getMessage()
        assert key_body[:40] not in text and "PRIVATE KEY" not in text
        assert "KALSHI-ACCESS-SIGNATURE" not in text
    assert signer.key_id in repr(signer)


def test_hosts() -> None:
    assert PRODUCTION_URL == "https://external-api.kalshi.com/trade-api/v2"
    assert DEMO_URL == "https://external-api.demo.kalshi.co/trade-api/v2"


async def test_calls_beyond_one_bucket_of_tokens_still_go_through(exchange: Exchange) -> None:
    async with exchange.client(limits=RateLimits(read_per_s=200, write_per_s=100)) as kalshi:
        markets = [await kalshi.get_market(exchange.tickers[0]) for _ in range(25)]  # 250 tokens at 10 a call
    assert len(markets) == 25 and all(m.ticker == exchange.tickers[0] for m in markets)


def test_wire_enums_match_the_engine() -> None:
    assert set(get_args(TimeInForceName)) == {t.value for t in TimeInForce}
    assert set(get_args(SelfTradePreventionName)) == {s.value for s in SelfTradePrevention}
