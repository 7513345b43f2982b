"""Contract: every REST endpoint the simulator serves answers with the body Kalshi's OpenAPI spec describes.

Each case calls one endpoint of a running simulator over a real socket with a signed request,
checks the status, and validates the JSON body against the response schema that the vendored
``tests/contract/spec/openapi.yaml`` gives that operation and status (``$ref``s resolved,
``nullable`` honoured, ``date-time`` checked). The requests themselves are validated against
the spec's request schemas too, so the cases speak the protocol they check. A failure names
the endpoint (the case id) and the JSON path of every problem.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from contract import specs
from contract.kalshi_http import kalshi_request

from kalshi_actor.units import parse_count, parse_money, parse_price

if TYPE_CHECKING:
    from conftest import RunningSim

P, C, M = parse_price, parse_count, parse_money
MAKER = "contract-mm"  # an engine account that provides liquidity, outside the REST API


@dataclass
class Exchange:
    """A simulator with books, one resting order, fills and a settled position of the API key's account."""

    running: RunningSim
    http: httpx.AsyncClient
    tickers: list[str]  # [0]: tapered_deci_cent, live; [-1]: settled (yes)
    resting_order_id: str = ""
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    @property
    def ticker(self) -> str:
        return self.tickers[0]

    def client_order_id(self) -> str:
        return f"contract-{next(self._ids)}"

    async def call(self, method: str, path: str, *, params: dict[str, Any] | None = None,
                   body: Any = None, signed: bool = True) -> httpx.Response:
        """A request to ``/trade-api/v2{path}``, signed like Kalshi wants (path without the query)."""
        return await kalshi_request(self.http, self.running.urls.rest, self.running.signer if signed else None,
                                    method, path, params=params, body=body)

    async def place(self, **order: Any) -> dict[str, Any]:
        order.setdefault("time_in_force", "good_till_canceled")
        order.setdefault("self_trade_prevention_type", "taker_at_cross")
        order.setdefault("client_order_id", self.client_order_id())
        response = await self.call("POST", "/portfolio/events/orders", body=order)
        assert response.status_code == 201, response.text
        return response.json()


@pytest.fixture
async def exchange(sim_server: RunningSim) -> AsyncIterator[Exchange]:
    engine = sim_server.sim.engine
    tickers = list(engine.markets)
    engine.open_account(MAKER, M("1000000"))
    live, settled = tickers[0], tickers[-1]
    engine.place_order(MAKER, live, "yes", P("0.4200"), C("13.00"))
    engine.place_order(MAKER, live, "yes", P("0.4100"), C("2.50"))
    engine.place_order(MAKER, live, "no", P("0.5500"), C("7.50"))
    engine.place_order(MAKER, settled, "no", P("0.6000"), C("5.00"))
    async with httpx.AsyncClient(timeout=10) as http:
        ex = Exchange(sim_server, http, tickers)
        resting = await ex.place(ticker=live, side="bid", count="2.00", price="0.4000")
        ex.resting_order_id = resting["order_id"]
        await ex.place(ticker=live, side="ask", count="1.00", price="0.4200",
                       time_in_force="immediate_or_cancel")  # sells YES into the 0.42 bid: a taker fill
        await ex.place(ticker=settled, side="bid", count="2.00", price="0.4000",
                       time_in_force="immediate_or_cancel")  # buys YES from the NO bid at 0.60
        response = await http.post(f"{sim_server.urls.admin}/markets/{settled}/settle", params={"result": "yes"})
        assert response.status_code == 200, response.text
        yield ex


# --- the cases: one per (endpoint, status) ---


@dataclass(frozen=True)
class Request:
    path: str  # concrete, after the prefix
    params: dict[str, Any] | None = None
    body: Any = None
    signed: bool = True


@dataclass(frozen=True)
class Case:
    method: str
    template: str  # the spec's path
    status: int
    prepare: Callable[[Exchange], Awaitable[Request]]

    @property
    def id(self) -> str:
        return f"{self.method} {self.template} -> {self.status}"


