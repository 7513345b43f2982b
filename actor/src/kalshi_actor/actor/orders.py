"""The live order manager: our order intents -> signed REST calls; fills and order updates ->
:class:`~kalshi_actor.trading.types.WorkingOrder` s and the :class:`~kalshi_actor.trading.portfolio.Portfolio`;
reconciliation with the exchange.

The live twin of :class:`~kalshi_actor.training.fill_model.FillModel`: the same intents in
(:func:`~kalshi_actor.trading.actions.intents_for_action`), the same working orders out (at most
one per market and book side; an amend keeps the order's ``placed_ts_ms`` and ``filled``; a
price change or a size increase re-estimates ``queue_ahead``, a decrease keeps it), the same
accounting (:meth:`Portfolio.apply_fill`, fees as the exchange reports them). Units as in
:mod:`kalshi_actor.units`.

How the loop drives it (in this order)
--------------------------------------
::

    manager = LiveOrderManager(rest, portfolio, "ka-a1b2-", on_start="cancel", books=md.books)
    report = await manager.reconcile(startup=True)      # before trading: balance, positions, own orders
    # WebSocket private channels: fill, user_orders, market_positions (+ market_lifecycle_v2)
    #     on_event: manager.on_frame(frame)             # returns the FillEvent it booked, or None
    each tick:
        manager.working(ticker)                         # -> observation builder, intents_for_action, risk
        results = await manager.submit(risk_allowed)    # -> list[OrderResult], one per intent, in order
    every N seconds, or when manager.reconcile_due:
        report = await manager.reconcile()
    on HALTED and on shutdown:
        results = await manager.cancel_all_own()

``submit`` and ``reconcile`` never run at the same time (one lock); ``on_frame`` is synchronous
and may run between any two awaits. Nothing here raises on an exchange error: every outcome is
an :class:`OrderResult` (``placed``, ``amended``, ``cancelled``, ``rejected`` with Kalshi's
code and message, ``refused`` locally, ``unknown``).

Sending
-------
Intents are sent concurrently, bounded by ``max_concurrency``; the :class:`RestClient`'s token
buckets do the rate limiting. Cancels go first (all markets at once); then each market's other
intents run in their given order (an amend or place after its market's cancels), markets
concurrently. Side mapping on Kalshi's YES leg: ``PlaceOrder(side="yes", price=p)`` is a
``bid`` at ``p``; ``side="no", price=q`` is an ``ask`` at ``ONE_DOLLAR - q``. Every order gets
``client_order_id = prefix + uuid4 hex``.

* A create whose outcome is unknown is first resolved by the client (lookup by
  ``client_order_id``); if that fails too, the result is ``unknown``, the id is remembered, and
  no new order is placed on that market and side until :meth:`reconcile` has found (adopted) or
  ruled out the order. So an unknown outcome never yields a duplicate order.
* An amend or cancel whose outcome is unknown (5xx, lost answer) leaves the working order as
  it was, marked for the next reconciliation, which reads it back from the exchange.
* A cancel or amend answered ``404`` means the order is gone (filled or cancelled): it is
  dropped from the working orders.

Fills, order updates, deduplication
-----------------------------------
A fill is ours when its order is one we know (created, adopted) or its ``client_order_id``
starts with our prefix (a fill may arrive on the WebSocket before the create's answer).
Fills of other orders on the account (another prefix: someone else trading it, which breaks the
one-writer rule) are NOT booked: they are counted in :attr:`ManagerStats.foreign_fills`, and the
next reconciliation heals the portfolio from the exchange's figures. Every fill is booked once:
fills are keyed by ``(trade_id, order_id)`` (the two sides of one trade share a trade id), from
the WebSocket and from ``GET /portfolio/fills`` alike; the last 200,000 keys are remembered.

A working order's numbers combine three sources without counting a fill twice: the last REST
answer about it (create, amend, reconciliation read: cumulative ``filled`` F and ``remaining`` R
at that moment), the fills booked for it (count B) and the cumulative fill count of
``user_order`` frames (U). ``filled = max(F, B, U)`` and ``remaining = R - (filled - F)``:
remaining changes only by fills and by our own amends, whose answers reset the base. A terminal
``user_order`` (executed, canceled) removes the order. Holds of resting orders are kept in the
portfolio (:meth:`Portfolio.set_orders`), so ``portfolio.available`` is the exchange's balance; a hold
includes the order's maximal maker fee on series that charge one, so the manager must know each market's
fee schedule (:meth:`LiveOrderManager.set_fee_schedules`, from its series).

``queue_ahead`` (an estimate live, exact in training): the size resting at the order's price in
``books`` when the order was sent (the book then did not contain it), later only ever lowered to
the level's size minus our own remaining (:meth:`refresh_queue_estimates`). Without ``books`` it
stays 0.

Market lifecycle frames: a deactivated/closed market drops our working orders there (the
exchange cancelled them); a determined/settled market with a yes/no result is settled in the
portfolio (:meth:`Portfolio.settle`).

Reconciliation
--------------
:meth:`reconcile` reads the balance, the positions and our resting orders. Startup
(``startup=True``): own resting orders (our prefix) left by an earlier run are CANCELLED
(``on_start="cancel"``, the default and the safe choice: the policy that placed them may be
gone) or ADOPTED (``on_start="adopt"``: they become working orders, the newest per market and
side; extra ones are cancelled). Orders with another prefix are never touched, only counted.
The portfolio is then set from the exchange's figures (this first sync is not a mismatch).

Periodic: first the fills missed while disconnected are fetched (``GET /portfolio/fills`` since
the last fill seen, minus a second) and booked; then the exchange is read; then the fills are
fetched once more. If any fill was booked during the read (WebSocket or REST), the read may be
half before and half after that fill, so it is repeated (up to 3 times, else the round is skipped
and reported). On a consistent read every fill the exchange's figures contain has been booked,
so a difference is real: it is logged once per round, counted, and healed from the exchange
(position count, market exposure = cost basis, realized P&L, fees: :meth:`Portfolio.reset_position`;
cash = balance + our holds). Working orders are refreshed from the exchange's resting orders;
ones no longer resting are dropped; own resting orders we did not know (an unknown create that
landed) are adopted when their market and side are free, else cancelled.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from ..books.book import Book
from ..kalshi import frames as F
from ..kalshi.errors import KalshiError, NotFound, ResponseFormatError, TransportError, UnknownOrderOutcome
from ..kalshi.models import Fill, MarketPosition
from ..kalshi.models import Order as ExchangeOrder
from ..kalshi.models import ms_from_datetime
from ..kalshi.rest import RestClient
from ..trading.fees import FeeSchedule
from ..trading.portfolio import Portfolio
from ..trading.types import AmendOrder, BookSide, CancelOrder, FillEvent, OrderIntent, PlaceOrder, WorkingOrder
from ..units import ONE_DOLLAR, Count, Money, Price

__all__ = ["LiveOrderManager", "ManagerStats", "OnStart", "OrderResult", "Outcome", "ReconcileReport"]

log = logging.getLogger(__name__)

OnStart = Literal["cancel", "adopt"]
Outcome = Literal["placed", "amended", "cancelled", "rejected", "refused", "unknown"]

_ONE = ONE_DOLLAR
_SEEN_FILLS = 200_000  # fill keys remembered for deduplication
_RECENT_ORDERS = 20_000  # finished / known order ids remembered
_TERMINAL = frozenset({"canceled", "cancelled", "executed", "expired"})
_CLOSING = frozenset({"deactivated", "closed"})
_SETTLING = frozenset({"determined", "settled"})
_CONSISTENT_READS = 3


class _Books(Protocol):
    def get(self, ticker: str) -> Book | None: ...


@dataclass(frozen=True, slots=True)
class OrderResult:
    """What happened to one intent. ``code``/``message``/``status`` are Kalshi's on a rejection.

    ``filled``: contracts (hundredths) filled by the call itself (a crossing place or amend);
    ``remaining``: what rests afterwards. Prices on the order's own side's scale.
    """

    outcome: Outcome
    intent: OrderIntent
    order_id: str = ""
    client_order_id: str = ""
    filled: Count = 0
    remaining: Count = 0
    code: str = ""
    message: str = ""
    status: int | None = None

    @property
    def ticker(self) -> str:
        return self.intent.ticker

    @property
    def action(self) -> str:
        """``place`` | ``amend`` | ``cancel`` (for metrics labels)."""
        return _ACTION[type(self.intent)]


_ACTION = {PlaceOrder: "place", AmendOrder: "amend", CancelOrder: "cancel"}


@dataclass
class ManagerStats:
    """Counters for metrics; never reset."""

    fills: int = 0  # fills booked (WebSocket or REST)
    fills_recovered: int = 0  # of which found by REST (missed on the WebSocket)
    duplicate_fills: int = 0
    foreign_fills: int = 0  # fills of orders that are not ours: not booked
    unknown_outcomes: int = 0
    rejects: int = 0
    reconciles: int = 0
    reconciles_skipped: int = 0  # no consistent read in 3 tries
    mismatches: int = 0  # markets (and the balance) healed from the exchange after the first sync
    position_frame_drift: int = 0  # market_position frames disagreeing with the portfolio


@dataclass
class ReconcileReport:
    """One reconciliation: what it found and did (for events and logs)."""

    startup: bool = False
    consistent: bool = True  # False: the read was never consistent, nothing was healed
    fills_recovered: int = 0
    adopted: list[str] = field(default_factory=list)  # order ids
    cancelled: list[str] = field(default_factory=list)  # order ids of own orders cancelled
    vanished: list[str] = field(default_factory=list)  # working orders no longer resting
    foreign_orders: int = 0  # resting orders with another prefix (left alone)
    unknown_resolved: int = 0
    mismatches: list[str] = field(default_factory=list)  # what differed, before healing
    errors: list[str] = field(default_factory=list)


class _Tracked:
    """A working order plus the bases its numbers are derived from (see the module docstring)."""

    __slots__ = ("order", "base_filled", "base_remaining", "seen_filled", "suspect")

    def __init__(self, order: WorkingOrder, base_filled: Count, base_remaining: Count) -> None:
        self.order = order
        self.base_filled = base_filled
        self.base_remaining = base_remaining
        self.seen_filled = base_filled  # max cumulative fill count reported (answers, user_order frames)
        self.suspect = False  # an amend/cancel with an unknown outcome: reconcile reads it back


class _Recent(OrderedDict):
    """A bounded insertion-ordered set (the oldest entries go first)."""

    def __init__(self, capacity: int) -> None:
        super().__init__()
        self.capacity = capacity

    def add(self, key: Any, value: Any = True) -> None:
        self[key] = value
        self.move_to_end(key)
        if len(self) > self.capacity:
            self.popitem(last=False)


class LiveOrderManager:
    """Our orders on the exchange, and the portfolio they feed (see the module docstring).

    ``rest``: a signed :class:`RestClient`. ``portfolio``: THE portfolio (shared with the
    observation builder and risk). ``client_order_prefix``: marks this actor's orders (keep
    it stable across restarts: reconciliation finds earlier orders by it). ``books``: the
    live book store, for ``queue_ahead`` estimates (optional). ``on_fill``: called with
    every booked :class:`FillEvent` (events, metrics).
    """

    def __init__(
        self,
        rest: RestClient,
        portfolio: Portfolio,
        client_order_prefix: str,
        *,
        on_start: OnStart = "cancel",
        books: _Books | None = None,
        max_concurrency: int = 16,
        on_fill: Callable[[FillEvent], object] | None = None,
    ) -> None:
        if not client_order_prefix:
            raise ValueError("client_order_prefix must not be empty: it is how the actor knows its orders")
        if on_start not in ("cancel", "adopt"):
            raise ValueError(f"on_start must be 'cancel' or 'adopt', got {on_start!r}")
        self.rest = rest
        self.portfolio = portfolio
        self.prefix = client_order_prefix
        self.on_start = on_start
        self.books = books
        self.on_fill = on_fill
        self.stats = ManagerStats()
        self.reconcile_due = False  # set when something suggests drift; the loop may reconcile early
        self._orders: dict[str, _Tracked] = {}  # order_id -> our working orders
        self._by_market: dict[str, list[WorkingOrder]] = {}
        self._unknown: dict[str, PlaceOrder] = {}  # client_order_id -> create with an unknown outcome
        self._fill_counts: _Recent = _Recent(_RECENT_ORDERS)  # order_id -> count booked
        self._known: _Recent = _Recent(_RECENT_ORDERS)  # order ids we created or adopted
        self._finished: _Recent = _Recent(_RECENT_ORDERS)  # order ids known to be no longer resting
        self._seen_fills: _Recent = _Recent(_SEEN_FILLS)
        self._caught_up_ms = 0  # exchange time up to which the REST fill listing was read (catch-up watermark)
        self._synced = False  # the first reconciliation (a sync, not a heal) is done
        self._lock = asyncio.Lock()
        self._sem = asyncio.Semaphore(max_concurrency)

    def set_fee_schedules(self, schedules: Mapping[str, FeeSchedule]) -> None:
        """Each market's fee schedule (its series'): a resting order holds its maximal maker fee too, so
        the holds (and the free balance) equal the exchange's only with it. Holds already set are redone."""
        self.portfolio.fee_schedules.update(schedules)
        for ticker in schedules:
            if ticker in self._by_market:
                self.portfolio.set_orders(ticker, self._by_market[ticker])

    # --- reads ---

    def working(self, ticker: str) -> list[WorkingOrder]:
        """Our working orders in one market (at most one per side). Read-only for callers."""
        return self._by_market.get(ticker, [])

    def orders(self) -> list[WorkingOrder]:
        """All our working orders."""
        return [t.order for t in self._orders.values()]

    @property
    def unknown_client_order_ids(self) -> list[str]:
        """Creates whose outcome is not known yet (resolved by the next :meth:`reconcile`)."""
        return list(self._unknown)

    def is_own(self, client_order_id: str | None) -> bool:
        return bool(client_order_id) and client_order_id.startswith(self.prefix)  # type: ignore[union-attr]

    def new_client_order_id(self) -> str:
        return f"{self.prefix}{uuid.uuid4().hex}"

    # --- sending ---

    async def submit(self, intents: Sequence[OrderIntent]) -> list[OrderResult]:
        """Send intents (cancels first, then each market's others in order; markets concurrently).

        Returns one :class:`OrderResult` per intent, in the given order. Never raises for an
        exchange error.
        """
        if not intents:
            return []
        async with self._lock:
            results: list[OrderResult | None] = [None] * len(intents)

            async def run(i: int) -> None:
                async with self._sem:
                    results[i] = await self._send(intents[i])

            cancels = [i for i, intent in enumerate(intents) if type(intent) is CancelOrder]
            await asyncio.gather(*(run(i) for i in cancels))
            by_market: dict[str, list[int]] = {}
            for i, intent in enumerate(intents):
                if type(intent) is not CancelOrder:
                    by_market.setdefault(intent.ticker, []).append(i)

            async def market(indexes: list[int]) -> None:
                for i in indexes:
                    await run(i)

            await asyncio.gather(*(market(ix) for ix in by_market.values()))
            return results  # type: ignore[return-value]

    async def _send(self, intent: OrderIntent) -> OrderResult:
        kind = type(intent)
        try:
            if kind is PlaceOrder:
                result = await self._place(intent)  # type: ignore[arg-type]
            elif kind is AmendOrder:
                result = await self._amend(intent)  # type: ignore[arg-type]
            elif kind is CancelOrder:
                result = await self._cancel(intent)  # type: ignore[arg-type]
            else:
                result = OrderResult("refused", intent, code="not_an_intent", message=repr(intent))
        except Exception as exc:  # a bug or an unexpected failure must not stop the other orders
            log.exception("sending %r failed", intent)
            result = OrderResult("unknown", intent, code="internal_error", message=f"{type(exc).__name__}: {exc}")
            self.reconcile_due = True
        if result.outcome == "rejected":
            self.stats.rejects += 1
        elif result.outcome == "unknown":
            self.stats.unknown_outcomes += 1
            self.reconcile_due = True
        return result

    async def _place(self, intent: PlaceOrder) -> OrderResult:
        ticker, side = intent.ticker, intent.side
        if any(o.side == side for o in self.working(ticker)):
            return OrderResult("refused", intent, code="side_busy",
                               message=f"a working order on {side} in {ticker} already exists: amend it")
        if any(u.ticker == ticker and u.side == side for u in self._unknown.values()):
            return OrderResult("refused", intent, code="unknown_outcome_pending",
                               message=f"an earlier order on {side} in {ticker} has an unknown outcome")
        cid = self.new_client_order_id()
        ahead = self._level(ticker, side, intent.price)
        wire_side, wire_price = _wire(side, intent.price)
        try:
            reply = await self.rest.create_order(
                ticker, wire_side, price=wire_price, count=intent.count, time_in_force=intent.time_in_force,
                client_order_id=cid, post_only=intent.post_only or None)
        except UnknownOrderOutcome as exc:
            self._unknown[cid] = intent
            log.warning("order %s in %s: unknown outcome (%s); blocked until reconciled", cid, ticker, exc)
            return _failed("unknown", intent, exc, client_order_id=cid)
        except ResponseFormatError as exc:  # it ran, but we cannot read what it did
            self._unknown[cid] = intent
            return _failed("unknown", intent, exc, client_order_id=cid)
        except KalshiError as exc:  # 4xx, or certainly never ran (429 after retries, no connection)
            return _failed("rejected", intent, exc, client_order_id=cid)
        order_id = reply.order_id
        self._known.add(order_id)
        if reply.remaining_count > 0 and order_id not in self._finished:
            order = WorkingOrder(order_id, cid, ticker, side, intent.price, reply.remaining_count,
                                 reply.ts_ms, reply.fill_count, ahead)
            self._track(_Tracked(order, reply.fill_count, reply.remaining_count))
        return OrderResult("placed", intent, order_id, cid, reply.fill_count, reply.remaining_count)

    async def _amend(self, intent: AmendOrder) -> OrderResult:
        tracked = self._orders.get(intent.order_id)
        if tracked is None:
            return OrderResult("refused", intent, intent.order_id, code="order_not_found",
                               message="not one of our working orders")
        order = tracked.order
        ahead = self._level(intent.ticker, order.side, intent.price)
        wire_side, wire_price = _wire(order.side, intent.price)
        try:
            reply = await self.rest.amend_order(intent.order_id, ticker=intent.ticker, side=wire_side,
                                                price=wire_price, count=intent.count)
        except NotFound as exc:
            self._forget(intent.order_id)
            return _failed("rejected", intent, exc, order_id=intent.order_id, client_order_id=order.client_order_id)
        except KalshiError as exc:
            if _certainly_not_run(exc):
                return _failed("rejected", intent, exc, order_id=intent.order_id,
                               client_order_id=order.client_order_id)
            tracked.suspect = True
            return _failed("unknown", intent, exc, order_id=intent.order_id, client_order_id=order.client_order_id)
        if intent.order_id not in self._orders:  # a frame finished it while we waited
            return OrderResult("amended", intent, intent.order_id, order.client_order_id, reply.fill_count or 0, 0)
        filled_before = order.filled
        remaining = reply.remaining_count if reply.remaining_count is not None else intent.count - filled_before
        lost_priority = intent.price != order.price or remaining > order.remaining
        order.price = intent.price  # placed_ts_ms and filled stay: the same order, as in the fill model
        if lost_priority:
            order.queue_ahead = ahead
        tracked.base_filled = intent.count - remaining
        tracked.base_remaining = remaining
        if tracked.seen_filled < tracked.base_filled:
            tracked.seen_filled = tracked.base_filled
        self._refresh(tracked)
        return OrderResult("amended", intent, intent.order_id, order.client_order_id, reply.fill_count or 0,
                           order.remaining if intent.order_id in self._orders else 0)

    async def _cancel(self, intent: CancelOrder) -> OrderResult:
        tracked = self._orders.get(intent.order_id)
        cid = tracked.order.client_order_id if tracked is not None else ""
        try:
            reply = await self.rest.cancel_order(intent.order_id, market_ticker=intent.ticker)
        except NotFound as exc:  # already gone: filled, or cancelled by someone
            self._forget(intent.order_id)
            return _failed("rejected", intent, exc, order_id=intent.order_id, client_order_id=cid)
        except KalshiError as exc:
            if _certainly_not_run(exc):
                return _failed("rejected", intent, exc, order_id=intent.order_id, client_order_id=cid)
            if tracked is not None:
                tracked.suspect = True
            return _failed("unknown", intent, exc, order_id=intent.order_id, client_order_id=cid)
        self._forget(intent.order_id)
        return OrderResult("cancelled", intent, intent.order_id, reply.client_order_id or cid, 0, 0)

    async def cancel_all_own(self, *, rounds: int = 3) -> list[OrderResult]:
        """Cancel every resting order of ours (our prefix only): for HALTED and shutdown.

        Cancels the working orders, then lists the exchange's resting orders with our prefix
        (unknown outcomes included) and cancels those too, until none is left or ``rounds``
        listings were made. Never raises; failures are in the results.
        """
        async with self._lock:
            results: list[OrderResult] = []
            pending = [CancelOrder(o.ticker, o.order_id) for o in self.orders()]
            for _ in range(rounds):
                results += await self._gather_sends(pending)
                try:
                    resting = await self._own_resting()
                except KalshiError as exc:
                    log.warning("cancel_all_own: cannot list resting orders: %s", exc)
                    break
                pending = [CancelOrder(o.ticker, o.order_id) for o in resting]
                if not pending:
                    self._unknown.clear()  # nothing of ours rests: unknown creates did not land or are done
                    break
            return results

    async def _gather_sends(self, intents: Sequence[OrderIntent]) -> list[OrderResult]:
        async def one(intent: OrderIntent) -> OrderResult:
            async with self._sem:
                return await self._send(intent)
        return list(await asyncio.gather(*(one(i) for i in intents)))

    # --- frames (WebSocket) ---

    def on_frame(self, frame: object) -> FillEvent | None:
        """Apply one decoded private frame (fill, user_order, market_position, market lifecycle).

        Returns the :class:`FillEvent` booked for a fill frame (None when it was a duplicate,
        not ours, or not a fill). Other frame types are ignored.
        """
        if isinstance(frame, F.FillFrame):
            return self._on_fill(frame.msg)
        if isinstance(frame, F.UserOrderFrame):
            self._on_user_order(frame.msg)
        elif isinstance(frame, F.MarketPositionFrame):
            self._on_position(frame.msg)
        elif isinstance(frame, F.MarketLifecycleFrame):
            self._on_lifecycle(frame.msg)
        return None

    def _on_fill(self, msg: F.FillMsg) -> FillEvent | None:
        side = _side_of(msg.outcome, msg.book_side)
        yes_price = msg.yes_price
        ts = msg.ts_ms if msg.ts_ms is not None else (msg.ts or 0) * 1000
        fill = FillEvent(msg.market_ticker, msg.order_id, side, yes_price if side == "yes" else _ONE - yes_price,
                         msg.count, msg.fee, msg.is_taker, ts, msg.trade_id)
        return self._book(fill, msg.client_order_id)

    def _book(self, fill: FillEvent, client_order_id: str | None) -> FillEvent | None:
        """Book one fill of ours exactly once; returns it when booked."""
        key = (fill.trade_id, fill.order_id)
        if key in self._seen_fills:
            self.stats.duplicate_fills += 1
            return None
        self._seen_fills.add(key)
        if not (fill.order_id in self._orders or fill.order_id in self._known or self.is_own(client_order_id)):
            self.stats.foreign_fills += 1
            if self.stats.foreign_fills & (self.stats.foreign_fills - 1) == 0:
                log.warning("fill %s of order %s is not ours (client_order_id %r): not booked; %d so far",
                            fill.trade_id, fill.order_id, client_order_id, self.stats.foreign_fills)
            self.reconcile_due = True
            return None
        self.portfolio.apply_fill(fill)
        self.stats.fills += 1
        self._fill_counts.add(fill.order_id, self._fill_counts.get(fill.order_id, 0) + fill.count)
        tracked = self._orders.get(fill.order_id)
        if tracked is not None:
            self._refresh(tracked)
        if self.on_fill is not None:
            try:
                self.on_fill(fill)
            except Exception:
                log.exception("on_fill failed")
        return fill

    def _on_user_order(self, msg: F.UserOrderMsg) -> None:
        tracked = self._orders.get(msg.order_id)
        if msg.status in _TERMINAL:
            self._finished.add(msg.order_id)
            if tracked is not None:
                self._forget(msg.order_id)
            return
        if tracked is None:
            return  # not ours, or its create's answer is still on the way (the answer tracks it)
        filled = msg.fill_count
        if filled > tracked.seen_filled:
            tracked.seen_filled = filled
            self._refresh(tracked)

    def _on_position(self, msg: F.MarketPositionMsg) -> None:
        pos = self.portfolio.position(msg.market_ticker)
        theirs = (msg.position, msg.position_cost, msg.realized_pnl, msg.fees_paid)
        if (pos.count, pos.cost_basis, pos.realized_pnl, pos.fees_paid) != theirs:
            self.stats.position_frame_drift += 1
            self.reconcile_due = True

    def _on_lifecycle(self, msg: F.LifecycleMsg) -> None:
        ticker = msg.market_ticker
        event = msg.event_type
        if event in _CLOSING or event in _SETTLING or msg.is_deactivated:
            for order in list(self.working(ticker)):  # the exchange cancelled them
                self._forget(order.order_id)
        if event in _SETTLING and msg.result in ("yes", "no"):
            self.portfolio.settle(ticker, msg.result)  # type: ignore[arg-type]

    # --- queue estimates ---

    def refresh_queue_estimates(self, tickers: Iterable[str] | None = None) -> None:
        """Lower each working order's ``queue_ahead`` to what its level can still hold ahead of it.

        The live book contains our own order, so at most ``level - our remaining`` rests ahead.
        """
        if self.books is None:
            return
        for ticker in self._by_market if tickers is None else tickers:
            for order in self._by_market.get(ticker, ()):
                bound = self._level(ticker, order.side, order.price) - order.remaining
                if order.queue_ahead > bound:
                    order.queue_ahead = bound if bound > 0 else 0

    def _level(self, ticker: str, side: BookSide, price: Price) -> Count:
        book = self.books.get(ticker) if self.books is not None else None
        if book is None:
            return 0
        return (book.yes if side == "yes" else book.no).get(price, 0)

    # --- working order bookkeeping ---

    def _track(self, tracked: _Tracked) -> None:
        order = tracked.order
        self._orders[order.order_id] = tracked
        self._known.add(order.order_id)
        self._by_market.setdefault(order.ticker, []).append(order)
        self._refresh(tracked)

    def _refresh(self, tracked: _Tracked) -> None:
        """Recompute filled/remaining from the bases (module docstring); drop the order when done."""
        order = tracked.order
        booked = self._fill_counts.get(order.order_id, 0)
        filled = max(tracked.base_filled, tracked.seen_filled, booked)
        order.filled = filled
        order.remaining = tracked.base_remaining - (filled - tracked.base_filled)
        if order.remaining <= 0:
            order.remaining = 0
            self._finished.add(order.order_id)
            self._forget(order.order_id)
        else:
            self.portfolio.set_orders(order.ticker, self._by_market.get(order.ticker, ()))

    def _forget(self, order_id: str) -> None:
        tracked = self._orders.pop(order_id, None)
        if tracked is None:
            return
        self._finished.add(order_id)
        ticker = tracked.order.ticker
        market = self._by_market.get(ticker, [])
        if tracked.order in market:
            market.remove(tracked.order)
        if not market:
            self._by_market.pop(ticker, None)
        self.portfolio.set_orders(ticker, market)

    # --- reconciliation ---

    async def reconcile(self, *, startup: bool = False) -> ReconcileReport:
        """Heal our view from the exchange (see the module docstring). Never raises for exchange errors."""
        async with self._lock:
            report = ReconcileReport(startup=startup)
            self.stats.reconciles += 1
            try:
                await self._reconcile(report, startup or not self._synced)
            except KalshiError as exc:
                report.consistent = False
                report.errors.append(str(exc))
                log.warning("reconciliation failed: %s", exc)
            if report.consistent and not report.errors:
                self._synced = True
                self.reconcile_due = False
            return report

    async def _reconcile(self, report: ReconcileReport, first: bool) -> None:
        snapshot = None
        if first:
            snapshot = await self._read()
            await self._mark_fills_seen(snapshot[0].updated_ts)
        else:
            for _ in range(_CONSISTENT_READS):
                report.fills_recovered += await self._catch_up_fills()
                booked = self.stats.fills
                snapshot = await self._read()
                report.fills_recovered += await self._catch_up_fills()
                if self.stats.fills == booked:
                    break
                snapshot = None
            if snapshot is None:
                report.consistent = False
                self.stats.reconciles_skipped += 1
                log.warning("reconciliation skipped: fills kept arriving during %d reads", _CONSISTENT_READS)
                return
        balance, positions, resting = snapshot
        await self._reconcile_orders(report, resting, first)
        if report.cancelled:  # their holds came back to the balance after our read
            balance = await self.rest.get_balance()
        self._heal(report, balance.available, positions, first)

    async def _read(self) -> tuple[Any, list[MarketPosition], list[ExchangeOrder]]:
        balance, positions, resting = await asyncio.gather(
            self.rest.get_balance(), _collect(self.rest.iter_positions(limit=1000)), self._all_resting())
        return balance, positions, resting

    async def _all_resting(self) -> list[ExchangeOrder]:
        return await _collect(self.rest.iter_orders(status="resting", limit=1000))

    async def _own_resting(self) -> list[ExchangeOrder]:
        return [o for o in await self._all_resting() if self.is_own(o.client_order_id)]

    async def _mark_fills_seen(self, exchange_now_s: int) -> None:
        """First sync: fills up to the read are in the exchange's figures; never book them again."""
        min_ts = exchange_now_s - 2 if exchange_now_s else None  # without the exchange's time: all of them
        async for fill in self.rest.iter_fills(min_ts=min_ts, limit=1000):
            self._seen_fills.add((fill.trade_id, fill.order_id))
            self._caught_up_ms = max(self._caught_up_ms, _fill_ts_ms(fill))
        self._caught_up_ms = max(self._caught_up_ms, exchange_now_s * 1000)

    async def _catch_up_fills(self) -> int:
        """Book the fills of ours the WebSocket missed; returns how many.

        The watermark is the newest fill of the last REST listing (complete up to then), not the
        newest WebSocket fill: fills missed in a disconnection are OLDER than the ones after it.
        """
        min_ts = self._caught_up_ms // 1000 - 1 if self._caught_up_ms else None
        fills = await _collect(self.rest.iter_fills(min_ts=min_ts, limit=1000))
        booked = 0
        for fill in reversed(fills):  # the exchange lists newest first; book in the order they happened
            side = _side_of(fill.outcome_side or fill.side, fill.book_side)
            price = fill.yes_price_dollars if side == "yes" else _ONE - fill.yes_price_dollars
            event = FillEvent(fill.market_ticker or fill.ticker, fill.order_id, side, price, fill.count_fp,
                              fill.fee_cost, fill.is_taker, _fill_ts_ms(fill), fill.trade_id)
            if self._book(event, fill.client_order_id) is not None:
                booked += 1
            if event.ts_ms > self._caught_up_ms:
                self._caught_up_ms = event.ts_ms
        self.stats.fills_recovered += booked
        return booked

    async def _reconcile_orders(self, report: ReconcileReport, resting: list[ExchangeOrder], first: bool) -> None:
        own = {o.order_id: o for o in resting if self.is_own(o.client_order_id)}
        report.foreign_orders = len(resting) - len(own)
        for order_id in [i for i in self._orders if i not in own]:
            report.vanished.append(order_id)
            self._forget(order_id)
        doomed: list[ExchangeOrder] = []
        newcomers: list[ExchangeOrder] = []
        for order in own.values():
            tracked = self._orders.get(order.order_id)
            if tracked is None:
                newcomers.append(order)
            else:
                self._refresh_from(tracked, order)
        if first and self.on_start == "cancel":
            doomed = newcomers
        else:
            newcomers.sort(key=lambda o: o.created_time.timestamp() if o.created_time else 0, reverse=True)
            for order in newcomers:  # newest first: it wins its market and side
                side: BookSide = "yes" if order.is_bid else "no"
                if any(w.side == side for w in self.working(order.ticker)):
                    doomed.append(order)
                    continue
                if not first and order.client_order_id not in self._unknown and self.on_start == "cancel":
                    doomed.append(order)  # a stray of ours (not a create of this session): cancel policy
                    continue
                self._adopt(order)
                report.adopted.append(order.order_id)
        report.unknown_resolved = len(self._unknown)
        self._unknown.clear()  # every unknown create is now adopted, cancelled, or known not to rest
        if doomed:
            results = await self._gather_sends([CancelOrder(o.ticker, o.order_id) for o in doomed])
            for r in results:
                if r.outcome == "cancelled" or r.code in ("not_found", "order_not_found"):
                    report.cancelled.append(r.order_id)
                else:
                    report.errors.append(f"cancel {r.order_id}: {r.outcome} {r.code} {r.message}")
                    self.reconcile_due = True

    def _adopt(self, order: ExchangeOrder) -> None:
        side: BookSide = "yes" if order.is_bid else "no"
        price = order.yes_price_dollars if side == "yes" else _ONE - order.yes_price_dollars
        placed = ms_from_datetime(order.created_time) if order.created_time else 0
        working = WorkingOrder(order.order_id, order.client_order_id, order.ticker, side, price,
                               order.remaining_count_fp, placed, order.fill_count_fp)
        working.queue_ahead = max(0, self._level(order.ticker, side, price) - order.remaining_count_fp)
        self._track(_Tracked(working, order.fill_count_fp, order.remaining_count_fp))

    def _refresh_from(self, tracked: _Tracked, order: ExchangeOrder) -> None:
        """The exchange's numbers of a resting order become the base (they include every fill before the read)."""
        working = tracked.order
        working.price = order.yes_price_dollars if working.side == "yes" else _ONE - order.yes_price_dollars
        tracked.base_filled = order.fill_count_fp
        tracked.base_remaining = order.remaining_count_fp
        tracked.seen_filled = max(tracked.seen_filled, order.fill_count_fp)
        tracked.suspect = False
        self._refresh(tracked)

    def _heal(self, report: ReconcileReport, balance: Money, positions: list[MarketPosition], first: bool) -> None:
        portfolio = self.portfolio
        listed = set()
        for p in positions:
            listed.add(p.ticker)
            ours = portfolio.position(p.ticker)
            theirs = (p.position_fp, p.market_exposure_dollars, p.realized_pnl_dollars, p.fees_paid_dollars)
            mine = (ours.count, ours.cost_basis, ours.realized_pnl, ours.fees_paid)
            if mine != theirs:
                report.mismatches.append(f"{p.ticker}: count/cost/realized/fees ours {mine}, exchange {theirs}")
                portfolio.reset_position(p.ticker, *theirs)
        for ticker, pos in list(portfolio.positions.items()):
            if ticker not in listed and (pos.count or pos.cost_basis):
                report.mismatches.append(f"{ticker}: ours {pos.count} @ {pos.cost_basis}, the exchange lists none")
                portfolio.reset_position(ticker, 0, 0, pos.realized_pnl, pos.fees_paid)
        if portfolio.available != balance:
            report.mismatches.append(f"balance: ours {portfolio.available}, exchange {balance}")
            portfolio.cash = balance + portfolio.held
        if report.mismatches and not first:
            self.stats.mismatches += len(report.mismatches)
            log.warning("reconciliation healed %d differences from the exchange: %s", len(report.mismatches),
                        "; ".join(report.mismatches))
        elif report.mismatches:
            log.info("startup sync from the exchange: %s", "; ".join(report.mismatches))


