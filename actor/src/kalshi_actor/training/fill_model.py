"""The simulated order manager of training: our order intents + a recorded frame stream -> fills.

A recorded session is the market WITHOUT us: our orders are invisible to it. The fill
model keeps our :class:`~kalshi_actor.trading.types.WorkingOrder` objects beside the
replayed books and decides, from the session's own deltas and trades, when they would
have filled. Units as in :mod:`kalshi_actor.units`; fees from
:mod:`kalshi_actor.trading.fees` (the one implementation).

How to drive it
---------------
Apply each frame to the market's :class:`~kalshi_actor.books.book.Book` first, then
hand it here (:meth:`FillModel.on_frame`, or the typed :meth:`on_delta` / :meth:`on_trade`
/ :meth:`on_snapshot` / :meth:`close_market`); send the policy's intents with
:meth:`FillModel.submit`. Every call returns the :class:`FillEvent` s it produced, for the
portfolio. A frame in a market where we have no order costs one set lookup.

Crossing orders
---------------
An order that crosses the book fills at once against the opposite side's levels,
best first, at each level's price (a NO bid at ``q`` sells YES at ``ONE_DOLLAR - q``),
partially when the levels run out; one fill per level, taker fee. The remainder rests
(good-till-cancelled) or is dropped (immediate-or-cancel). A post-only order that would
cross is rejected. Liquidity we took is remembered (the recording still shows it):
a level's "consumed" part is subtracted from what we can take or queue behind, and it
shrinks only when the recorded level shrinks below it (the conservative choice: the
remaining recorded orders are assumed to be the ones we did not take). If our own
resting order on the other side would be reached, the exchange's self-trade prevention
(``taker_at_cross``) stops the walk there and drops the remainder.

Resting orders: queue position
------------------------------
On placement ``queue_ahead`` = the size resting at our price (the recording's level
minus what we consumed). Then, for the level at our price:

* a trade at our price of ``t`` consumes ``queue_ahead`` first; what is left of ``t``
  fills us. A trade at a price WORSE than ours (a YES bid trades below our YES bid: the
  taker went through our level) means our whole level went first: ``queue_ahead = 0``
  and the trade's size fills us. A trade by a taker of the other direction, or at a
  better price, does not touch us.
* a decrease of the level is either a trade (its trade frame arrives just before or
  after it) or a cancel. Decreases and trades at our level are matched one against the
  other; a decrease still unmatched when a frame with a later ``ts_ms`` arrives in the
  market is a cancel. Cancels are assumed to be BEHIND us (conservative): they change
  ``queue_ahead`` only when the level shrinks below it (``queue_ahead = min(queue_ahead,
  level)``). So with the simulator's order (delta, then its trade, same ``ts_ms``) a trade
  is never counted twice.
* an increase is new size behind us.
* new size on the OTHER side at a price that crosses our order (``p + q >= ONE_DOLLAR``)
  would have traded with us had we been visible: it fills us (up to its size) at our
  price, as maker, and is marked consumed.
* a snapshot (a resubscription) fills nothing: ``queue_ahead`` is clamped to the new level
  and consumed parts to the new levels.

Our fills as a maker pay the maker fee where the series charges one.

Amend follows Kalshi: a price change or a size increase loses priority (the order is
re-queued at the back, and may cross and trade); a size decrease keeps it.

What this model does not know: where in the queue a cancel really was, the per-order
split of a level (one taker fill per level, so a fee rounds up once per level where the
exchange rounds it per matched order), our own market impact on later recorded flow
(the recording's takers trade as if we had not taken anything), and balances (no
"insufficient balance" rejection: the environment keeps the portfolio).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import NamedTuple, Protocol

from ..books.book import Book
from ..kalshi import frames as F
from ..kalshi.grid import TickGrid
from ..trading.fees import FeeSchedule
from ..trading.types import AmendOrder, BookSide, CancelOrder, FillEvent, OrderIntent, PlaceOrder, WorkingOrder
from ..units import ONE_DOLLAR, Count, Price

__all__ = ["FillModel", "Rejection"]

_ONE = ONE_DOLLAR
_NONE: tuple[FillEvent, ...] = ()
_OTHER: dict[str, BookSide] = {"yes": "no", "no": "yes"}
_CLOSING_EVENTS = frozenset({"deactivated", "closed", "determined", "settled"})


class _Books(Protocol):
    def get(self, ticker: str) -> Book | None: ...


class Rejection(NamedTuple):
    """An intent the exchange would have refused; ``code`` as the engine's (``post_only_cross``, ...)."""

    intent: OrderIntent
    code: str