CASES: list[Case] = []


def case(method: str, template: str, status: int = 200):
    def register(prepare: Callable[[Exchange], Awaitable[Request]]) -> Callable[[Exchange], Awaitable[Request]]:
        CASES.append(Case(method, template, status, prepare))
        return prepare
    return register


@case("GET", "/markets")
async def _markets(ex: Exchange) -> Request:
    return Request("/markets", params={"limit": 2})  # a page with a cursor


@case("GET", "/markets")
async def _markets_settled(ex: Exchange) -> Request:
    return Request("/markets", params={"status": "settled"})  # a settled market has its result fields


@case("GET", "/markets/{ticker}")
async def _market(ex: Exchange) -> Request:
    return Request(f"/markets/{ex.ticker}")


@case("GET", "/markets/{ticker}/orderbook")
async def _orderbook(ex: Exchange) -> Request:
    return Request(f"/markets/{ex.ticker}/orderbook")


@case("GET", "/markets/{ticker}/orderbook")
async def _empty_orderbook(ex: Exchange) -> Request:
    return Request(f"/markets/{ex.tickers[1]}/orderbook")


@case("GET", "/markets/orderbooks")
async def _orderbooks(ex: Exchange) -> Request:
    return Request("/markets/orderbooks", params={"tickers": ",".join(ex.tickers[:2])})


@case("GET", "/series/{series_ticker}")
async def _series(ex: Exchange) -> Request:
    series = ex.running.sim.engine.markets[ex.ticker].series_ticker
    return Request(f"/series/{series}", params={"include_volume": "true"})


@case("GET", "/series")
async def _series_list(ex: Exchange) -> Request:
    return Request("/series", params={"include_volume": "true"})


@case("GET", "/series")
async def _series_list_filtered(ex: Exchange) -> Request:
    return Request("/series", params={"category": "Sports", "min_updated_ts": 0})


@case("GET", "/portfolio/balance")
async def _balance(ex: Exchange) -> Request:
    return Request("/portfolio/balance")


@case("GET", "/portfolio/positions")
async def _positions(ex: Exchange) -> Request:
    return Request("/portfolio/positions")


@case("GET", "/portfolio/orders")
async def _orders(ex: Exchange) -> Request:
    return Request("/portfolio/orders", params={"limit": 2})


@case("GET", "/portfolio/orders/{order_id}")
async def _order(ex: Exchange) -> Request:
    return Request(f"/portfolio/orders/{ex.resting_order_id}")


@case("GET", "/portfolio/fills")
async def _fills(ex: Exchange) -> Request:
    return Request("/portfolio/fills")


@case("GET", "/portfolio/settlements")
async def _settlements(ex: Exchange) -> Request:
    return Request("/portfolio/settlements")


def _order(ex: Exchange, **fields: Any) -> dict[str, Any]:
    return {"ticker": ex.ticker, "client_order_id": ex.client_order_id(), "time_in_force": "good_till_canceled",
            "self_trade_prevention_type": "taker_at_cross", **fields}


@case("POST", "/portfolio/events/orders", 201)
async def _create_resting(ex: Exchange) -> Request:
    return Request("/portfolio/events/orders", body=_order(ex, side="bid", count="3.00", price="0.3900"))


@case("POST", "/portfolio/events/orders", 201)
async def _create_filled(ex: Exchange) -> Request:  # crosses the NO bid at 0.55: fills, average price and fee
    return Request("/portfolio/events/orders", body=_order(ex, side="bid", count="2.50", price="0.4500",
                                                           time_in_force="immediate_or_cancel"))


@case("DELETE", "/portfolio/events/orders/{order_id}")
async def _cancel(ex: Exchange) -> Request:
    return Request(f"/portfolio/events/orders/{ex.resting_order_id}")