# --- helpers ---


def _wire(side: BookSide, price: Price) -> tuple[Literal["bid", "ask"], Price]:
    """Own-side (side, price) -> Kalshi's YES leg: a NO bid at q is an ask at $1 - q."""
    return ("bid", price) if side == "yes" else ("ask", _ONE - price)


def _side_of(outcome: str | None, book_side: str | None) -> BookSide:
    """The contract a fill bought: its outcome side, else from the YES-leg book side (bid = YES)."""
    if outcome == "yes" or outcome == "no":
        return outcome
    return "yes" if book_side == "bid" else "no"


def _certainly_not_run(exc: KalshiError) -> bool:
    """The request surely did not change anything: a 4xx answer, a 429, or no connection made."""
    if isinstance(exc, TransportError):
        return not exc.sent
    if isinstance(exc, ResponseFormatError):
        return False
    return exc.status is not None and 400 <= exc.status < 500


def _failed(outcome: Outcome, intent: OrderIntent, exc: KalshiError, *, order_id: str = "",
            client_order_id: str = "") -> OrderResult:
    code = exc.code or ("unknown_outcome" if outcome == "unknown" else type(exc).__name__)
    return OrderResult(outcome, intent, order_id, client_order_id, code=code, message=exc.message, status=exc.status)


def _fill_ts_ms(fill: Fill) -> int:
    if fill.created_time is not None:
        return ms_from_datetime(fill.created_time)
    return (fill.ts or 0) * 1000


async def _collect(pages: Any) -> list[Any]:
    return [item async for item in pages]