class _Resting:
    """One working order plus the queue bookkeeping the policy does not see."""

    __slots__ = ("order", "post_only", "pending", "credit", "since")

    def __init__(self, order: WorkingOrder, post_only: bool) -> None:
        self.order = order
        self.post_only = post_only
        self.pending: Count = 0  # decreases of our level not yet matched to a trade (trade or cancel?)
        self.credit: Count = 0  # trades at our level not yet matched to a decrease
        self.since = 0  # ts_ms when pending/credit became non-zero


class FillModel:
    """Our simulated orders over replayed books.

    ``books`` maps ticker -> :class:`Book` (a dict or a ``BookStore``), kept current by the
    caller. ``fees`` gives each market's :class:`FeeSchedule` (``default_fees`` otherwise);
    ``grids`` each market's :class:`TickGrid` (off-grid prices are rejected; without a grid
    any price strictly between $0 and $1 is accepted).
    """

    def __init__(self, books: _Books, *, fees: Mapping[str, FeeSchedule] | None = None,
                 default_fees: FeeSchedule | None = None, grids: Mapping[str, TickGrid] | None = None,
                 id_prefix: str = "sim") -> None:
        self.books = books
        self.fees: dict[str, FeeSchedule] = dict(fees or {})
        self.default_fees = default_fees or FeeSchedule.of()
        self.grids: dict[str, TickGrid] = dict(grids or {})
        self.orders: dict[str, WorkingOrder] = {}  # order_id -> our working orders, all markets
        self.rejections: list[Rejection] = []
        self._prefix = id_prefix
        self._next_id = 0
        self._resting: dict[str, list[_Resting]] = {}  # ticker -> its working orders (at most one per side)
        self._consumed: dict[str, dict[tuple[BookSide, Price], Count]] = {}  # ticker -> level -> size we took
        # markets with orders or consumed levels: frames elsewhere change nothing here (read-only outside)
        self.watched: set[str] = set()
        self._ts = 0  # the latest ts_ms seen (for frames without one)

    # --- reads ---

    def working(self, ticker: str) -> list[WorkingOrder]:
        """Our working orders in one market (at most one per book side under the action mapping)."""
        resting = self._resting.get(ticker)
        return [r.order for r in resting] if resting else []

    def available(self, ticker: str, side: BookSide, price: Price) -> Count:
        """Size at one recorded level that is still there for us (the level minus what we consumed)."""
        book = self.books.get(ticker)
        if book is None:
            return 0
        size = (book.yes if side == "yes" else book.no).get(price, 0)
        consumed = self._consumed.get(ticker)
        if consumed:
            size -= consumed.get((side, price), 0)
        return size if size > 0 else 0

    # --- our intents ---

    def submit(self, intents: Iterable[OrderIntent], ts_ms: int) -> Sequence[FillEvent]:
        """Carry out intents in order, at exchange time ``ts_ms``; returns the immediate (taker) fills."""
        if ts_ms > self._ts:
            self._ts = ts_ms
        fills: list[FillEvent] = []
        for intent in intents:
            kind = type(intent)
            if kind is PlaceOrder:
                self._place(intent, ts_ms, fills)
            elif kind is CancelOrder:
                resting = self._find(intent.ticker, intent.order_id)
                if resting is None:
                    self._reject(intent, "order_not_found")
                else:
                    self._remove(resting)
            elif kind is AmendOrder:
                self._amend(intent, ts_ms, fills)
            else:
                raise TypeError(f"not an order intent: {intent!r}")
        return fills

    def cancel_all(self, ticker: str | None = None) -> list[WorkingOrder]:
        """Drop our working orders (in one market, or everywhere); returns them."""
        tickers = [ticker] if ticker is not None else list(self._resting)
        dropped = []
        for t in tickers:
            for resting in list(self._resting.get(t, ())):
                self._remove(resting)
                dropped.append(resting.order)
        return dropped

    def _place(self, intent: PlaceOrder, ts: int, fills: list[FillEvent]) -> None:
        ticker, side, price, count = intent.ticker, intent.side, intent.price, intent.count
        book = self.books.get(ticker)
        if book is None:
            return self._reject(intent, "market_not_found")
        code = self._check(book, ticker, side, price, count)
        if code is None and intent.post_only and self._crosses(book, ticker, side, price):
            code = "post_only_cross"
        if code is not None:
            return self._reject(intent, code)
        self._next_id += 1
        order_id = f"{self._prefix}-{self._next_id}"
        order = WorkingOrder(order_id, order_id, ticker, side, price, count, ts)
        filled, stopped = self._take(book, order, count, ts, fills)
        rest = count - filled
        if rest and not stopped and intent.time_in_force == "good_till_canceled":
            order.remaining = rest
            self._rest(_Resting(order, intent.post_only))

    def _amend(self, intent: AmendOrder, ts: int, fills: list[FillEvent]) -> None:
        resting = self._find(intent.ticker, intent.order_id)
        book = self.books.get(intent.ticker)
        if resting is None or book is None:
            return self._reject(intent, "order_not_found")
        order = resting.order
        remaining = intent.count - order.filled
        code = "invalid_count" if remaining <= 0 else self._check(book, order.ticker, order.side, intent.price, 1)
        if code is None and intent.price == order.price and remaining <= order.remaining:
            order.remaining = remaining  # a decrease keeps its place in the queue
            return None
        if code is None and resting.post_only and self._crosses(book, order.ticker, order.side, intent.price):
            code = "post_only_cross"
        if code is not None:
            return self._reject(intent, code)
        self._remove(resting)  # a new price or a larger size: back of the queue, may trade
        order.price = intent.price
        filled, stopped = self._take(book, order, remaining, ts, fills)
        rest = remaining - filled
        if rest and not stopped:
            order.remaining = rest
            self._rest(_Resting(order, resting.post_only))
        return None

    def _reject(self, intent: OrderIntent, code: str) -> None:
        self.rejections.append(Rejection(intent, code))

    def _check(self, book: Book, ticker: str, side: str, price: Price, count: Count) -> str | None:
        if book.stale:
            return "stale_book"
        if side != "yes" and side != "no":
            return "invalid_side"
        if type(count) is not int or count <= 0:
            return "invalid_count"
        grid = self.grids.get(ticker)
        if not 0 < price < _ONE or (grid is not None and price not in grid):
            return "invalid_price"
        return None

    def _crosses(self, book: Book, ticker: str, side: BookSide, price: Price) -> bool:
        """Would a bid at ``price`` on ``side`` meet liquidity on the other side (still there, or our own)?"""
        other = _OTHER[side]
        limit = _ONE - price
        for r in self._resting.get(ticker, ()):
            if r.order.side == other and r.order.price >= limit:
                return True
        levels = book.no if side == "yes" else book.yes
        return any(self.available(ticker, other, p) for p in levels if p >= limit)

    def _take(self, book: Book, order: WorkingOrder, need: Count, ts: int,
              fills: list[FillEvent]) -> tuple[Count, bool]:
        """Fill ``order`` as a taker against the other side's levels; returns (filled, stopped by self-trade)."""
        ticker = order.ticker
        other = _OTHER[order.side]
        levels = book.no if order.side == "yes" else book.yes
        limit = _ONE - order.price  # other-side bids at or above this cross
        crossing = sorted((p for p in levels if p >= limit), reverse=True)
        stp: Price | None = None  # our own order on the other side that the walk would reach
        stp_ahead = 0
        for r in self._resting.get(ticker, ()):
            if r.order.side == other and r.order.price >= limit:
                stp, stp_ahead = r.order.price, r.order.queue_ahead
        if not crossing and stp is None:
            return 0, False
        consumed = self._consumed.setdefault(ticker, {})
        self.watched.add(ticker)
        schedule = self.fees.get(ticker, self.default_fees)
        start = need
        stopped = False
        for level in crossing:
            if stp is not None and level < stp:
                stopped = True
                break
            key = (other, level)
            taken = consumed.get(key, 0)
            available = levels[level] - taken
            if level == stp and available > stp_ahead:
                available = stp_ahead
            if available > 0:
                take = available if available < need else need
                consumed[key] = taken + take
                price = _ONE - level
                fills.append(self._fill(order, price, take, schedule.taker_fee(price, take), True, ts, ""))
                need -= take
            if level == stp:
                stopped = True
                break
            if not need:
                break
        else:
            stopped = need > 0 and stp is not None
        return start - need, stopped

    def _rest(self, resting: _Resting) -> None:
        order = resting.order
        order.queue_ahead = self.available(order.ticker, order.side, order.price)
        self._resting.setdefault(order.ticker, []).append(resting)
        self.orders[order.order_id] = order
        self.watched.add(order.ticker)

    def _find(self, ticker: str, order_id: str) -> _Resting | None:
        for r in self._resting.get(ticker, ()):
            if r.order.order_id == order_id:
                return r
        return None

    def _remove(self, resting: _Resting) -> None:
        ticker = resting.order.ticker
        market = self._resting[ticker]
        market.remove(resting)
        if not market:
            del self._resting[ticker]
            if not self._consumed.get(ticker):
                self.watched.discard(ticker)
        self.orders.pop(resting.order.order_id, None)

    def _fill(self, order: WorkingOrder, price: Price, count: Count, fee: int, is_taker: bool, ts: int,
              trade_id: str) -> FillEvent:
        order.filled += count
        return FillEvent(order.ticker, order.order_id, order.side, price, count, fee, is_taker, ts, trade_id)

    def _maker_fill(self, resting: _Resting, count: Count, ts: int, trade_id: str, fills: list[FillEvent]) -> None:
        order = resting.order
        order.remaining -= count
        fee = self.fees.get(order.ticker, self.default_fees).maker_fee(order.price, count)
        fills.append(self._fill(order, order.price, count, fee, False, ts, trade_id))
        if not order.remaining:
            self._remove(resting)

    # --- the market's frames (after the book applied them) ---

    def on_frame(self, frame: object) -> Sequence[FillEvent]:
        """Dispatch one decoded frame (:mod:`kalshi_actor.kalshi.frames`, own-side prices) that the book has applied."""
        kind = type(frame)
        if kind is F.OrderbookDeltaFrame:
            msg = frame.msg  # type: ignore[attr-defined]
            if msg.market_ticker not in self.watched:
                return _NONE
            ts = msg.ts_ms if msg.ts_ms is not None else self._ts
            return self.on_delta(msg.market_ticker, msg.side, msg.price, msg.delta, ts)
        if kind is F.TradeFrame:
            msg = frame.msg  # type: ignore[attr-defined]
            if msg.market_ticker not in self.watched:
                return _NONE
            ts = msg.ts_ms if msg.ts_ms is not None else (msg.ts * 1000 if msg.ts is not None else self._ts)
            return self.on_trade(msg.market_ticker, msg.yes_price, msg.count, msg.taker_outcome, ts, msg.trade_id)
        if kind is F.OrderbookSnapshotFrame:
            self.on_snapshot(frame.msg.market_ticker)  # type: ignore[attr-defined]
        elif kind is F.MarketLifecycleFrame:
            msg = frame.msg  # type: ignore[attr-defined]
            if msg.event_type in _CLOSING_EVENTS or msg.is_deactivated:
                self.close_market(msg.market_ticker)
        return _NONE

    def on_delta(self, ticker: str, side: BookSide, price: Price, delta: Count, ts_ms: int) -> Sequence[FillEvent]:
        """One level of the recorded book changed by ``delta`` (already applied to the book)."""
        if ticker not in self.watched:
            return _NONE
        if ts_ms > self._ts:
            self._ts = ts_ms
        consumed = self._consumed.get(ticker)
        if consumed and delta < 0:
            key = (side, price)
            taken = consumed.get(key)
            if taken is not None:
                self._clamp_consumed(ticker, consumed, key, taken)
        resting = self._resting.get(ticker)
        if not resting:
            return _NONE
        fills: list[FillEvent] | None = None
        for r in tuple(resting):
            order = r.order
            at_our_level = side == order.side and price == order.price
            if (r.pending or r.credit) and ts_ms > r.since:
                self._settle_unmatched(r, -delta if at_our_level else 0)  # bound by the level before this delta
            if side == order.side:
                if at_our_level and delta < 0:
                    decrease = -delta
                    matched = decrease if decrease < r.credit else r.credit
                    r.credit -= matched
                    if decrease > matched:
                        if not r.pending and not r.credit:
                            r.since = ts_ms
                        r.pending += decrease - matched
                    self._clamp_queue(r)
            elif delta > 0 and price + order.price >= _ONE:  # new size that would have traded with us
                take = delta if delta < order.remaining else order.remaining
                if consumed is None:
                    consumed = self._consumed.setdefault(ticker, {})
                consumed[(side, price)] = consumed.get((side, price), 0) + take
                order.queue_ahead = 0
                if fills is None:
                    fills = []
                self._maker_fill(r, take, ts_ms, "", fills)
        return fills or _NONE

    def on_trade(self, ticker: str, yes_price: Price, count: Count, taker_side: BookSide | None, ts_ms: int,
                 trade_id: str = "") -> Sequence[FillEvent]:
        """A recorded trade: ``count`` at ``yes_price``, the taker bought ``taker_side``."""
        resting = self._resting.get(ticker)
        if not resting or taker_side is None:
            return _NONE
        if ts_ms > self._ts:
            self._ts = ts_ms
        maker_side: BookSide = "no" if taker_side == "yes" else "yes"
        maker_price = yes_price if maker_side == "yes" else _ONE - yes_price
        fills: list[FillEvent] | None = None
        for r in tuple(resting):
            order = r.order
            if (r.pending or r.credit) and ts_ms > r.since:
                self._settle_unmatched(r)
            if order.side != maker_side or maker_price > order.price:
                continue
            if maker_price == order.price:
                ahead = order.queue_ahead
                used = count if count < ahead else ahead
                order.queue_ahead = ahead - used
                left = count - used
                matched = count if count < r.pending else r.pending
                r.pending -= matched
                if count > matched:
                    if not r.pending and not r.credit:
                        r.since = ts_ms
                    r.credit += count - matched
            else:  # the taker went through our price: our level, us included, went first
                order.queue_ahead = 0
                left = count
            if left:
                if fills is None:
                    fills = []
                self._maker_fill(r, left if left < order.remaining else order.remaining, ts_ms, trade_id, fills)
            if order.remaining:
                self._clamp_queue(r)
        return fills or _NONE

    def on_snapshot(self, ticker: str) -> None:
        """The market's book was replaced (already applied): re-clamp queues and consumed levels."""
        consumed = self._consumed.get(ticker)
        if consumed:
            for key, taken in list(consumed.items()):
                self._clamp_consumed(ticker, consumed, key, taken)
        for r in self._resting.get(ticker, ()):
            r.pending = r.credit = 0
            self._clamp_queue(r)

    def close_market(self, ticker: str) -> list[WorkingOrder]:
        """The market stopped trading: the exchange cancelled our orders there. Returns them."""
        dropped = self.cancel_all(ticker)
        self._consumed.pop(ticker, None)
        self.watched.discard(ticker)
        return dropped

    # --- queue bookkeeping ---

    def _settle_unmatched(self, r: _Resting, undo: Count = 0) -> None:
        """Decreases no trade claimed in time were cancels (assumed behind us): only the level bound remains.

        ``undo`` takes out a change of our level the book has already applied but that is newer than them.
        """
        r.pending = r.credit = 0
        self._clamp_queue(r, undo)

    def _clamp_queue(self, r: _Resting, undo: Count = 0) -> None:
        order = r.order
        bound = self.available(order.ticker, order.side, order.price) + r.pending + undo
        if order.queue_ahead > bound:
            order.queue_ahead = bound

    def _clamp_consumed(self, ticker: str, consumed: dict[tuple[BookSide, Price], Count],
                        key: tuple[BookSide, Price], taken: Count) -> None:
        book = self.books.get(ticker)
        level = 0 if book is None else (book.yes if key[0] == "yes" else book.no).get(key[1], 0)
        if level <= 0:
            del consumed[key]
        elif taken > level:
            consumed[key] = level
        if not consumed and ticker not in self._resting:
            self.watched.discard(ticker)
