"""The simulator's REST endpoints: Kalshi's Trade API v2, served from the matching engine.

Mounted under ``/trade-api/v2`` by ``sim.server``. The payloads are the client's own models
(:mod:`kalshi_actor.kalshi.models`), so the simulator cannot drift from what the client parses.

* Market data (``/markets...``, ``/series...``) is public, as on Kalshi; a request that carries auth headers
  must still be signed correctly.
* ``/portfolio/...`` requires a signed request; the key id is the account.
* Orders use the current endpoints (``/portfolio/events/orders``). ``side`` is on the YES
  leg: ``bid`` at p rests in the engine's YES book at p; ``ask`` at p is a NO bid at $1 - p.
* Pages: ``limit`` (default 100, at most 1000) and an opaque ``cursor``; an empty cursor ends.
* Faults: with ``create_timeout_rate``, an order create runs in the engine and its reply is
  then held back for ``create_timeout_s`` (the client must find the order by its
  ``client_order_id``). 429/5xx faults are applied to every route by the server's middleware.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from pydantic import ValidationError

from ..kalshi.auth import HEADER_KEY, HEADER_SIGNATURE, HEADER_TIMESTAMP
from ..kalshi.models import (
    AmendOrderRequest,
    AmendOrderResponse,
    Balance,
    BatchCancelOrdersRequest,
    BatchCancelOrdersResponse,
    BatchCancelResult,
    BatchCreateOrdersRequest,
    BatchCreateOrdersResponse,
    BatchCreateResult,
    CancelOrderResponse,
    CreateOrderRequest,
    CreateOrderResponse,
    DecreaseOrderRequest,
    DecreaseOrderResponse,
    ErrorResponse,
    EventPosition,
    Fill,
    FillsPage,
    Market,
    MarketOrderbook,
    MarketPosition,
    MarketResponse,
    MarketsPage,
    Orderbook,
    OrderbookResponse,
    OrderbooksResponse,
    OrderResponse,
    OrdersPage,
    PositionsPage,
    PriceRange,
    Series,
    SeriesList,
    SeriesResponse,
    Settlement,
    SettlementsPage,
    WireModel,
    datetime_from_ms,
    per_contract,
)
from ..kalshi.models import Order as WireOrder
from ..units import CENT_MICROS, ONE_DOLLAR, Count, Money, Price, cents_from_money
from . import types as sim
from .auth import require_account
from .engine import Engine, EngineError
from .markets import SERIES_BY_TICKER

router = APIRouter(tags=["kalshi"])

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
MAX_ORDERBOOK_TICKERS = 100

_Limit = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)
_W = TypeVar("_W", bound=WireModel)
_T = TypeVar("_T")

# Kalshi's response statuses; "settled" in the engine is "finalized" on the wire.
_WIRE_STATUS = {
    sim.MarketStatus.INITIALIZED: "initialized",
    sim.MarketStatus.ACTIVE: "active",
    sim.MarketStatus.CLOSED: "closed",
    sim.MarketStatus.DETERMINED: "determined",
    sim.MarketStatus.SETTLED: "finalized",
}
# GET /markets?status= takes filter words, not response statuses.
_STATUS_FILTER = {
    "unopened": {sim.MarketStatus.INITIALIZED},
    "open": {sim.MarketStatus.ACTIVE},
    "paused": set(),
    "closed": {sim.MarketStatus.CLOSED},
    "settled": {sim.MarketStatus.DETERMINED, sim.MarketStatus.SETTLED},
}


# --- what the engine does not keep: fills, settlements, traded totals per API account ---


class Ledger:
    """Per-account history for the portfolio reads, fed by the engine's events.

    Only accounts for which ``keep(name)`` holds are recorded (the API keys, not the
    synthetic traders). The simulator creates it with its engine, so no fill is missed.
    """

    def __init__(self, engine: Engine, keep: Callable[[str], bool] = lambda name: True) -> None:
        self.engine = engine
        self.keep = keep
        self.fills: dict[str, list[Fill]] = defaultdict(list)  # account -> oldest first
        self.settlements: dict[str, list[Settlement]] = defaultdict(list)
        self.traded: dict[tuple[str, str], Money] = defaultdict(int)  # (account, ticker) -> money spent
        self.traded_count: dict[tuple[str, str], Count] = defaultdict(int)  # (account, ticker) -> contracts bought
        self.updated_ms: dict[tuple[str, str], int] = {}
        engine.listeners.append(self._on_event)

    def _on_event(self, event: sim.EngineEvent) -> None:
        if isinstance(event, sim.Filled):
            if self.keep(event.account):
                self._fill(event)
        elif isinstance(event, sim.PositionChanged):
            if self.keep(event.account):
                self.updated_ms[(event.account, event.ticker)] = event.ts_ms
        elif isinstance(event, sim.MarketLifecycle) and event.event_type == "determined":
            self._settle(event)  # positions are still open at "determined": the engine pays out after it

    def _fill(self, f: sim.Filled) -> None:
        own_price = f.yes_price if f.side == "yes" else ONE_DOLLAR - f.yes_price
        self.traded[(f.account, f.ticker)] += own_price * f.count
        self.traded_count[(f.account, f.ticker)] += f.count
        self.fills[f.account].append(Fill(
            fill_id=f.trade_id, trade_id=f.trade_id, order_id=f.order_id, client_order_id=f.client_order_id or None,
            ticker=f.ticker, market_ticker=f.ticker, side=f.side, action="buy", outcome_side=f.side,
            book_side=_book_side(f.side), count_fp=f.count, yes_price_dollars=f.yes_price,
            no_price_dollars=ONE_DOLLAR - f.yes_price, is_taker=f.is_taker, fee_cost=f.fee,
            created_time=datetime_from_ms(f.ts_ms), ts=f.ts_ms // 1000, exchange_index=0,
        ))

    def _settle(self, event: sim.MarketLifecycle) -> None:
        market = self.engine.markets[event.ticker]
        for account in self.engine.accounts.values():
            position = account.positions.get(event.ticker, 0)
            if not position or not self.keep(account.name):
                continue
            cost = account.cost_basis.get(event.ticker, 0)
            won = (position > 0) == (event.result == "yes")
            self.settlements[account.name].append(Settlement(
                ticker=event.ticker, event_ticker=market.event_ticker, market_result=event.result,
                yes_count_fp=max(position, 0), yes_total_cost_dollars=cost if position > 0 else 0,
                no_count_fp=max(-position, 0), no_total_cost_dollars=cost if position < 0 else 0,
                revenue=cents_from_money(abs(position) * ONE_DOLLAR) if won else 0,
                settled_time=datetime_from_ms(event.ts_ms), fee_cost=account.fees_paid.get(event.ticker, 0),
                value=100 if event.result == "yes" else 0, exchange_index=0,
            ))


def ledger_of(state: Any) -> Ledger:
    """The simulator's ledger (``Simulator`` creates it with the engine, so no fill is missed)."""
    return state.ledger


