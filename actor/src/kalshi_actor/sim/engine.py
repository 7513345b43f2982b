"""The matching engine: books, price-time matching with YES/NO equivalence, accounts, fees, settlement.

INTERFACE CONTRACT (shared by sim.rest_api, sim.feed, sim.traders and the tests). Signatures
below are the contract: extend, don't break.

Errors raise :class:`EngineError` with a Kalshi-like ``code`` (e.g. ``"market_closed"``,
``"insufficient_balance"``, ``"invalid_price"``, ``"post_only_cross"``, ``"order_not_found"``,
``"fok_not_filled"``, ``"invalid_count"``, ``"duplicate_client_order_id"``) and a message;
the REST layer maps them to 400/404/409 bodies.

Matching
--------
Each market has two bid books, YES bids and NO bids, each with price-time priority. A YES
bid at ``p`` and a NO bid at ``q`` cross when ``p + q >= ONE_DOLLAR``; the trade happens at
the RESTING order's price (a resting NO bid at ``q`` trades at ``yes_price = ONE_DOLLAR - q``
and the YES taker pays ``ONE_DOLLAR - q <= p``). An order is matched in full before anything
changes: the engine first plans the fills (walking the opposite book best-first, applying
self-trade prevention), then checks fill-or-kill and the balance, then applies the plan, so
a rejected order leaves no trace.

Accounting (all exact integers: price pips x count hundredths = money micros)
-----------------------------------------------------------------------------
The position and settlement arithmetic is :func:`kalshi_actor.trading.portfolio.book_fill` and
:func:`~kalshi_actor.trading.portfolio.settle`, shared with the training and live portfolio.

* ``balance`` is free cash. A resting order holds ``price * remaining`` (plus its maximal
  maker fee where the market charges makers) out of the balance into
  ``Account.resting_order_cost``; the hold is released as the order fills, shrinks or is
  cancelled. The hold is a pure function of (price, remaining), so it never drifts.
* Positions are signed: ``+n`` is n YES contracts, ``-n`` is n NO contracts. Buying a
  contract at own-side price ``x`` costs ``x * count`` plus the fee. Buying the side opposite
  to an open position closes it first: a YES + NO pair is worth exactly $1.00, so the engine
  nets it at once and pays ``ONE_DOLLAR`` per closed contract. For ``k`` closed contracts out
  of an open position of ``n`` with cost basis ``B``, the closed cost is
  ``B * k // n`` (all of ``B`` when ``k == n``, so no remainder is left behind) and
  ``realized_pnl += (ONE_DOLLAR - x) * k - closed_cost``. Whatever exceeds the open position
  opens the other side with cost ``x * (count - k)``. Fees are kept apart in ``fees_paid``
  (``realized_pnl`` excludes them).
* Settlement pays ``ONE_DOLLAR`` per winning contract; ``realized_pnl += payout - cost_basis``.
* Conservation: summed over all accounts, ``balance + resting_order_cost + value of positions
  at the outcome`` changes only by the fees collected (``Engine.fees_collected``).
* The balance check before an order: the taker part needs its exact cost and fees minus the
  $1.00 payouts of the pairs it closes; the resting remainder needs its hold. A maker fee is
  charged per fill (ceil to the cent), so on a market with maker fees a maker whose hold was
  its last cent may end a fill up to one cent below zero.

Fees
----
Taker ``ceil_to_cent(0.07 * C * P * (1 - P) * fee_multiplier)`` per fill with ``C`` contracts
and ``P`` the fill price in dollars; maker ``0.0175`` instead of ``0.07`` on
``quadratic_with_maker_fees`` markets (``0.035`` on ``quadratic_with_combo_maker_fees``), no
maker fee otherwise. Computed exactly with integers by :mod:`kalshi_actor.trading.fees`, the
one fee implementation (the fill model and the live portfolio use it too).

Events
------
Listeners are called synchronously, in order, with :mod:`sim.types` events. For one order:
per fill ``BookChanged`` (the maker's level), ``Traded``, ``Filled`` (taker), ``Filled``
(maker), ``PositionChanged`` (taker, maker), ``OrderUpdated`` (maker); then the taker's
``BookChanged`` if it rests, then ``OrderUpdated`` (taker). ``BookChanged.account`` and
``client_order_id`` name the owner of the order whose size changed.
"""

