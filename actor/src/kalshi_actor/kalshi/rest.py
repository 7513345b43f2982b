"""The async REST client of Kalshi's Trade API v2 (and of the simulator, which speaks the same protocol).

>>> async with RestClient(DEMO_URL, Signer.from_pem_file(key_id, "key.pem")) as kalshi:  # doctest: +SKIP
...     book = await kalshi.get_orderbook("KXBTCD-26JUL0317-T60999.99")
...     placed = await kalshi.create_order("KXBTCD-26JUL0317-T60999.99", "bid", price=1200, count=500)

Every request is signed over ``/trade-api/v2/...`` without the query string. Reads are
retried on 429, 5xx and transport errors with capped exponential backoff and full jitter
(Kalshi's 429 carries no Retry-After). Writes are retried only when they certainly did not
run (429, or no connection was made). An order create whose outcome is unknown (timeout,
5xx, connection lost after sending) is resolved by looking the order up by its
``client_order_id``; only when it is definitely absent is it sent once more, with the same
id. Requests wait on client-side token buckets (Kalshi's Basic tier by default).

Prices are int pips, counts int hundredths, money int micros (see :mod:`kalshi_actor.units`).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

import httpx
from pydantic import ValidationError

from ..units import Count, Price
from .auth import Signer
from .errors import (
    Conflict,
    KalshiError,
    RateLimited,
    RequestTimeout,
    ResponseFormatError,
    ServerError,
    TransportError,
    UnknownOrderOutcome,
    error_from_response,
)
from .models import (
    AmendOrderRequest,
    AmendOrderResponse,
    Balance,
    BatchCancelItem,
    BatchCancelOrdersRequest,
    BatchCancelOrdersResponse,
    BatchCancelResult,
    BatchCreateOrdersRequest,
    BatchCreateOrdersResponse,
    BatchCreateResult,
    BookSideName,
    CancelOrderResponse,
    CreateOrderRequest,
    CreateOrderResponse,
    DecreaseOrderRequest,
    DecreaseOrderResponse,
    Fill,
    FillsPage,
    Market,
    MarketPosition,
    MarketResponse,
    MarketsPage,
    Order,
    Orderbook,
    OrderbookResponse,
    OrderbooksResponse,
    OrderResponse,
    OrdersPage,
    PositionsPage,
    SelfTradePreventionName,
    Series,
    SeriesList,
    SeriesResponse,
    Settlement,
    SettlementsPage,
    TimeInForceName,
    WireModel,
)

log = logging.getLogger(__name__)

PRODUCTION_URL = "https://external-api.kalshi.com/trade-api/v2"
DEMO_URL = "https://external-api.demo.kalshi.co/trade-api/v2"

MAX_ORDERBOOK_TICKERS = 100  # GET /markets/orderbooks takes at most this many tickers
_ORDERS = "/portfolio/events/orders"

M = TypeVar("M", bound=WireModel)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How reads (and certainly-not-run writes) are retried: capped exponential backoff, full jitter.

    Before retry ``n`` (0-based) the client sleeps a uniform random time in
    ``[0, min(max_delay_s, base_delay_s * 2**n)]``.
    """

    attempts: int = 5  # tries in all, the first included; 1 disables retries
    base_delay_s: float = 0.2
    max_delay_s: float = 5.0

    def delay_s(self, retry: int, rng: random.Random) -> float:
        return rng.uniform(0.0, min(self.max_delay_s, self.base_delay_s * 2**retry))


@dataclass(frozen=True, slots=True)
class RateLimits:
    """Client-side token buckets, tokens per second (Kalshi's Basic tier by default). 0 disables a bucket.

    Each bucket holds one second of tokens. Most calls cost :attr:`default_cost` tokens;
    cancels and single-order reads cost :attr:`light_cost`; batches cost per item.
    """

    read_per_s: float = 200.0
    write_per_s: float = 100.0
    default_cost: int = 10
    light_cost: int = 2