# --- auth, errors, bodies, pages ---


def optional_account(request: Request) -> str | None:
    """Public endpoints: anonymous is fine, but headers that are present must authenticate."""
    headers = request.headers
    if HEADER_KEY in headers or HEADER_SIGNATURE in headers or HEADER_TIMESTAMP in headers:
        return require_account(request)
    return None


def _json(model: WireModel, status: int = 200) -> Response:
    """A model as Kalshi's JSON (absent optional fields left out), serialized by pydantic in one pass."""
    return Response(model.model_dump_json(exclude_none=True), status_code=status, media_type="application/json")


def _sim(request: Request) -> Any:
    return request.app.state.sim


def _error(status: int, code: str, message: str) -> HTTPException:
    return HTTPException(status, detail={"code": code, "message": message})


def _engine_error(exc: EngineError) -> HTTPException:
    return _error(exc.status, exc.code, exc.message)


async def _body(request: Request, model: type[_W]) -> _W:
    try:
        data = await request.json()
    except ValueError:
        raise _error(400, "invalid_parameters", "the body is not JSON") from None
    try:
        return model.from_wire(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise HTTPException(400, detail={"code": "invalid_parameters", "message": "invalid request body",
                                         "details": problems}) from None


def _page(items: Sequence[_T], key: Callable[[_T], str], cursor: str | None, limit: int) -> tuple[list[_T], str]:
    """The ``limit`` items after the one whose key is ``cursor``; the next cursor, or "" at the end."""
    start = 0
    if cursor:
        for i, item in enumerate(items):
            if key(item) == cursor:
                start = i + 1
                break
        else:
            raise _error(400, "invalid_cursor", "the cursor is unknown or expired")
    page = list(items[start:start + limit])
    more = start + limit < len(items)
    return page, (key(page[-1]) if more and page else "")


def _seconds(ms: int) -> int:
    return ms // 1000


# --- converters: engine state -> wire models ---


def _book_side(side: sim.BookSide) -> str:
    return "bid" if side == "yes" else "ask"


def _to_engine(side: str, price: Price) -> tuple[sim.BookSide, Price]:
    """A YES-leg (side, price) -> the engine's (book, own-side price)."""
    return ("yes", price) if side == "bid" else ("no", ONE_DOLLAR - price)


def _wire_order(o: sim.Order) -> WireOrder:
    yes_price = o.price if o.side == "yes" else ONE_DOLLAR - o.price
    resting = o.status is sim.OrderStatus.RESTING
    return WireOrder(
        order_id=o.order_id, user_id=o.account, client_order_id=o.client_order_id, ticker=o.ticker,
        side=o.side, action="buy", outcome_side=o.side, book_side=_book_side(o.side), type="limit",
        status=o.status.value, yes_price_dollars=yes_price, no_price_dollars=ONE_DOLLAR - yes_price,
        fill_count_fp=o.filled, remaining_count_fp=o.remaining if resting else 0, initial_count_fp=o.initial_count,
        taker_fees_dollars=o.taker_fees, maker_fees_dollars=o.maker_fees,
        taker_fill_cost_dollars=o.taker_fill_cost, maker_fill_cost_dollars=o.maker_fill_cost,
        created_time=datetime_from_ms(o.created_ts_ms),
        last_update_time=datetime_from_ms(o.updated_ts_ms or o.created_ts_ms),
        self_trade_prevention_type=o.self_trade_prevention.value, exchange_index=0,
    )


def _averages(o: sim.Order, filled: Count, cost: Money, fees: Money) -> dict[str, Any]:
    """``average_fill_price`` (YES leg) and ``average_fee_paid``, micros per contract; only after fills."""
    if not filled:
        return {}
    average = per_contract(cost, filled)
    if o.side == "no":
        average = ONE_DOLLAR * 100 - average  # a NO fill at q is a YES-leg price of $1 - q
    return {"average_fill_price": average, "average_fee_paid": per_contract(fees, filled)}


def _created(o: sim.Order) -> CreateOrderResponse:
    resting = o.status is sim.OrderStatus.RESTING
    return CreateOrderResponse(order_id=o.order_id, client_order_id=o.client_order_id or None, fill_count=o.filled,
                               remaining_count=o.remaining if resting else 0, ts_ms=o.updated_ts_ms,
                               **_averages(o, o.filled, o.fill_cost, o.fees_paid))


def wire_market(engine: Engine, m: sim.Market) -> Market:
    yes_bid, no_bid = engine.best_bids(m.ticker)
    yes_size = engine.book(m.ticker, "yes").get(yes_bid, 0) if yes_bid else 0
    no_size = engine.book(m.ticker, "no").get(no_bid, 0) if no_bid else 0
    opened, closes = datetime_from_ms(m.open_time_ms), datetime_from_ms(m.close_time_ms)
    return Market(
        ticker=m.ticker, event_ticker=m.event_ticker, market_type="binary", title=m.title,
        yes_sub_title=m.title, no_sub_title=m.title, created_time=opened, updated_time=opened, open_time=opened,
        close_time=closes, expected_expiration_time=closes, latest_expiration_time=closes,
        settlement_timer_seconds=0, status=_WIRE_STATUS.get(m.status, m.status.value),
        yes_bid_dollars=yes_bid, yes_bid_size_fp=yes_size,
        yes_ask_dollars=ONE_DOLLAR - no_bid if no_bid else ONE_DOLLAR, yes_ask_size_fp=no_size,
        no_bid_dollars=no_bid, no_ask_dollars=ONE_DOLLAR - yes_bid if yes_bid else ONE_DOLLAR,
        last_price_dollars=m.last_price, volume_fp=m.volume, volume_24h_fp=m.volume, open_interest_fp=m.open_interest,
        notional_value_dollars=ONE_DOLLAR, result=m.result, can_close_early=True, expiration_value="",
        rules_primary=m.title, rules_secondary="", settlement_bounds_type="default",
        settlement_value_dollars=(ONE_DOLLAR if m.result == "yes" else 0) if m.result else None,
        price_level_structure=m.price_level_structure,
        price_ranges=[PriceRange(start=r.start, end=r.end, step=r.step) for r in m.price_ranges],
        exchange_index=0,
    )


def _wire_book(engine: Engine, ticker: str, depth: int) -> Orderbook:
    def levels(side: sim.BookSide) -> list[tuple[Price, Count]]:
        items = list(engine.book(ticker, side).items())  # ascending: best bid last
        return items[-depth:] if depth > 0 else items
    return Orderbook(yes_dollars=levels("yes"), no_dollars=levels("no"))


def _market(engine: Engine, ticker: str) -> sim.Market:
    market = engine.markets.get(ticker)
    if market is None:
        raise _error(404, "not_found", f"no market {ticker}")
    return market


def _split(values: Iterable[str]) -> list[str]:
    """Query lists may come repeated (``a=1&a=2``) or comma-separated (``a=1,2``)."""
    return [item for value in values for item in value.split(",") if item]


# --- markets ---


@router.get("/markets")
async def get_markets(request: Request, limit: int = Query(DEFAULT_LIMIT, ge=0, le=MAX_LIMIT),
                      cursor: str | None = None, status: str | None = None, event_ticker: str | None = None,
                      series_ticker: str | None = None, tickers: str | None = None,
                      _: str | None = Depends(optional_account)) -> Response:
    engine: Engine = _sim(request).engine
    if status is not None and status not in _STATUS_FILTER:
        raise _error(400, "invalid_parameters", f"status must be one of {', '.join(_STATUS_FILTER)}")
    wanted = set(_split([tickers])) if tickers else None
    markets = [
        m for m in engine.markets.values()
        if (status is None or m.status in _STATUS_FILTER[status])
        and (event_ticker is None or m.event_ticker == event_ticker)
        and (series_ticker is None or m.series_ticker == series_ticker)
        and (wanted is None or m.ticker in wanted)
    ]
    page, next_cursor = _page(markets, lambda m: m.ticker, cursor, limit or DEFAULT_LIMIT)
    return _json(MarketsPage(markets=[wire_market(engine, m) for m in page], cursor=next_cursor))


@router.get("/markets/orderbooks")
async def get_orderbooks(request: Request, tickers: Annotated[list[str], Query()],
                         _: str | None = Depends(optional_account)) -> Response:
    engine: Engine = _sim(request).engine
    names = list(dict.fromkeys(_split(tickers)))
    if not names or len(names) > MAX_ORDERBOOK_TICKERS:
        raise _error(400, "invalid_parameters", f"give 1 to {MAX_ORDERBOOK_TICKERS} tickers")
    books = [MarketOrderbook(ticker=t, orderbook_fp=_wire_book(engine, t, 0)) for t in names if t in engine.markets]
    return _json(OrderbooksResponse(orderbooks=books))


@router.get("/markets/{ticker}")
async def get_market(request: Request, ticker: str, _: str | None = Depends(optional_account)) -> Response:
    engine: Engine = _sim(request).engine
    return _json(MarketResponse(market=wire_market(engine, _market(engine, ticker))))


@router.get("/markets/{ticker}/orderbook")
async def get_orderbook(request: Request, ticker: str, depth: int = Query(0, ge=0, le=100),
                        _: str | None = Depends(optional_account)) -> Response:
    engine: Engine = _sim(request).engine
    _market(engine, ticker)
    return _json(OrderbookResponse(orderbook_fp=_wire_book(engine, ticker, depth)))


# --- series ---


def _series_markets(engine: Engine) -> dict[str, list[sim.Market]]:
    """Series ticker -> its markets in the engine: the catalog's series first, then any other (a test's own)."""
    grouped: dict[str, list[sim.Market]] = {ticker: [] for ticker in SERIES_BY_TICKER}
    for m in engine.markets.values():
        grouped.setdefault(m.series_ticker, []).append(m)
    return grouped


def wire_series(ticker: str, markets: Sequence[sim.Market], *, include_volume: bool = False) -> Series:
    """A series as Kalshi describes it. Its fee schedule is what the engine charges its markets (copied from
    the catalog at listing; the catalog's own while none is listed)."""
    facts = SERIES_BY_TICKER.get(ticker)
    if markets:
        fee_type, fee_multiplier = markets[0].fee_type, markets[0].fee_multiplier
    elif facts is not None:
        fee_type, fee_multiplier = facts.fee_type, facts.fee_multiplier
    else:
        fee_type, fee_multiplier = "quadratic", 1.0
    category = facts.category if facts else ""
    updated = min((m.open_time_ms for m in markets), default=None)  # the series' metadata never changes after
    return Series(
        ticker=ticker, frequency=facts.frequency if facts else "", title=(facts.name if facts else "") or ticker,
        category=category, categories=[category] if category else [], tags=list(facts.tags) if facts else [],
        settlement_sources=[], contract_url="", contract_terms_url="", fee_type=fee_type,
        fee_multiplier=fee_multiplier, additional_prohibitions=[],
        volume_fp=sum(m.volume for m in markets) if include_volume else None,
        last_updated_ts=datetime_from_ms(updated) if updated is not None else None, exchange_index=0,
    )


@router.get("/series")
async def get_series_list(request: Request, category: str | None = None, tags: str | None = None,
                          include_product_metadata: bool = False, include_volume: bool = False,
                          min_updated_ts: int | None = None, _: str | None = Depends(optional_account)) -> Response:
    wanted_tags = set(_split([tags])) if tags else None
    found = []
    for ticker, markets in _series_markets(_sim(request).engine).items():
        series = wire_series(ticker, markets, include_volume=include_volume)
        if category is not None and category not in series.categories:
            continue
        if wanted_tags is not None and not wanted_tags.intersection(series.tags or ()):
            continue
        if min_updated_ts is not None and (series.last_updated_ts is None
                                           or series.last_updated_ts.timestamp() <= min_updated_ts):
            continue
        found.append(series)
    return _json(SeriesList(series=found))


@router.get("/series/{series_ticker}")
async def get_series(request: Request, series_ticker: str, include_volume: bool = False,
                     _: str | None = Depends(optional_account)) -> Response:
    markets = _series_markets(_sim(request).engine).get(series_ticker)
    if markets is None:
        raise _error(404, "not_found", f"no series {series_ticker}")
    return _json(SeriesResponse(series=wire_series(series_ticker, markets, include_volume=include_volume)))


# --- portfolio ---


@router.get("/portfolio/balance")
async def get_balance(request: Request, account: str = Depends(require_account)) -> Response:
    engine: Engine = _sim(request).engine
    acct = engine.accounts[account]
    value: Money = 0  # positions marked at the best bid of the side held
    for ticker, position in acct.positions.items():
        if position and ticker in engine.markets:
            yes_bid, no_bid = engine.best_bids(ticker)
            value += position * yes_bid if position > 0 else -position * no_bid
    return _json(Balance(balance=cents_from_money(acct.balance), balance_dollars=acct.balance,
                   portfolio_value=value // CENT_MICROS, updated_ts=_seconds(engine.now_ms())))


@router.get("/portfolio/positions")
async def get_positions(request: Request, limit: int = _Limit, cursor: str | None = None, ticker: str | None = None,
                        event_ticker: str | None = None, count_filter: str | None = None,
                        account: str = Depends(require_account)) -> Response:
    state = _sim(request)
    engine: Engine = state.engine
    ledger = ledger_of(state)
    acct = engine.accounts[account]
    filters = set(_split([count_filter])) if count_filter else set()
    tickers = sorted(set(acct.positions) | set(acct.cost_basis) | set(acct.realized_pnl) | set(acct.fees_paid)
                     | {t for a, t in ledger.traded if a == account})
    positions = []
    for t in tickers:
        if ticker is not None and t != ticker:
            continue
        market = engine.markets.get(t)
        if event_ticker is not None and (market is None or market.event_ticker != event_ticker):
            continue
        position = MarketPosition(
            ticker=t, exchange_index=0, total_traded_dollars=ledger.traded.get((account, t), 0),
            position_fp=acct.positions.get(t, 0), market_exposure_dollars=acct.cost_basis.get(t, 0),
            realized_pnl_dollars=acct.realized_pnl.get(t, 0), fees_paid_dollars=acct.fees_paid.get(t, 0),
            last_updated_ts=datetime_from_ms(ledger.updated_ms.get((account, t), engine.now_ms())),
            resting_orders_count=len(engine.resting_orders(account, t)),
        )
        if "position" in filters and not position.position_fp:
            continue
        if "total_traded" in filters and not position.total_traded_dollars:
            continue
        positions.append(position)
    page, next_cursor = _page(positions, lambda p: p.ticker, cursor, limit)
    return _json(PositionsPage(market_positions=page, event_positions=_event_positions(engine, ledger, account, page),
                               cursor=next_cursor))


def _event_positions(engine: Engine, ledger: Ledger, account: str,
                     positions: list[MarketPosition]) -> list[EventPosition]:
    """The page's market positions summed per event (``total_cost_shares_fp``: contracts traded, YES and NO)."""
    events: dict[str, EventPosition] = {}
    for p in positions:
        market = engine.markets.get(p.ticker)
        name = market.event_ticker if market else p.ticker
        e = events.setdefault(name, EventPosition(event_ticker=name))
        e.total_cost_dollars += p.total_traded_dollars
        e.total_cost_shares_fp += ledger.traded_count.get((account, p.ticker), 0)
        e.event_exposure_dollars += p.market_exposure_dollars
        e.realized_pnl_dollars += p.realized_pnl_dollars
        e.fees_paid_dollars += p.fees_paid_dollars
    return list(events.values())


@router.get("/portfolio/orders")
async def get_orders(request: Request, limit: int = _Limit, cursor: str | None = None, ticker: str | None = None,
                     event_ticker: str | None = None, status: str | None = None, min_ts: int | None = None,
                     max_ts: int | None = None, account: str = Depends(require_account)) -> Response:
    engine: Engine = _sim(request).engine
    events = set(_split([event_ticker])) if event_ticker else None
    orders = [
        o for o in reversed(engine.orders.values())  # newest first
        if o.account == account
        and (ticker is None or o.ticker == ticker)
        and (status is None or o.status.value == status)
        and (events is None or engine.markets[o.ticker].event_ticker in events)
        and (min_ts is None or _seconds(o.created_ts_ms) >= min_ts)
        and (max_ts is None or _seconds(o.created_ts_ms) <= max_ts)
    ]
    page, next_cursor = _page(orders, lambda o: o.order_id, cursor, limit)
    return _json(OrdersPage(orders=[_wire_order(o) for o in page], cursor=next_cursor))


@router.get("/portfolio/orders/{order_id}")
async def get_order(request: Request, order_id: str, account: str = Depends(require_account)) -> Response:
    order = _sim(request).engine.orders.get(order_id)
    if order is None or order.account != account:
        raise _error(404, "not_found", f"no order {order_id}")
    return _json(OrderResponse(order=_wire_order(order)))


@router.get("/portfolio/fills")
async def get_fills(request: Request, limit: int = _Limit, cursor: str | None = None, ticker: str | None = None,
                    order_id: str | None = None, min_ts: int | None = None, max_ts: int | None = None,
                    account: str = Depends(require_account)) -> Response:
    fills = [
        f for f in reversed(ledger_of(_sim(request)).fills.get(account, []))
        if (ticker is None or f.ticker == ticker) and (order_id is None or f.order_id == order_id)
        and (min_ts is None or (f.ts or 0) >= min_ts) and (max_ts is None or (f.ts or 0) <= max_ts)
    ]
    page, next_cursor = _page(fills, lambda f: f.fill_id, cursor, limit)
    return _json(FillsPage(fills=page, cursor=next_cursor))


@router.get("/portfolio/settlements")
async def get_settlements(request: Request, limit: int = _Limit, cursor: str | None = None,
                          ticker: str | None = None, event_ticker: str | None = None, min_ts: int | None = None,
                          max_ts: int | None = None, account: str = Depends(require_account)) -> Response:
    def ts(s: Settlement) -> int:
        return int(s.settled_time.timestamp()) if s.settled_time else 0

    settlements = [
        s for s in reversed(ledger_of(_sim(request)).settlements.get(account, []))
        if (ticker is None or s.ticker == ticker) and (event_ticker is None or s.event_ticker == event_ticker)
        and (min_ts is None or ts(s) >= min_ts) and (max_ts is None or ts(s) <= max_ts)
    ]
    page, next_cursor = _page(settlements, lambda s: s.ticker, cursor, limit)
    return _json(SettlementsPage(settlements=page, cursor=next_cursor))


# --- orders ---

_ORDERS = "/portfolio/events/orders"


def _place(engine: Engine, account: str, r: CreateOrderRequest) -> sim.Order:
    if r.subaccount:
        raise _error(400, "invalid_parameters", "the simulator has no subaccounts")
    if r.expiration_time is not None:
        raise _error(400, "invalid_parameters", "the simulator does not support expiration_time")
    side, price = _to_engine(r.side, r.price)
    try:
        return engine.place_order(
            account, r.ticker, side, price, r.count, time_in_force=sim.TimeInForce(r.time_in_force),
            client_order_id=r.client_order_id or "", post_only=bool(r.post_only), reduce_only=bool(r.reduce_only),
            self_trade_prevention=sim.SelfTradePrevention(r.self_trade_prevention_type),
        )
    except EngineError as exc:
        raise _engine_error(exc) from None


async def _maybe_hold_reply(state: Any) -> None:
    faults = state.faults
    if faults.roll(faults.create_timeout_rate):
        await asyncio.sleep(faults.create_timeout_s)


@router.post(_ORDERS, status_code=201)
async def create_order(request: Request, account: str = Depends(require_account)) -> Response:
    state = _sim(request)
    ledger_of(state)
    body = await _body(request, CreateOrderRequest)
    response = _json(_created(_place(state.engine, account, body)), 201)
    await _maybe_hold_reply(state)
    return response


@router.delete(_ORDERS, status_code=204)
async def cancel_all_orders(request: Request, account: str = Depends(require_account)) -> Response:
    try:
        _sim(request).engine.cancel_all(account)
    except EngineError as exc:
        raise _engine_error(exc) from None
    return Response(status_code=204)


@router.post(f"{_ORDERS}/batched", status_code=201)
async def batch_create_orders(request: Request, account: str = Depends(require_account)) -> Response:
    state = _sim(request)
    ledger_of(state)
    body = await _body(request, BatchCreateOrdersRequest)
    results = []
    for item in body.orders:
        try:
            results.append(BatchCreateResult(**_created(_place(state.engine, account, item)).model_dump()))
        except HTTPException as exc:
            results.append(BatchCreateResult(client_order_id=item.client_order_id,
                                             error=ErrorResponse(**exc.detail)))  # type: ignore[arg-type]
    response = _json(BatchCreateOrdersResponse(orders=results), 201)
    await _maybe_hold_reply(state)
    return response


def _cancel(engine: Engine, account: str, order_id: str) -> CancelOrderResponse:
    order = engine.orders.get(order_id)
    remaining = order.remaining if order is not None else 0  # the engine zeroes it on cancel
    try:
        order = engine.cancel_order(account, order_id)
    except EngineError as exc:
        raise _engine_error(exc) from None
    return CancelOrderResponse(order_id=order_id, client_order_id=order.client_order_id or None,
                               reduced_by=remaining, ts_ms=order.updated_ts_ms)


@router.delete(f"{_ORDERS}/batched")
async def batch_cancel_orders(request: Request, account: str = Depends(require_account)) -> Response:
    engine: Engine = _sim(request).engine
    body = await _body(request, BatchCancelOrdersRequest)
    results = []
    for item in body.orders:
        try:
            results.append(BatchCancelResult(**_cancel(engine, account, item.order_id).model_dump()))
        except HTTPException as exc:
            results.append(BatchCancelResult(order_id=item.order_id, reduced_by=0,
                                             error=ErrorResponse(**exc.detail)))  # type: ignore[arg-type]
    return _json(BatchCancelOrdersResponse(orders=results))


@router.delete(f"{_ORDERS}/{{order_id}}")
async def cancel_order(request: Request, order_id: str, account: str = Depends(require_account)) -> Response:
    return _json(_cancel(_sim(request).engine, account, order_id))


def _own_order(engine: Engine, account: str, order_id: str) -> sim.Order:
    order = engine.orders.get(order_id)
    if order is None or order.account != account:
        raise _error(404, "order_not_found", f"no order {order_id}")
    return order


@router.post(f"{_ORDERS}/{{order_id}}/amend")
async def amend_order(request: Request, order_id: str, account: str = Depends(require_account)) -> Response:
    engine: Engine = _sim(request).engine
    body = await _body(request, AmendOrderRequest)
    order = _own_order(engine, account, order_id)
    side, price = _to_engine(body.side, body.price)
    if body.ticker != order.ticker or side != order.side:
        raise _error(400, "invalid_parameters", "ticker and side must be the order's own")
    if body.updated_client_order_id:
        raise _error(400, "invalid_parameters", "the simulator cannot change a client_order_id")
    filled, cost, fees = order.filled, order.fill_cost, order.fees_paid
    try:
        order = engine.amend_order(account, order_id, price=price, count=body.count)
    except EngineError as exc:
        raise _engine_error(exc) from None
    resting = order.status is sim.OrderStatus.RESTING
    return _json(AmendOrderResponse(
        order_id=order.order_id, client_order_id=order.client_order_id or None,
        remaining_count=order.remaining if resting else 0, fill_count=order.filled - filled,
        ts_ms=order.updated_ts_ms, **_averages(order, order.filled - filled, order.fill_cost - cost,
                                               order.fees_paid - fees),
    ))


@router.post(f"{_ORDERS}/{{order_id}}/decrease")
async def decrease_order(request: Request, order_id: str, account: str = Depends(require_account)) -> Response:
    engine: Engine = _sim(request).engine
    body = await _body(request, DecreaseOrderRequest)
    try:
        order = engine.decrease_order(account, order_id, reduce_by=body.reduce_by, reduce_to=body.reduce_to)
    except EngineError as exc:
        raise _engine_error(exc) from None
    return _json(DecreaseOrderResponse(order_id=order.order_id, client_order_id=order.client_order_id or None,
                                       remaining_count=order.remaining, ts_ms=order.updated_ts_ms))