from __future__ import annotations

import random
import uuid
from bisect import insort
from collections import deque
from collections.abc import Callable

from ..trading.fees import FeeSchedule, fee
from ..trading.portfolio import book_fill, settle
from ..units import ONE_DOLLAR, Count, Money, Price
from .types import (
    Account,
    BookChanged,
    BookSide,
    EngineEvent,
    Filled,
    Market,
    MarketLifecycle,
    MarketStatus,
    Order,
    OrderStatus,
    OrderUpdated,
    PositionChanged,
    PriceRange,
    SelfTradePrevention,
    TimeInForce,
    Traded,
)

_ONE = ONE_DOLLAR
_GTC = TimeInForce.GTC
_IOC = TimeInForce.IOC
_FOK = TimeInForce.FOK
_RESTING = OrderStatus.RESTING
_CANCELED = OrderStatus.CANCELED
_EXECUTED = OrderStatus.EXECUTED
_STP_TAKER = SelfTradePrevention.TAKER_AT_CROSS
_ACTIVE = MarketStatus.ACTIVE

class EngineError(Exception):
    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status


def _valid_prices(ranges: list[PriceRange]) -> frozenset[Price]:
    prices: set[Price] = set()
    for r in ranges:
        if r.step <= 0 or r.start > r.end:
            raise EngineError("invalid_price_ranges", f"bad price range {r}")
        prices.update(p for p in range(r.start, r.end + 1, r.step) if 0 < p < _ONE)
    return frozenset(prices)


# --- books ---


class _Side:
    """One bid book: price -> FIFO queue of orders, aggregated sizes, and prices ascending."""

    __slots__ = ("queues", "sizes", "prices")

    def __init__(self) -> None:
        self.queues: dict[Price, deque[Order]] = {}
        self.sizes: dict[Price, Count] = {}
        self.prices: list[Price] = []  # ascending; the best bid is prices[-1]

    def add(self, order: Order) -> Count:
        price = order.price
        size = self.sizes.get(price)
        if size is None:
            self.queues[price] = deque((order,))
            self.sizes[price] = order.remaining
            insort(self.prices, price)
            return order.remaining
        self.queues[price].append(order)
        size += order.remaining
        self.sizes[price] = size
        return size

    def reduce(self, price: Price, by: Count) -> Count:
        """Shrink a level's size by ``by``; drop the level when empty. Returns the new size."""
        size = self.sizes[price] - by
        if size:
            self.sizes[price] = size
        else:
            del self.sizes[price]
            del self.queues[price]
            prices = self.prices
            if prices[-1] == price:
                prices.pop()
            else:
                prices.remove(price)
        return size

    def remove(self, order: Order) -> Count:
        """Take a resting order out of its queue; returns the level's new size."""
        _unqueue(self.queues[order.price], order)
        return self.reduce(order.price, order.remaining)


def _unqueue(queue: deque[Order], order: Order) -> None:
    """Remove one order by identity (``deque.remove`` would compare whole dataclasses)."""
    if queue[0] is order:
        queue.popleft()
        return
    for i, other in enumerate(queue):
        if other is order:
            del queue[i]
            return
    raise KeyError(order.order_id)


class _Book:
    __slots__ = ("market", "yes", "no", "valid", "fees", "taker_fee", "maker_fee")

    def __init__(self, market: Market) -> None:
        self.market = market
        self.yes = _Side()
        self.no = _Side()
        self.valid = _valid_prices(market.price_ranges)
        self.fees = FeeSchedule.of(market.fee_type, market.fee_multiplier)
        self.taker_fee, self.maker_fee = self.fees.taker, self.fees.maker  # rates, for the matching loop

    def sides(self, side: BookSide) -> tuple[_Side, _Side]:
        """(own, opposite) for an order buying ``side``."""
        if side == "yes":
            return self.yes, self.no
        if side == "no":
            return self.no, self.yes
        raise EngineError("invalid_side", f"side must be 'yes' or 'no', got {side!r}")

    def hold(self, price: Price, remaining: Count) -> Money:
        """Money a resting order of this size holds out of the balance."""
        return self.fees.hold(price, remaining)