class _TokenBucket:
    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.capacity = rate
        self.tokens = rate
        self.updated = time.monotonic()
        self._lock = asyncio.Lock()

    async def take(self, cost: int) -> None:
        if self.rate <= 0:
            return
        need = min(cost, self.capacity)  # a call dearer than the bucket waits for a full bucket, then owes
        async with self._lock:
            while True:
                now = time.monotonic()
                self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
                self.updated = now
                if self.tokens >= need:
                    self.tokens -= cost
                    return
                await asyncio.sleep((need - self.tokens) / self.rate)


class RestClient:
    """Kalshi's REST API. Without a ``signer`` only the public market reads work.

    ``base_url`` is :data:`PRODUCTION_URL`, :data:`DEMO_URL` or a simulator's
    ``http://host:port/trade-api/v2``. ``client_order_id_prefix`` marks the ids this
    client generates, so an actor recognises its own orders.
    """

    def __init__(
        self,
        base_url: str = PRODUCTION_URL,
        signer: Signer | None = None,
        *,
        timeout_s: float = 10.0,
        retry: RetryPolicy = RetryPolicy(),
        limits: RateLimits = RateLimits(),
        client_order_id_prefix: str = "ka-",
        transport: httpx.AsyncBaseTransport | None = None,
        seed: int | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._path_prefix = urlsplit(self.base_url).path  # "/trade-api/v2": part of what is signed
        self.signer = signer
        self.retry = retry
        self.limits = limits
        self.client_order_id_prefix = client_order_id_prefix
        self._http = httpx.AsyncClient(timeout=httpx.Timeout(timeout_s), transport=transport,
                                       headers={"Accept": "application/json"})
        self._read_bucket = _TokenBucket(limits.read_per_s)
        self._write_bucket = _TokenBucket(limits.write_per_s)
        self._rng = random.Random(seed)

    async def __aenter__(self) -> RestClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    def __repr__(self) -> str:
        return f"RestClient({self.base_url!r}, signer={self.signer!r})"

    def new_client_order_id(self) -> str:
        """``prefix + uuid4 hex``: unique, and recognisably this client's."""
        return f"{self.client_order_id_prefix}{uuid.uuid4().hex}"

    # --- markets (public) ---

    async def get_markets(self, *, status: str | None = None, event_ticker: str | None = None,
                          series_ticker: str | None = None, tickers: Sequence[str] | None = None,
                          limit: int | None = None, cursor: str | None = None, **filters: Any) -> MarketsPage:
        """One page of ``GET /markets``. ``status`` is a filter word: unopened | open | paused | closed | settled."""
        params = {"status": status, "event_ticker": event_ticker, "series_ticker": series_ticker,
                  "tickers": ",".join(tickers) if tickers else None, "limit": limit, "cursor": cursor, **filters}
        return await self._read(MarketsPage, "/markets", params)

    def iter_markets(self, **filters: Any) -> AsyncIterator[Market]:
        """Every market matching the filters of :meth:`get_markets`, page after page."""
        return self._pages(self.get_markets, "markets", filters)

    async def get_market(self, ticker: str) -> Market:
        return (await self._read(MarketResponse, f"/markets/{_seg(ticker)}")).market

    async def get_orderbook(self, ticker: str, depth: int | None = None) -> Orderbook:
        """The book of one market: YES bids and NO bids, ascending (best bid last)."""
        page = await self._read(OrderbookResponse, f"/markets/{_seg(ticker)}/orderbook", {"depth": depth})
        return page.orderbook_fp

    async def get_orderbooks(self, tickers: Iterable[str]) -> dict[str, Orderbook]:
        """Many books, ``MAX_ORDERBOOK_TICKERS`` per request; ticker -> book."""
        wanted = list(dict.fromkeys(tickers))
        books: dict[str, Orderbook] = {}
        for i in range(0, len(wanted), MAX_ORDERBOOK_TICKERS):
            chunk = wanted[i:i + MAX_ORDERBOOK_TICKERS]
            page = await self._read(OrderbooksResponse, "/markets/orderbooks", {"tickers": chunk})
            books.update((item.ticker, item.orderbook_fp) for item in page.orderbooks)
        return books

    async def get_series(self, series_ticker: str) -> Series:
        """One series (its ``fee_type`` and ``fee_multiplier`` are the fee schedule of its markets)."""
        return (await self._read(SeriesResponse, f"/series/{_seg(series_ticker)}")).series

    async def get_series_list(self, *, category: str | None = None, tags: str | None = None,
                              include_volume: bool | None = None, min_updated_ts: int | None = None,
                              cursor: str | None = None, **filters: Any) -> SeriesList:
        """``GET /series``: the series of a ``category`` (exact), with ``tags`` (comma-separated), updated after
        ``min_updated_ts`` (Unix seconds)."""
        params = {"category": category, "tags": tags, "include_volume": include_volume,
                  "min_updated_ts": min_updated_ts, "cursor": cursor, **filters}
        return await self._read(SeriesList, "/series", params)

    def iter_series(self, **filters: Any) -> AsyncIterator[Series]:
        """Every series matching the filters of :meth:`get_series_list`."""
        return self._pages(self.get_series_list, "series", filters)

    # --- portfolio (signed) ---

    async def get_balance(self) -> Balance:
        return await self._read(Balance, "/portfolio/balance")

    async def get_positions(self, *, ticker: str | None = None, event_ticker: str | None = None,
                            count_filter: str | None = None, limit: int | None = None,
                            cursor: str | None = None, **filters: Any) -> PositionsPage:
        params = {"ticker": ticker, "event_ticker": event_ticker, "count_filter": count_filter,
                  "limit": limit, "cursor": cursor, **filters}
        return await self._read(PositionsPage, "/portfolio/positions", params)

    def iter_positions(self, **filters: Any) -> AsyncIterator[MarketPosition]:
        """Every market position (``market_positions`` of each page)."""
        return self._pages(self.get_positions, "market_positions", filters)

    async def get_orders(self, *, ticker: str | None = None, event_ticker: str | None = None,
                         status: str | None = None, min_ts: int | None = None, max_ts: int | None = None,
                         limit: int | None = None, cursor: str | None = None, **filters: Any) -> OrdersPage:
        """One page of this account's orders; ``status`` is resting | canceled | executed; ``*_ts`` Unix seconds."""
        params = {"ticker": ticker, "event_ticker": event_ticker, "status": status, "min_ts": min_ts,
                  "max_ts": max_ts, "limit": limit, "cursor": cursor, **filters}
        return await self._read(OrdersPage, "/portfolio/orders", params)

    def iter_orders(self, **filters: Any) -> AsyncIterator[Order]:
        return self._pages(self.get_orders, "orders", filters)

    async def get_order(self, order_id: str) -> Order:
        return (await self._read(OrderResponse, f"/portfolio/orders/{_seg(order_id)}",
                                 cost=self.limits.light_cost)).order

    async def get_fills(self, *, ticker: str | None = None, order_id: str | None = None,
                        min_ts: int | None = None, max_ts: int | None = None, limit: int | None = None,
                        cursor: str | None = None, **filters: Any) -> FillsPage:
        params = {"ticker": ticker, "order_id": order_id, "min_ts": min_ts, "max_ts": max_ts,
                  "limit": limit, "cursor": cursor, **filters}
        return await self._read(FillsPage, "/portfolio/fills", params)

    def iter_fills(self, **filters: Any) -> AsyncIterator[Fill]:
        return self._pages(self.get_fills, "fills", filters)

    async def get_settlements(self, *, ticker: str | None = None, event_ticker: str | None = None,
                              min_ts: int | None = None, max_ts: int | None = None, limit: int | None = None,
                              cursor: str | None = None, **filters: Any) -> SettlementsPage:
        params = {"ticker": ticker, "event_ticker": event_ticker, "min_ts": min_ts, "max_ts": max_ts,
                  "limit": limit, "cursor": cursor, **filters}
        return await self._read(SettlementsPage, "/portfolio/settlements", params)

    def iter_settlements(self, **filters: Any) -> AsyncIterator[Settlement]:
        return self._pages(self.get_settlements, "settlements", filters)

    async def find_order(self, ticker: str, client_order_id: str) -> Order | None:
        """This account's order in ``ticker`` with ``client_order_id``, or None when there is none."""
        async for order in self.iter_orders(ticker=ticker, limit=1000):
            if order.client_order_id == client_order_id:
                return order
        return None

    # --- orders (signed; the current /portfolio/events/orders endpoints) ---

    async def create_order(
        self,
        ticker: str,
        side: BookSideName,
        *,
        price: Price,
        count: Count,
        time_in_force: TimeInForceName = "good_till_canceled",
        client_order_id: str | None = None,
        post_only: bool | None = None,
        reduce_only: bool | None = None,
        self_trade_prevention_type: SelfTradePreventionName = "taker_at_cross",
        expiration_time: int | None = None,
        subaccount: int | None = None,
    ) -> CreateOrderResponse:
        """Place a limit order on the YES leg: ``bid`` buys YES at ``price``; ``ask`` sells YES at ``price``
        (= buys NO at $1 - price). ``price`` in pips on the market's grid, ``count`` in hundredths."""
        request = CreateOrderRequest(
            ticker=ticker, side=side, price=price, count=count, time_in_force=time_in_force,
            client_order_id=client_order_id, post_only=post_only, reduce_only=reduce_only,
            self_trade_prevention_type=self_trade_prevention_type, expiration_time=expiration_time,
            subaccount=subaccount,
        )
        return await self.submit_order(request)

    async def submit_order(self, request: CreateOrderRequest) -> CreateOrderResponse:
        """Send a prepared create request, resolving an unknown outcome by ``client_order_id``.

        Raises :class:`UnknownOrderOutcome` when neither the answer nor a lookup settles whether
        the order exists.
        """
        request = self._with_client_order_id(request)
        cid = request.client_order_id
        assert cid
        for attempt in (1, 2):
            try:
                data = await self._write("POST", _ORDERS, request.to_wire())
                return _parse(CreateOrderResponse, data)
            except Conflict:
                if attempt == 1:
                    raise  # the caller reused a client_order_id
                # The retry collided with the first try's order: it did land after all.
                found = await self._resolve(request.ticker, [cid])
                if cid in found:
                    return CreateOrderResponse.from_order(found[cid])
                raise
            except (ServerError, TransportError) as exc:
                if isinstance(exc, TransportError) and not exc.sent:
                    raise  # never reached the exchange: certainly not created
                found = await self._resolve(request.ticker, [cid])
                if cid in found:
                    return CreateOrderResponse.from_order(found[cid])
                if attempt == 2:
                    raise UnknownOrderOutcome(f"order {cid} in {request.ticker}: no answer twice and not found",
                                              client_order_ids=[cid], status=exc.status) from exc
                log.warning("create %s in %s: %s, and the order is not on the exchange; sending it once more",
                            cid, request.ticker, type(exc).__name__)
        raise AssertionError("unreachable")

    async def batch_create_orders(self, requests: Sequence[CreateOrderRequest]) -> list[BatchCreateResult]:
        """Create several orders in one call; each result holds the order's numbers or its ``error``.

        On an unknown outcome every order is looked up; if any is missing, :class:`UnknownOrderOutcome`
        names the missing ones (the batch is never resent).
        """
        requests = [self._with_client_order_id(r) for r in requests]
        body = BatchCreateOrdersRequest(orders=requests).to_wire()
        try:
            data = await self._write("POST", f"{_ORDERS}/batched", body, cost=self.limits.default_cost * len(requests))
            return _parse(BatchCreateOrdersResponse, data).orders
        except (ServerError, TransportError) as exc:
            if isinstance(exc, TransportError) and not exc.sent:
                raise
            found: dict[str, Order] = {}
            for ticker in dict.fromkeys(r.ticker for r in requests):
                found |= await self._resolve(ticker, [r.client_order_id for r in requests if r.ticker == ticker])
            missing = [r.client_order_id for r in requests if r.client_order_id not in found]
            if missing:
                raise UnknownOrderOutcome(f"batch create: {len(missing)} of {len(requests)} orders not found",
                                          client_order_ids=missing, status=exc.status) from exc  # type: ignore[arg-type]
            return [BatchCreateResult(**CreateOrderResponse.from_order(found[r.client_order_id]).model_dump())
                    for r in requests]  # type: ignore[index]

    async def cancel_order(self, order_id: str, *, market_ticker: str | None = None) -> CancelOrderResponse:
        """Cancel one order; ``reduced_by`` is what was still resting. ``market_ticker`` routes it on Kalshi."""
        data = await self._write("DELETE", f"{_ORDERS}/{_seg(order_id)}", params={"market_ticker": market_ticker},
                                 cost=self.limits.light_cost)
        return _parse(CancelOrderResponse, data)

    async def cancel_all_orders(self, *, subaccount: int | None = None) -> None:
        """Cancel every resting order of the account (idempotent, so retried like a read)."""
        await self._call("DELETE", _ORDERS, params={"subaccount": subaccount}, bucket=self._write_bucket,
                         cost=self.limits.light_cost, retry_all=True)

    async def batch_cancel_orders(self, orders: Iterable[str | BatchCancelItem]) -> list[BatchCancelResult]:
        """Cancel several orders by id (or by :class:`BatchCancelItem`, to give ``market_ticker``)."""
        items = [o if isinstance(o, BatchCancelItem) else BatchCancelItem(order_id=o) for o in orders]
        data = await self._write("DELETE", f"{_ORDERS}/batched", BatchCancelOrdersRequest(orders=items).to_wire(),
                                 cost=self.limits.light_cost * len(items))
        return _parse(BatchCancelOrdersResponse, data).orders

    async def amend_order(self, order_id: str, *, ticker: str, side: BookSideName, price: Price, count: Count,
                          client_order_id: str | None = None,
                          updated_client_order_id: str | None = None) -> AmendOrderResponse:
        """Change price and/or size. ``count`` is the new TOTAL (filled + resting), in hundredths."""
        body = AmendOrderRequest(ticker=ticker, side=side, price=price, count=count, client_order_id=client_order_id,
                                 updated_client_order_id=updated_client_order_id).to_wire()
        return _parse(AmendOrderResponse, await self._write("POST", f"{_ORDERS}/{_seg(order_id)}/amend", body))

    async def decrease_order(self, order_id: str, *, reduce_by: Count | None = None,
                             reduce_to: Count | None = None) -> DecreaseOrderResponse:
        """Shrink a resting order (keeps its queue place). Give exactly one of ``reduce_by``/``reduce_to``."""
        if (reduce_by is None) == (reduce_to is None):
            raise ValueError("give exactly one of reduce_by and reduce_to")
        body = DecreaseOrderRequest(reduce_by=reduce_by, reduce_to=reduce_to).to_wire()
        return _parse(DecreaseOrderResponse, await self._write("POST", f"{_ORDERS}/{_seg(order_id)}/decrease", body))

    # --- internals ---

    def _with_client_order_id(self, request: CreateOrderRequest) -> CreateOrderRequest:
        if request.client_order_id:
            return request
        return request.model_copy(update={"client_order_id": self.new_client_order_id()})

    async def _resolve(self, ticker: str, client_order_ids: list[str | None]) -> dict[str, Order]:
        """The orders of ``ticker`` with these ids, found by listing; raises UnknownOrderOutcome if listing fails."""
        wanted = {cid for cid in client_order_ids if cid}
        found: dict[str, Order] = {}
        try:
            async for order in self.iter_orders(ticker=ticker, limit=1000):
                if order.client_order_id in wanted:
                    found[order.client_order_id] = order
                    if len(found) == len(wanted):
                        break
        except KalshiError as exc:
            raise UnknownOrderOutcome(f"could not look up orders {sorted(wanted)} in {ticker}: {exc}",
                                      client_order_ids=sorted(wanted), status=exc.status) from exc
        return found

    async def _pages(self, get_page: Any, key: str, filters: dict[str, Any]) -> AsyncIterator[Any]:
        cursor = filters.pop("cursor", None)
        while True:
            page = await get_page(cursor=cursor, **filters)
            for item in getattr(page, key):
                yield item
            if not page.cursor:
                return
            if page.cursor == cursor:
                raise ResponseFormatError(f"the server repeated cursor {cursor!r}")
            cursor = page.cursor

    async def _read(self, model: type[M], path: str, params: dict[str, Any] | None = None, *,
                    cost: int | None = None) -> M:
        data = await self._call("GET", path, params=params, bucket=self._read_bucket,
                                cost=self.limits.default_cost if cost is None else cost, retry_all=True)
        return _parse(model, data)

    async def _write(self, method: str, path: str, body: Any = None, *, params: dict[str, Any] | None = None,
                     cost: int | None = None) -> Any:
        return await self._call(method, path, params=params, body=body, bucket=self._write_bucket,
                                cost=self.limits.default_cost if cost is None else cost, retry_all=False)

    async def _call(self, method: str, path: str, *, params: dict[str, Any] | None = None, body: Any = None,
                    bucket: _TokenBucket, cost: int, retry_all: bool) -> Any:
        """Send with retries. ``retry_all``: retry 429, 5xx and transport errors (safe to repeat);
        otherwise only 429 and connections never made (certainly not run)."""
        query = _query(params)
        for retry in range(self.retry.attempts):
            await bucket.take(cost)
            try:
                return await self._send(method, path, query, body)
            except (RateLimited, ServerError, TransportError) as exc:
                repeatable = (retry_all or isinstance(exc, RateLimited)
                              or (isinstance(exc, TransportError) and not exc.sent))
                if not repeatable or retry + 1 >= self.retry.attempts:
                    raise
                delay = self.retry.delay_s(retry, self._rng)
                log.debug("%s %s: %s; retry %d in %.3fs", method, path, type(exc).__name__, retry + 1, delay)
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    async def _send(self, method: str, path: str, query: list[tuple[str, str]], body: Any) -> Any:
        """One request: sign, send, map failures to :mod:`.errors`; returns the decoded JSON (None if empty)."""
        headers = self.signer.headers(method, self._path_prefix + path) if self.signer else {}
        try:
            response = await self._http.request(method, self.base_url + path, params=query, json=body,
                                                headers=headers)
        except httpx.TimeoutException as exc:
            sent = not isinstance(exc, (httpx.ConnectTimeout, httpx.PoolTimeout))
            raise RequestTimeout(f"timed out ({type(exc).__name__})", sent=sent, method=method, path=path) from exc
        except httpx.ConnectError as exc:
            raise TransportError(f"cannot connect: {exc}", sent=False, method=method, path=path) from exc
        except httpx.TransportError as exc:
            raise TransportError(f"{type(exc).__name__}: {exc}", sent=True, method=method, path=path) from exc
        log.debug("%s %s -> %d", method, path, response.status_code)
        if response.status_code >= 400:
            raise error_from_response(response.status_code, response.content, method=method, path=path)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError as exc:
            raise ResponseFormatError(f"answer is not JSON: {response.content[:200]!r}", status=response.status_code,
                                      method=method, path=path) from exc


def _parse(model: type[M], data: Any) -> M:
    try:
        return model.from_wire(data)
    except ValidationError as exc:
        raise ResponseFormatError(f"unexpected {model.__name__} payload: {exc}") from exc


def _seg(value: str) -> str:
    """A path segment, percent-escaped in case an id holds a reserved character."""
    return quote(value, safe="")


def _query(params: dict[str, Any] | None) -> list[tuple[str, str]]:
    """Query pairs without the None values; lists repeat the key (``tickers=A&tickers=B``)."""
    pairs: list[tuple[str, str]] = []
    for key, value in (params or {}).items():
        if value is None:
            continue
        for item in value if isinstance(value, (list, tuple)) else (value,):
            pairs.append((key, str(item).lower() if isinstance(item, bool) else str(item)))
    return pairs