@case("POST", "/portfolio/events/orders/batched", 201)
async def _batch_create(ex: Exchange) -> Request:
    return Request("/portfolio/events/orders/batched", body={"orders": [
        _order(ex, side="bid", count="1.00", price="0.3800"),
        _order(ex, side="ask", count="1.00", price="0.9700"),
        _order(ex, ticker="NO-SUCH-MARKET", side="bid", count="1.00", price="0.3800"),  # an error entry
    ]})


@case("DELETE", "/portfolio/events/orders/batched")
async def _batch_cancel(ex: Exchange) -> Request:
    other = await ex.place(ticker=ex.ticker, side="ask", count="1.00", price="0.9000")
    return Request("/portfolio/events/orders/batched", body={"orders": [
        {"order_id": ex.resting_order_id}, {"order_id": other["order_id"]},
        {"order_id": "00000000-0000-0000-0000-000000000000"},  # an error entry
    ]})


@case("POST", "/portfolio/events/orders/{order_id}/amend")
async def _amend(ex: Exchange) -> Request:
    return Request(f"/portfolio/events/orders/{ex.resting_order_id}/amend",
                   body={"ticker": ex.ticker, "side": "bid", "price": "0.3800", "count": "4.00"})


@case("POST", "/portfolio/events/orders/{order_id}/amend")
async def _amend_into_fill(ex: Exchange) -> Request:  # repriced across the NO bid: fills on amend
    return Request(f"/portfolio/events/orders/{ex.resting_order_id}/amend",
                   body={"ticker": ex.ticker, "side": "bid", "price": "0.4500", "count": "2.00"})


@case("POST", "/portfolio/events/orders/{order_id}/decrease")
async def _decrease(ex: Exchange) -> Request:
    return Request(f"/portfolio/events/orders/{ex.resting_order_id}/decrease", body={"reduce_by": "1.00"})


# errors: the spec's ErrorResponse


@case("GET", "/markets/orderbooks", 400)
async def _orderbooks_without_tickers(ex: Exchange) -> Request:
    return Request("/markets/orderbooks", params={"tickers": ""})


@case("GET", "/markets/{ticker}/orderbook", 404)
async def _orderbook_unknown(ex: Exchange) -> Request:
    return Request("/markets/NO-SUCH-MARKET/orderbook")


@case("GET", "/portfolio/balance", 401)
async def _balance_unsigned(ex: Exchange) -> Request:
    return Request("/portfolio/balance", signed=False)


@case("GET", "/portfolio/orders/{order_id}", 404)
async def _order_unknown(ex: Exchange) -> Request:
    return Request("/portfolio/orders/00000000-0000-0000-0000-000000000000")


@case("POST", "/portfolio/events/orders", 400)
async def _create_off_grid(ex: Exchange) -> Request:
    return Request("/portfolio/events/orders", body=_order(ex, side="bid", count="1.00", price="0.4050"))


@case("DELETE", "/portfolio/events/orders/{order_id}", 404)
async def _cancel_unknown(ex: Exchange) -> Request:
    return Request("/portfolio/events/orders/00000000-0000-0000-0000-000000000000")


@case("POST", "/portfolio/events/orders/{order_id}/amend", 404)
async def _amend_unknown(ex: Exchange) -> Request:
    return Request("/portfolio/events/orders/00000000-0000-0000-0000-000000000000/amend",
                   body={"ticker": ex.ticker, "side": "bid", "price": "0.3800", "count": "4.00"})


@case("POST", "/portfolio/events/orders/{order_id}/decrease", 404)
async def _decrease_unknown(ex: Exchange) -> Request:
    return Request("/portfolio/events/orders/00000000-0000-0000-0000-000000000000/decrease",
                   body={"reduce_to": "0.00"})


