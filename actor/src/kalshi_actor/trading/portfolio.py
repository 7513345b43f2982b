"""Portfolio accounting: cash, signed positions, cost basis, realized and unrealized P&L, fees, settlement.

ONE implementation, shared by the exchange simulator (:mod:`kalshi_actor.sim.engine` calls
:func:`book_fill` and :func:`settle`), the training environment and the live actor. Units
as in :mod:`kalshi_actor.units`: prices in pips, counts in hundredths, money in micros.

The exchange's rules (Kalshi's, and the simulator's)
----------------------------------------------------
* A position is one signed count per market: ``+n`` YES contracts or ``-n`` NO contracts.
  There is no selling: "selling YES at p" is buying NO at ``ONE_DOLLAR - p``. Selling
  from flat therefore opens a NO position and costs money; it never creates cash.
* Buying ``count`` contracts of ``side`` at own-side price ``x`` costs ``x * count`` plus
  the fee. If the position holds the other side, the two net at once: a YES + NO pair is
  worth exactly $1.00, so each closed pair pays ``ONE_DOLLAR`` back. For ``k`` contracts
  closed out of an open position of ``n`` with cost basis ``B``, the closed cost is
  ``B * k // n`` (all of ``B`` when ``k == n``, so nothing is left behind) and
  ``realized_pnl += (ONE_DOLLAR - x) * k - closed_cost``. What exceeds the open position
  opens the other side with cost ``x * (count - k)``.
* Fees are kept apart: ``realized_pnl`` excludes them (as Kalshi's ``realized_pnl_dollars``);
  ``fees_paid`` sums them. Net P&L = realized + unrealized - fees.
* Settlement pays ``ONE_DOLLAR`` per winning contract: ``realized_pnl += payout - cost_basis``.
* A resting order holds ``price * remaining`` plus its maximal maker fee out of the free
  balance (:meth:`FeeSchedule.hold`). :attr:`Portfolio.cash` is ALL the cash (free + held),
  :attr:`Portfolio.available` the free part (the exchange's ``balance``).

Marks (unrealized P&L)
----------------------
A position's value needs a price; :func:`mark_price` offers two marks:

* ``"bid"`` (the default, the liquidation mark): what closing now at the touch would pay.
  Closing ``n`` YES means buying ``n`` NO at the NO ask ``ONE_DOLLAR - best YES bid``, and
  the pair pays $1.00, so each YES contract is worth the best YES bid; a NO contract is
  worth the best NO bid. Depth and the closing fee are ignored. An empty bid side values
  the position at 0 (it cannot be closed).
* ``"mid"``: the side's mid, ``(bid + ask) / 2`` on its own scale (half a pip rounds down
  to the micro). Falls back to ``"bid"`` when either side of the book is empty.

A stale book is still marked (the last known state); callers that must not trust it check
``book.stale`` first.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Literal

from ..books.book import Book
from ..units import ONE_DOLLAR, Count, Money, Price
from .fees import FeeSchedule
from .types import BookSide, FillEvent, Position, WorkingOrder

__all__ = ["Mark", "Portfolio", "book_fill", "settle", "mark_price", "mark_value"]

Mark = Literal["bid", "mid"]
_ONE = ONE_DOLLAR


def book_fill(position: Count, cost_basis: Money, side: BookSide, price: Price,
              count: Count) -> tuple[Count, Money, Count, Money]:
    """Book one fill on a position; the exchange's exact rule (see the module docstring).

    ``side`` is the contract bought, ``price`` its own-side price in pips, ``count`` > 0.
    Returns ``(position after, cost basis after, contracts closed, realized P&L of the closed
    pairs)``; the cash change, fees excluded, is ``ONE_DOLLAR * closed - price * count``.
    A plain tuple: the simulator's matching loop calls this for every fill.
    """
    if side == "yes":
        after = position + count
        if position >= 0:
            return after, cost_basis + price * count, 0, 0
        held = -position
    else:
        after = position - count
        if position <= 0:
            return after, cost_basis + price * count, 0, 0
        held = position
    closed = count if count < held else held
    closed_cost = cost_basis if closed == held else cost_basis * closed // held
    return (after, cost_basis - closed_cost + price * (count - closed), closed,
            (_ONE - price) * closed - closed_cost)


def settle(position: Count, cost_basis: Money, result: BookSide) -> tuple[Money, Money]:
    """Settle a position: ``(payout, realized P&L)``; $1.00 per winning contract."""
    won = position > 0 if result == "yes" else position < 0
    payout = (position if position > 0 else -position) * _ONE if won else 0
    return payout, payout - cost_basis


def mark_price(book: Book, side: BookSide, mark: Mark = "bid") -> float | None:
    """The value of one ``side`` contract under ``mark``, in pips (None: no price). A float: for features."""
    twice = _twice_mark(book, side, mark)
    return None if twice is None else twice / 2


def mark_value(count: Count, book: Book | None, mark: Mark = "bid") -> Money:
    """Exact money value of a signed position under ``mark`` (0 when flat, without a book, or unpriced)."""
    if not count or book is None:
        return 0
    twice = _twice_mark(book, "yes" if count > 0 else "no", mark)
    if twice is None:
        return 0
    return (count if count > 0 else -count) * twice // 2


def _twice_mark(book: Book, side: BookSide, mark: Mark) -> Price | None:
    """Twice the mark in pips (an int, so a half-pip mid stays exact)."""
    if mark != "bid" and mark != "mid":
        raise ValueError(f"mark must be 'bid' or 'mid', not {mark!r}")
    yes = book.best_yes_bid_price
    no = book.best_no_bid_price
    bid = yes if side == "yes" else no
    if bid is None:
        return None
    if mark == "bid" or yes is None or no is None:
        return 2 * bid
    return bid + _ONE - (no if side == "yes" else yes)


class Portfolio:
    """One account's money and positions across markets.

    Feed it every fill (:meth:`apply_fill`), the holds of resting orders
    (:meth:`set_orders`) and settlements (:meth:`settle`). Totals are kept
    incrementally, so every update is O(1); valuations take the markets' books.
    """

    __slots__ = ("cash", "positions", "fees_paid", "realized_pnl", "held", "fee_schedules", "default_fees",
                 "_holds")

    def __init__(self, cash: Money, *, fees: Mapping[str, FeeSchedule] | None = None,
                 default_fees: FeeSchedule | None = None) -> None:
        self.cash: Money = cash  # all cash, free + held by resting orders
        self.positions: dict[str, Position] = {}
        self.fees_paid: Money = 0
        self.realized_pnl: Money = 0  # fees excluded
        self.held: Money = 0  # held by resting orders (part of cash)
        self.fee_schedules: dict[str, FeeSchedule] = dict(fees or {})  # for the maker-fee part of holds
        self.default_fees = default_fees or FeeSchedule.of()
        self._holds: dict[str, Money] = {}

    # --- updates ---

    def apply_fill(self, fill: FillEvent) -> Position:
        """Book a fill (the exchange's rule, see :func:`book_fill`); returns the market's position."""
        pos = self.positions.get(fill.ticker)
        if pos is None:
            pos = self.positions[fill.ticker] = Position(fill.ticker)
        count = fill.count
        if count <= 0:
            raise ValueError(f"a fill needs a positive count, got {count}")
        after, cost, closed, realized = book_fill(pos.count, pos.cost_basis, fill.side, fill.price, count)
        pos.count = after
        pos.cost_basis = cost
        fee = fill.fee
        self.cash += _ONE * closed - fill.price * count - fee
        if closed:
            pos.realized_pnl += realized
            self.realized_pnl += realized
        if fee:
            pos.fees_paid += fee
            self.fees_paid += fee
        return pos

    def settle(self, ticker: str, result: BookSide) -> Money:
        """Settle one market: pay $1.00 per winning contract; returns the payout.

        The exchange cancelled our resting orders there when the market closed: their hold is released.
        """
        self.set_orders(ticker, ())
        pos = self.positions.get(ticker)
        if pos is None or not pos.count:
            return 0
        payout, realized = settle(pos.count, pos.cost_basis, result)
        self.cash += payout
        pos.realized_pnl += realized
        self.realized_pnl += realized
        pos.count = 0
        pos.cost_basis = 0
        return payout

    def reset_position(self, ticker: str, count: Count, cost_basis: Money, realized_pnl: Money,
                       fees_paid: Money) -> Position:
        """Overwrite one market's position with the exchange's figures (reconciliation); totals follow.

        Cash is not touched: the caller heals it apart (``cash = balance + held``), from the balance.
        """
        pos = self.positions.get(ticker)
        if pos is None:
            pos = self.positions[ticker] = Position(ticker)
        self.realized_pnl += realized_pnl - pos.realized_pnl
        self.fees_paid += fees_paid - pos.fees_paid
        pos.count = count
        pos.cost_basis = cost_basis
        pos.realized_pnl = realized_pnl
        pos.fees_paid = fees_paid
        return pos

    def set_orders(self, ticker: str, orders: Iterable[WorkingOrder]) -> Money:
        """Set the money held by our resting orders in one market (call when they change); returns it."""
        schedule = self.fee_schedules.get(ticker, self.default_fees)
        hold = 0
        for order in orders:
            hold += schedule.hold(order.price, order.remaining)
        self.held += hold - self._holds.get(ticker, 0)
        if hold:
            self._holds[ticker] = hold
        else:
            self._holds.pop(ticker, None)
        return hold

    # --- reads ---

    def position(self, ticker: str) -> Position:
        """The market's position (a flat, detached one when there is none)."""
        return self.positions.get(ticker) or Position(ticker)

    @property
    def available(self) -> Money:
        """Free cash: what new orders can use (the exchange's ``balance``)."""
        return self.cash - self.held

    @property
    def exposure(self) -> Money:
        """Cost basis of all open positions: what they cost, the most they can lose (Kalshi's market exposure)."""
        return sum(p.cost_basis for p in self.positions.values())

    def value(self, books: Mapping[str, Book], mark: Mark = "bid") -> Money:
        """Marked value of all open positions (markets without a book count 0)."""
        return sum(mark_value(p.count, books.get(t), mark) for t, p in self.positions.items() if p.count)

    def unrealized_pnl(self, books: Mapping[str, Book], mark: Mark = "bid", ticker: str | None = None) -> Money:
        """Marked value minus cost basis, fees excluded; of one market, or of all."""
        if ticker is not None:
            pos = self.positions.get(ticker)
            if pos is None or not pos.count:
                return 0
            return mark_value(pos.count, books.get(ticker), mark) - pos.cost_basis
        return sum(mark_value(p.count, books.get(t), mark) - p.cost_basis
                   for t, p in self.positions.items() if p.count)

    def equity(self, books: Mapping[str, Book], mark: Mark = "bid") -> Money:
        """Cash (free + held) plus the marked value of the positions."""
        return self.cash + self.value(books, mark)

    def net_pnl(self, books: Mapping[str, Book], mark: Mark = "bid") -> Money:
        """Realized + unrealized - fees: equity minus the cash the portfolio started with."""
        return self.realized_pnl + self.unrealized_pnl(books, mark) - self.fees_paid

    def __repr__(self) -> str:
        open_ = {t: p.count for t, p in self.positions.items() if p.count}
        return (f"Portfolio(cash={self.cash}, held={self.held}, fees_paid={self.fees_paid}, "
                f"realized_pnl={self.realized_pnl}, positions={open_})")
