"""The simulator's venue-neutral types: markets, orders, and the events the engine emits.

All prices are integer pips (1/10,000 dollar), counts integer hundredths of a
contract, money integer micros (see :mod:`kalshi_actor.units`). The engine keeps
two books of bids per market, YES bids and NO bids; a NO bid at ``q`` is a YES
ask at ``1 - q``. Wire formats (REST JSON, WebSocket frames) are produced from
these types by ``sim.rest_api`` and ``sim.feed``; the engine knows nothing of JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Literal

from ..units import Count, Money, Price

BookSide = Literal["yes", "no"]  # which bid book an order rests in


class TimeInForce(str, Enum):
    GTC = "good_till_canceled"
    IOC = "immediate_or_cancel"
    FOK = "fill_or_kill"


class SelfTradePrevention(str, Enum):
    TAKER_AT_CROSS = "taker_at_cross"  # cancel the incoming (taker) order's remainder at the cross
    MAKER = "maker"  # cancel the resting (maker) order and continue


class OrderStatus(str, Enum):
    RESTING = "resting"
    CANCELED = "canceled"
    EXECUTED = "executed"


class MarketStatus(str, Enum):
    INITIALIZED = "initialized"
    ACTIVE = "active"
    CLOSED = "closed"
    DETERMINED = "determined"
    SETTLED = "settled"


@dataclass(slots=True)
class PriceRange:
    start: Price
    end: Price
    step: Price


@dataclass(slots=True)
class Market:
    ticker: str
    event_ticker: str
    series_ticker: str
    title: str
    market_id: str  # a UUID, as in Kalshi's orderbook frames
    open_time_ms: int
    close_time_ms: int
    price_level_structure: str  # "linear_cent" | "tapered_deci_cent" | ...
    price_ranges: list[PriceRange]
    fee_type: str = "quadratic"  # "quadratic" | "quadratic_with_maker_fees" | "flat"
    fee_multiplier: float = 1.0
    status: MarketStatus = MarketStatus.ACTIVE
    result: Literal["", "yes", "no"] = ""
    volume: Count = 0
    open_interest: Count = 0
    last_price: Price = 0


@dataclass(slots=True)
class Order:
    order_id: str
    account: str  # the owning account (an API key id, or a synthetic trader's name)
    ticker: str
    side: BookSide  # the bid book it rests in: "yes" = buy YES at price, "no" = buy NO at price
    price: Price  # on its own side's scale (a NO order's price is a NO price)
    initial_count: Count
    remaining: Count
    time_in_force: TimeInForce
    created_ts_ms: int
    client_order_id: str = ""
    post_only: bool = False
    status: OrderStatus = OrderStatus.RESTING
    filled: Count = 0
    fill_cost: Money = 0  # sum of price * count over this order's fills, on its own side's scale
    fees_paid: Money = 0
    updated_ts_ms: int = 0
    queue_seq: int = 0  # time priority; a price change or size increase takes a new one
    self_trade_prevention: SelfTradePrevention = SelfTradePrevention.TAKER_AT_CROSS
    taker_fill_cost: Money = 0  # the parts of fill_cost / fees_paid where this order was the taker ...
    maker_fill_cost: Money = 0  # ... and where it was the resting maker (Kalshi reports them apart)
    taker_fees: Money = 0
    maker_fees: Money = 0


@dataclass(slots=True)
class Account:
    name: str
    balance: Money
    positions: dict[str, Count] = field(default_factory=dict)  # ticker -> signed (+YES / -NO)
    cost_basis: dict[str, Money] = field(default_factory=dict)  # ticker -> cost of the open position
    realized_pnl: dict[str, Money] = field(default_factory=dict)
    fees_paid: dict[str, Money] = field(default_factory=dict)
    resting_order_cost: Money = 0  # money held by resting orders


# --- events: the engine calls its listeners with these, in order, synchronously ---


@dataclass(slots=True)
class BookChanged:
    """One price level of one bid book changed by ``delta`` (to ``size``)."""

    ticker: str
    side: BookSide
    price: Price
    delta: Count
    size: Count
    ts_ms: int
    account: str = ""  # whose order caused it (for client_order_id on private delta frames)
    client_order_id: str = ""


@dataclass(slots=True)
class Traded:
    trade_id: str
    ticker: str
    yes_price: Price
    count: Count
    taker_side: BookSide  # the side the taker bought
    ts_ms: int


@dataclass(slots=True)
class Filled:
    """One side of one trade, for one account (each trade yields two)."""

    account: str
    trade_id: str
    order_id: str
    client_order_id: str
    ticker: str
    is_taker: bool
    side: BookSide  # which contract this account bought in the trade
    yes_price: Price
    count: Count
    fee: Money
    post_position: Count  # the account's signed position after the fill
    ts_ms: int


@dataclass(slots=True)
class OrderUpdated:
    """An order was created, partly filled, amended, decreased, cancelled or executed."""

    order: Order  # a copy, safe to keep
    ts_ms: int


@dataclass(slots=True)
class PositionChanged:
    account: str
    ticker: str
    position: Count
    cost_basis: Money
    realized_pnl: Money
    fees_paid: Money
    ts_ms: int


@dataclass(slots=True)
class MarketLifecycle:
    ticker: str
    event_type: Literal["created", "activated", "deactivated", "close_date_updated", "determined", "settled",
                        "price_level_structure_updated"]
    ts_ms: int
    result: str = ""


EngineEvent = BookChanged | Traded | Filled | OrderUpdated | PositionChanged | MarketLifecycle