def _error_object(body: Any) -> Any:
    """Kalshi's errors come flat (the spec's ``{code, message, details}``) or wrapped in ``"error"``."""
    return body["error"] if isinstance(body, dict) and isinstance(body.get("error"), dict) else body


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
async def test_response_matches_the_spec(exchange: Exchange, case: Case) -> None:
    request = await case.prepare(exchange)
    if request.body is not None:
        assert specs.rest_request_problems(case.method, case.template, request.body) == [], "the test's own request"
    response = await exchange.call(case.method, request.path, params=request.params, body=request.body,
                                   signed=request.signed)
    assert response.status_code == case.status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    problems = specs.rest_problems(case.method, case.template, case.status, body)
    assert problems == [], f"{case.id}: the body breaks the spec:\n" + "\n".join(problems) + f"\n{body}"
    if case.status >= 400:  # the spec's ErrorResponse requires nothing; a useful error has a code and message
        error = _error_object(body)
        assert specs.rest_schema_problems("ErrorResponse", error) == []
        assert isinstance(error.get("code"), str) and error["code"], body
        assert isinstance(error.get("message"), str) and error["message"], body


async def test_cancel_all_answers_204_without_a_body(exchange: Exchange) -> None:
    response = await exchange.call("DELETE", "/portfolio/events/orders")
    assert specs.openapi()["paths"]["/portfolio/events/orders"]["delete"]["responses"]["204"].get("content") is None
    assert response.status_code == 204 and response.content == b""
    orders = (await exchange.call("GET", "/portfolio/orders", params={"status": "resting"})).json()
    assert orders["orders"] == []


def test_every_served_rest_route_is_a_spec_operation_and_covered() -> None:
    """A route added to the simulator must be a Kalshi operation, and gets a contract case here."""
    from kalshi_actor.sim import rest_api

    served = {(method, route.path) for route in rest_api.router.routes for method in route.methods}
    documented = {(m.upper(), p) for p, ops in specs.openapi()["paths"].items() for m in ops}
    assert served - documented == set()
    covered = {(c.method, c.template) for c in CASES} | {("DELETE", "/portfolio/events/orders")}
    assert served - covered == set()


def test_the_checker_rejects_what_kalshi_would_not_send() -> None:
    """The validation itself: a conforming body passes, and each kind of break is named by its JSON path."""
    balance = {"balance": 100, "balance_dollars": "1.000000", "portfolio_value": 0, "updated_ts": 1795521600}
    assert specs.rest_problems("GET", "/portfolio/balance", 200, balance) == []
    assert specs.rest_problems("GET", "/portfolio/balance", 200, {**balance, "balance_dollars": 1}) == [
        "$.balance_dollars: 1 is not of type 'string'"]
    del balance["updated_ts"]
    assert specs.rest_problems("GET", "/portfolio/balance", 200, balance) == [
        "$: 'updated_ts' is a required property"]
    order = {"orders": [{"order_id": "x", "created_time": "yesterday"}], "cursor": ""}
    problems = specs.rest_problems("GET", "/portfolio/orders", 200, order)
    assert "$.orders[0].created_time: 'yesterday' is not a 'date-time'" in problems
    assert "$.orders[0]: 'user_id' is a required property" in problems
    nulled = specs.rest_problems("GET", "/portfolio/orders", 200, {"orders": [{"created_time": None}], "cursor": ""})
    assert nulled and not [p for p in nulled if "created_time" in p]  # OpenAPI's nullable: true


@pytest.mark.parametrize(("method", "path", "status"), [
    ("GET", "/no/such/route", 404),
    ("POST", "/portfolio/orders", 405),  # the legacy create (side yes/no + action): not served
])
async def test_unserved_routes_answer_with_kalshi_s_error_shape(exchange: Exchange, method: str, path: str,
                                                                status: int) -> None:
    response = await exchange.call(method, path, body={} if method == "POST" else None)
    assert response.status_code == status
    error = _error_object(response.json())
    assert specs.rest_schema_problems("ErrorResponse", error) == []
    assert error["code"] and error["message"], response.json()