def _copy(o: Order) -> Order:
    return Order(
        o.order_id, o.account, o.ticker, o.side, o.price, o.initial_count, o.remaining, o.time_in_force,
        o.created_ts_ms, o.client_order_id, o.post_only, o.status, o.filled, o.fill_cost, o.fees_paid,
        o.updated_ts_ms, o.queue_seq, o.self_trade_prevention, o.taker_fill_cost, o.maker_fill_cost,
        o.taker_fees, o.maker_fees,
    )


# A plan is a list of (resting order, count to fill); count 0 means "cancel it" (maker STP).
_Plan = list[tuple[Order, Count]]


class Engine:
    """One exchange. Time comes from ``now_ms`` (a real or virtual clock).

    ``seed`` makes order and trade ids deterministic. ``fees_collected`` is the exchange's
    fee income in micros.
    """

    def __init__(self, now_ms: Callable[[], int], *, seed: int = 0) -> None:
        self.now_ms = now_ms
        self.markets: dict[str, Market] = {}
        self.accounts: dict[str, Account] = {}
        self.orders: dict[str, Order] = {}
        self.listeners: list[Callable[[EngineEvent], None]] = []
        self.fees_collected: Money = 0
        self._rng = random.Random(seed)
        self._books: dict[str, _Book] = {}
        self._resting: dict[str, dict[str, Order]] = {}  # account -> order_id -> resting order
        self._client_ids: dict[tuple[str, str], Order] = {}
        self._forgetful: set[str] = set()  # accounts whose finished orders are not kept
        self._seq = 0

    # --- setup ---
    def add_market(self, market: Market) -> None:
        """List a market. Emits ``created`` (and ``activated`` when it is already active)."""
        if market.ticker in self.markets:
            raise EngineError("market_exists", f"market {market.ticker} already listed", 409)
        self._books[market.ticker] = _Book(market)
        self.markets[market.ticker] = market
        now = self.now_ms()
        self._emit(MarketLifecycle(market.ticker, "created", now))
        if market.status is _ACTIVE:
            self._emit(MarketLifecycle(market.ticker, "activated", now))

    def open_market(self, ticker: str) -> None:
        """Make an ``initialized`` market tradable (emits ``activated``)."""
        market = self._book(ticker).market
        market.status = _ACTIVE
        self._emit(MarketLifecycle(ticker, "activated", self.now_ms()))

    def set_price_levels(self, ticker: str, structure: str, ranges: list[PriceRange]) -> None:
        """Change a market's tick grid live; resting orders keep their prices."""
        book = self._book(ticker)
        book.valid = _valid_prices(ranges)
        book.market.price_level_structure = structure
        book.market.price_ranges = list(ranges)
        self._emit(MarketLifecycle(ticker, "price_level_structure_updated", self.now_ms()))

    def open_account(self, name: str, balance: Money, *, keep_history: bool = True) -> Account:
        """Create an account (or return the existing one unchanged).

        ``keep_history=False`` (synthetic traders) drops an order from ``orders`` once it is
        finished, so a long run does not keep millions of dead orders.
        """
        account = self.accounts.get(name)
        if account is None:
            if balance < 0:
                raise EngineError("invalid_balance", "balance must be >= 0")
            account = self.accounts[name] = Account(name, balance)
            self._resting[name] = {}
            if not keep_history:
                self._forgetful.add(name)
        return account

    # --- orders (all prices on the order's own side's scale; side "yes" = buy YES, "no" = buy NO) ---
    def place_order(
        self,
        account: str,
        ticker: str,
        side: BookSide,
        price: Price,
        count: Count,
        *,
        time_in_force: TimeInForce = TimeInForce.GTC,
        client_order_id: str = "",
        post_only: bool = False,
        reduce_only: bool = False,
        self_trade_prevention: SelfTradePrevention = SelfTradePrevention.TAKER_AT_CROSS,
    ) -> Order:
        acct = self._account(account)
        book = self._book(ticker)
        if book.market.status is not _ACTIVE:
            raise EngineError("market_closed", f"market {ticker} is {book.market.status.value}")
        own, opp = book.sides(side)
        if price not in book.valid:
            raise EngineError("invalid_price", f"price {price} is not on the tick grid of {ticker}")
        if type(count) is not int or count <= 0:
            raise EngineError("invalid_count", f"count must be a positive number of hundredths, got {count!r}")
        if client_order_id and (account, client_order_id) in self._client_ids:
            raise EngineError("duplicate_client_order_id", f"client_order_id {client_order_id!r} is in use", 409)
        if reduce_only:
            if time_in_force is not _IOC:
                raise EngineError("invalid_order", "reduce_only orders must be immediate_or_cancel")
            position = acct.positions.get(ticker, 0)
            closable = -position if side == "yes" else position
            count = min(count, max(closable, 0))
        if post_only and opp.prices and price + opp.prices[-1] >= _ONE:
            raise EngineError("post_only_cross", "a post-only order would cross the book")

        plan, filled, stopped = self._plan(opp, account, price, count, self_trade_prevention)
        if time_in_force is _FOK and filled < count:
            raise EngineError("fok_not_filled", "a fill-or-kill order cannot be filled in full")
        rest = count - filled if time_in_force is _GTC and not stopped else 0
        self._check_balance(acct, book, ticker, side, plan, filled, price, rest, 0)

        now = self.now_ms()
        self._seq += 1
        order = Order(
            self._new_id(), account, ticker, side, price, count, count, time_in_force, now,
            client_order_id, post_only, _RESTING, updated_ts_ms=now, queue_seq=self._seq,
            self_trade_prevention=self_trade_prevention,
        )
        self.orders[order.order_id] = order
        if client_order_id:
            self._client_ids[(account, client_order_id)] = order
        self._take(book, opp, order, acct, plan, now)
        self._finish_taker(book, own, order, acct, rest, now)
        return order

    def cancel_order(self, account: str, order_id: str) -> Order:
        order = self._own_resting(account, order_id)
        self._cancel(order, self.now_ms())
        return order

    def cancel_all(self, account: str, ticker: str | None = None) -> list[Order]:
        """Cancel the account's resting orders (in one market when ``ticker`` is given)."""
        self._account(account)
        now = self.now_ms()
        doomed = [o for o in self._resting[account].values() if ticker is None or o.ticker == ticker]
        for order in doomed:
            self._cancel(order, now)
        return doomed

    def amend_order(self, account: str, order_id: str, *, price: Price, count: Count) -> Order:
        """``count`` is the new total (filled + remaining); a price change or size increase loses priority.

        A new price may cross the book: the order then trades as a taker (its own
        self-trade-prevention mode applies) and rests with what is left.
        """
        order = self._own_resting(account, order_id)
        book = self._books[order.ticker]
        if book.market.status is not _ACTIVE:
            raise EngineError("market_closed", f"market {order.ticker} is {book.market.status.value}")
        if price not in book.valid:
            raise EngineError("invalid_price", f"price {price} is not on the tick grid of {order.ticker}")
        if type(count) is not int:
            raise EngineError("invalid_count", f"count must be an integer of hundredths, got {count!r}")
        remaining = count - order.filled
        if remaining <= 0:
            raise EngineError("invalid_count", "the new count must exceed the filled count")
        now = self.now_ms()
        if price == order.price and remaining <= order.remaining:
            order.initial_count = count
            if remaining < order.remaining:
                self._shrink(book, order, order.remaining - remaining, now)
            else:
                self._emit_order(order, now)
            return order

        acct = self.accounts[account]
        own, opp = book.sides(order.side)
        if order.post_only and opp.prices and price + opp.prices[-1] >= _ONE:
            raise EngineError("post_only_cross", "a post-only order would cross the book")
        plan, filled, stopped = self._plan(opp, account, price, remaining, order.self_trade_prevention)
        rest = remaining - filled if not stopped else 0
        released = book.hold(order.price, order.remaining)
        self._check_balance(acct, book, order.ticker, order.side, plan, filled, price, rest, released)

        size = own.remove(order)
        acct.balance += released
        acct.resting_order_cost -= released
        self._emit_level(order, order.price, -order.remaining, size, now)
        self._seq += 1
        order.price = price
        order.remaining = remaining
        order.initial_count = count
        order.queue_seq = self._seq
        self._take(book, opp, order, acct, plan, now)
        self._finish_taker(book, own, order, acct, rest, now)
        return order

    def decrease_order(self, account: str, order_id: str, *, reduce_by: Count | None = None,
                       reduce_to: Count | None = None) -> Order:
        """Shrink a resting order, keeping its priority; ``reduce_to`` is the new remaining count.

        Reducing to zero or below cancels the order.
        """
        order = self._own_resting(account, order_id)
        if (reduce_by is None) == (reduce_to is None):
            raise EngineError("invalid_parameters", "give exactly one of reduce_by or reduce_to")
        by = reduce_by if reduce_by is not None else order.remaining - reduce_to  # type: ignore[operator]
        if type(by) is not int or by <= 0:
            raise EngineError("invalid_count", "a decrease must reduce the remaining count")
        now = self.now_ms()
        if by >= order.remaining:
            self._cancel(order, now)
        else:
            self._shrink(self._books[order.ticker], order, by, now)
        return order

    # --- reads ---
    def book(self, ticker: str, side: BookSide) -> dict[Price, Count]:
        """The aggregated bid levels of one side (price -> total resting size), ascending."""
        own, _ = self._book(ticker).sides(side)
        sizes = own.sizes
        return {p: sizes[p] for p in own.prices}

    def best_bids(self, ticker: str) -> tuple[Price, Price]:
        """(best YES bid, best NO bid) in pips, 0 for an empty side. Cheap; for the traders."""
        book = self._books[ticker]
        yes, no = book.yes.prices, book.no.prices
        return (yes[-1] if yes else 0), (no[-1] if no else 0)

    def resting_orders(self, account: str, ticker: str | None = None) -> list[Order]:
        """The account's resting orders, oldest first."""
        return [o for o in self._resting.get(account, {}).values() if ticker is None or o.ticker == ticker]

    def find_order_by_client_id(self, account: str, client_order_id: str) -> Order | None:
        return self._client_ids.get((account, client_order_id))

    # --- lifecycle ---
    def close_market(self, ticker: str) -> None:
        """Stop trading: cancel resting orders, status closed, emit lifecycle (``deactivated``)."""
        book = self._book(ticker)
        if book.market.status in (MarketStatus.CLOSED, MarketStatus.DETERMINED, MarketStatus.SETTLED):
            return
        now = self.now_ms()
        for side in (book.yes, book.no):
            for price in list(reversed(side.prices)):
                for order in list(side.queues[price]):
                    self._cancel(order, now)
        book.market.status = MarketStatus.CLOSED
        self._emit(MarketLifecycle(ticker, "deactivated", now))

    def settle_market(self, ticker: str, result: BookSide) -> None:
        """Pay $1.00 per winning contract, zero positions, status settled, emit lifecycle."""
        if result not in ("yes", "no"):
            raise EngineError("invalid_result", f"result must be 'yes' or 'no', got {result!r}")
        market = self._book(ticker).market
        if market.status is MarketStatus.SETTLED:
            raise EngineError("market_settled", f"market {ticker} is already settled", 409)
        self.close_market(ticker)
        now = self.now_ms()
        market.result = result
        market.status = MarketStatus.DETERMINED
        self._emit(MarketLifecycle(ticker, "determined", now, result))
        for acct in self.accounts.values():
            position = acct.positions.get(ticker, 0)
            if not position:
                continue
            payout, realized = settle(position, acct.cost_basis.get(ticker, 0), result)
            acct.balance += payout
            acct.positions[ticker] = 0
            acct.cost_basis[ticker] = 0
            pnl = acct.realized_pnl[ticker] = acct.realized_pnl.get(ticker, 0) + realized
            self._emit(PositionChanged(acct.name, ticker, 0, 0, pnl, acct.fees_paid.get(ticker, 0), now))
        market.open_interest = 0
        market.status = MarketStatus.SETTLED
        self._emit(MarketLifecycle(ticker, "settled", now, result))

    # --- fees ---
    @staticmethod
    def taker_fee(market: Market, price: Price, count: Count) -> Money:
        return FeeSchedule.of(market.fee_type, market.fee_multiplier).taker_fee(price, count)

    @staticmethod
    def maker_fee(market: Market, price: Price, count: Count) -> Money:
        return FeeSchedule.of(market.fee_type, market.fee_multiplier).maker_fee(price, count)

    # --- internals ---
    def _emit(self, event: EngineEvent) -> None:
        for listener in self.listeners:
            listener(event)

    def _emit_order(self, order: Order, now: int) -> None:
        order.updated_ts_ms = now
        if self.listeners:
            self._emit(OrderUpdated(_copy(order), now))

    def _emit_level(self, order: Order, price: Price, delta: Count, size: Count, now: int) -> None:
        if self.listeners:
            self._emit(BookChanged(order.ticker, order.side, price, delta, size, now, order.account,
                                   order.client_order_id))

    def _new_id(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def _account(self, name: str) -> Account:
        acct = self.accounts.get(name)
        if acct is None:
            raise EngineError("account_not_found", f"no account {name!r}", 404)
        return acct

    def _book(self, ticker: str) -> _Book:
        book = self._books.get(ticker)
        if book is None:
            raise EngineError("market_not_found", f"no market {ticker!r}", 404)
        return book

    def _own_resting(self, account: str, order_id: str) -> Order:
        order = self._resting.get(account, {}).get(order_id)
        if order is None:
            raise EngineError("order_not_found", f"no resting order {order_id!r} for this account", 404)
        return order

    @staticmethod
    def _plan(opp: _Side, account: str, price: Price, count: Count,
              stp: SelfTradePrevention) -> tuple[_Plan, Count, bool]:
        """Walk the opposite book best-first: (fills, filled count, stopped by self-trade)."""
        plan: _Plan = []
        prices = opp.prices
        if not prices or price + prices[-1] < _ONE:
            return plan, 0, False
        need = count
        limit = _ONE - price  # opposite bids at or above this cross
        queues = opp.queues
        for i in range(len(prices) - 1, -1, -1):
            level = prices[i]
            if level < limit:
                break
            for resting in queues[level]:
                if resting.account == account:
                    if stp is _STP_TAKER:
                        return plan, count - need, True
                    plan.append((resting, 0))
                    continue
                take = resting.remaining if resting.remaining < need else need
                plan.append((resting, take))
                need -= take
                if not need:
                    return plan, count, False
        return plan, count - need, False

    def _check_balance(self, acct: Account, book: _Book, ticker: str, side: BookSide, plan: _Plan,
                       filled: Count, price: Price, rest: Count, released: Money) -> None:
        need = book.hold(price, rest) if rest else 0
        if filled:
            taker_fee = book.taker_fee
            for resting, take in plan:
                if take:
                    own_price = _ONE - resting.price
                    need += own_price * take + fee(taker_fee, own_price, take)
            position = acct.positions.get(ticker, 0)
            closable = -position if side == "yes" else position
            if closable > 0:
                need -= _ONE * (filled if filled < closable else closable)
        if need > acct.balance + released:
            raise EngineError("insufficient_balance", "the balance does not cover this order")

    def _take(self, book: _Book, opp: _Side, taker: Order, acct: Account, plan: _Plan, now: int) -> None:
        """Apply a plan: fill or (maker STP) cancel each planned resting order in turn."""
        if not plan:
            return
        market = book.market
        ticker = market.ticker
        listeners = self.listeners
        accounts = self.accounts
        for maker, take in plan:
            if not take:
                self._cancel(maker, now)
                continue
            maker_price = maker.price
            taker_price = _ONE - maker_price
            yes_price = taker_price if taker.side == "yes" else maker_price
            if maker.remaining == take:
                _unqueue(opp.queues[maker_price], maker)
            size = opp.reduce(maker_price, take)
            # maker: release the hold of the filled part, pay cost and maker fee
            maker_acct = accounts[maker.account]
            released = book.hold(maker_price, maker.remaining) - book.hold(maker_price, maker.remaining - take)
            maker_acct.balance += released
            maker_acct.resting_order_cost -= released
            maker_fee = fee(book.maker_fee, maker_price, take)
            taker_fee = fee(book.taker_fee, taker_price, take)
            maker.remaining -= take
            maker.filled += take
            maker.fill_cost += maker_price * take
            maker.maker_fill_cost += maker_price * take
            maker.fees_paid += maker_fee
            maker.maker_fees += maker_fee
            taker.remaining -= take
            taker.filled += take
            taker.fill_cost += taker_price * take
            taker.taker_fill_cost += taker_price * take
            taker.fees_paid += taker_fee
            taker.taker_fees += taker_fee
            self.fees_collected += maker_fee + taker_fee
            taker_before, taker_after = self._fill_position(acct, ticker, taker.side, taker_price, take, taker_fee)
            maker_before, maker_after = self._fill_position(maker_acct, ticker, maker.side, maker_price, take,
                                                            maker_fee)
            market.volume += take
            market.open_interest += (max(taker_after, 0) - max(taker_before, 0)
                                     + max(maker_after, 0) - max(maker_before, 0))
            market.last_price = yes_price
            trade_id = self._new_id()
            if maker.remaining == 0:
                maker.status = _EXECUTED
                self._retire(maker)
            if listeners:
                emit = self._emit
                emit(BookChanged(ticker, maker.side, maker_price, -take, size, now, maker.account,
                                 maker.client_order_id))
                emit(Traded(trade_id, ticker, yes_price, take, taker.side, now))
                emit(Filled(taker.account, trade_id, taker.order_id, taker.client_order_id, ticker, True,
                            taker.side, yes_price, take, taker_fee, taker_after, now))
                emit(Filled(maker.account, trade_id, maker.order_id, maker.client_order_id, ticker, False,
                            maker.side, yes_price, take, maker_fee, maker_after, now))
                emit(self._position_event(acct, ticker, now))
                emit(self._position_event(maker_acct, ticker, now))
            self._emit_order(maker, now)

    def _finish_taker(self, book: _Book, own: _Side, order: Order, acct: Account, rest: Count, now: int) -> None:
        """Rest what is left of a taker (GTC), or close it out; then report it."""
        if rest:
            hold = book.hold(order.price, rest)
            acct.balance -= hold
            acct.resting_order_cost += hold
            if order.remaining != rest:  # cannot happen: the plan said what would be left
                raise AssertionError("plan and execution disagree")
            size = own.add(order)
            self._resting[order.account][order.order_id] = order
            self._emit_level(order, order.price, rest, size, now)
        else:
            order.status = _EXECUTED if order.remaining == 0 else _CANCELED
            self._retire(order)
        self._emit_order(order, now)

    def _fill_position(self, acct: Account, ticker: str, side: BookSide, price: Price, count: Count,
                       fee_paid: Money) -> tuple[Count, Count]:
        """Book one fill on an account (:func:`trading.portfolio.book_fill`); returns (position before, after)."""
        position = acct.positions.get(ticker, 0)
        after, cost, closed, realized = book_fill(position, acct.cost_basis.get(ticker, 0), side, price, count)
        acct.balance += _ONE * closed - price * count - fee_paid
        if closed:
            acct.realized_pnl[ticker] = acct.realized_pnl.get(ticker, 0) + realized
        acct.cost_basis[ticker] = cost
        acct.positions[ticker] = after
        if fee_paid:
            acct.fees_paid[ticker] = acct.fees_paid.get(ticker, 0) + fee_paid
        return position, after

    @staticmethod
    def _position_event(acct: Account, ticker: str, now: int) -> PositionChanged:
        return PositionChanged(acct.name, ticker, acct.positions.get(ticker, 0), acct.cost_basis.get(ticker, 0),
                               acct.realized_pnl.get(ticker, 0), acct.fees_paid.get(ticker, 0), now)

    def _shrink(self, book: _Book, order: Order, by: Count, now: int) -> None:
        """Reduce a resting order in place (it keeps its queue position)."""
        own, _ = book.sides(order.side)
        released = book.hold(order.price, order.remaining) - book.hold(order.price, order.remaining - by)
        acct = self.accounts[order.account]
        acct.balance += released
        acct.resting_order_cost -= released
        order.remaining -= by
        size = own.reduce(order.price, by)
        self._emit_level(order, order.price, -by, size, now)
        self._emit_order(order, now)

    def _cancel(self, order: Order, now: int) -> None:
        book = self._books[order.ticker]
        own, _ = book.sides(order.side)
        released = book.hold(order.price, order.remaining)
        acct = self.accounts[order.account]
        acct.balance += released
        acct.resting_order_cost -= released
        size = own.remove(order)
        delta = -order.remaining
        order.remaining = 0
        order.status = _CANCELED
        self._retire(order)
        self._emit_level(order, order.price, delta, size, now)
        self._emit_order(order, now)

    def _retire(self, order: Order) -> None:
        """An order left the book for good: forget it where its account keeps no history."""
        self._resting[order.account].pop(order.order_id, None)
        if order.account in self._forgetful:
            self.orders.pop(order.order_id, None)
            if order.client_order_id:
                self._client_ids.pop((order.account, order.client_order_id), None)
