"""The venue-neutral trading vocabulary shared by training and the live actor.

CONTRACT for the training stack (observation builder, action space, portfolio,
simulated and live order managers). Extend, don't break. Units as in
:mod:`kalshi_actor.units`: prices in pips, counts in hundredths, money in micros.

Sides: Kalshi's book holds bids only. ``"yes"`` is a bid for YES at ``price``;
``"no"`` is a bid for NO at ``price`` (= an offer of YES at ``ONE_DOLLAR - price``).
Selling YES is buying NO at the complement: there is no other way to sell, so
selling from flat opens a NO position and never creates cash.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Literal

from ..units import Count, Money, Price

BookSide = Literal["yes", "no"]


class Action(IntEnum):
    """The policy's discrete actions (ids are part of every model's contract)."""

    HOLD = 0
    BUY_YES_LIMIT = 1
    SELL_YES_LIMIT = 2
    BUY_NO_LIMIT = 3
    SELL_NO_LIMIT = 4


@dataclass(slots=True)
class Position:
    """One market's position, as Kalshi reports it: signed count (+YES / -NO), exact money."""

    ticker: str
    count: Count = 0
    cost_basis: Money = 0  # what the open contracts cost (>= 0), fees excluded
    realized_pnl: Money = 0  # fees excluded, as Kalshi's realized_pnl_dollars
    fees_paid: Money = 0


@dataclass(slots=True)
class WorkingOrder:
    """One of our own resting orders, as the policy sees it (at most one per market and side)."""

    order_id: str
    client_order_id: str
    ticker: str
    side: BookSide
    price: Price  # on its own side's scale
    remaining: Count
    placed_ts_ms: int  # exchange clock (ts_ms of the frame/ack), never wall time
    filled: Count = 0
    queue_ahead: Count = 0  # size resting ahead of it at its price (estimated live, exact in training)


@dataclass(frozen=True, slots=True)
class PlaceOrder:
    ticker: str
    side: BookSide
    price: Price
    count: Count
    post_only: bool = False
    time_in_force: Literal["good_till_canceled", "immediate_or_cancel"] = "good_till_canceled"


@dataclass(frozen=True, slots=True)
class CancelOrder:
    ticker: str
    order_id: str


@dataclass(frozen=True, slots=True)
class AmendOrder:
    """Move a working order (Kalshi's amend: ``count`` is the new total incl. what has filled)."""

    ticker: str
    order_id: str
    side: BookSide
    price: Price
    count: Count


OrderIntent = PlaceOrder | CancelOrder | AmendOrder


@dataclass(frozen=True, slots=True)
class FillEvent:
    """A fill of one of our orders (live: from the fill channel; training: from the fill model)."""

    ticker: str
    order_id: str
    side: BookSide  # which contract we bought
    price: Price  # on that side's scale
    count: Count
    fee: Money
    is_taker: bool
    ts_ms: int
    trade_id: str = ""
