"""Kalshi REST payloads as pydantic models, shared by the client (parsing) and the simulator (producing).

Field names are exactly Kalshi's (``yes_bid_dollars``, ``position_fp``, ``count_fp``), but the
values are exact integers (see :mod:`kalshi_actor.units`):

===================================  =====================  ===================  ==============
wire                                 annotated type         Python value         JSON out
===================================  =====================  ===================  ==============
price, ``*_dollars`` that is a price :data:`WirePrice`      int pips             ``"0.5600"``
count, ``*_fp``                      :data:`WireCount`      int hundredths       ``"10.00"``
money (balances, costs, fees, P&L)   :data:`WireMoney`      int micros           ``"4.950000"``
===================================  =====================  ===================  ==============

Parse what came off the wire with ``Model.from_wire(data)``: it accepts only the strings
Kalshi sends (a bare JSON number where a dollar string belongs is an error, not cents in
disguise). Build a model in Python with integers (``Order(yes_price_dollars=5600, ...)``)
and turn it into JSON with :meth:`to_wire`. Unknown fields are ignored (Kalshi keeps adding
fields) and almost every field is optional, so a new or thinner payload still parses.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, BeforeValidator, ConfigDict, PlainSerializer, ValidationInfo

from ..units import (
    ONE_DOLLAR,
    Count,
    Money,
    Price,
    UnitError,
    format_count,
    format_money,
    format_price,
    parse_count,
    parse_money,
)
from .grid import TickGrid

_WIRE = "kalshi_wire"  # validation context key: the data came off the wire, so numbers must be strings


def _strict(info: ValidationInfo) -> bool:
    return bool(info.context and info.context.get(_WIRE))


def _fixed(parse, what: str):
    def validate(value: Any, info: ValidationInfo) -> int:
        if isinstance(value, str):
            return parse(value)
        if isinstance(value, int) and not isinstance(value, bool) and not _strict(info):
            return value
        raise UnitError(f"{what} must be a decimal string, got {type(value).__name__}: {value!r}")
    return validate


def _parse_price(text: str) -> Price:
    # Responses may carry up to 6 decimals ("0.560000"); a price must still be whole pips.
    pips, rest = divmod(parse_money(text), 100)
    if rest:
        raise UnitError(f"price {text!r} is finer than 1/10,000 dollar")
    return pips


WirePrice = Annotated[
    int, BeforeValidator(_fixed(_parse_price, "a dollar price")),
    PlainSerializer(format_price, return_type=str, when_used="json"),
]
"""A dollar price as int pips; ``"0.5600"`` on the wire."""

WireCount = Annotated[
    int, BeforeValidator(_fixed(parse_count, "a fixed-point count")),
    PlainSerializer(format_count, return_type=str, when_used="json"),
]
"""A contract count as int hundredths; ``"10.00"`` on the wire."""

WireMoney = Annotated[
    int, BeforeValidator(_fixed(parse_money, "a dollar amount")),
    PlainSerializer(lambda m: format_money(m, 6), return_type=str, when_used="json"),
]
"""A money amount as int micros; six decimals on the wire (``"4.950000"``), so it is never rounded."""

BookSideName = Literal["bid", "ask"]
TimeInForceName = Literal["good_till_canceled", "immediate_or_cancel", "fill_or_kill"]
SelfTradePreventionName = Literal["taker_at_cross", "maker"]


def datetime_from_ms(ms: int) -> datetime:
    """Unix milliseconds -> an aware UTC datetime (exact; no float division)."""
    seconds, millis = divmod(ms, 1000)
    return datetime.fromtimestamp(seconds, UTC).replace(microsecond=millis * 1000)


def ms_from_datetime(moment: datetime) -> int:
    """An aware datetime -> Unix milliseconds."""
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


class WireModel(BaseModel):
    """Base of every payload: unknown fields ignored, wire strings in, wire strings out."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    @classmethod
    def from_wire(cls, data: Any) -> Self:
        """Parse a decoded JSON payload; numbers where Kalshi sends strings are rejected."""
        return cls.model_validate(data, context={_WIRE: True})

    @classmethod
    def from_wire_json(cls, raw: bytes | str) -> Self:
        return cls.model_validate_json(raw, context={_WIRE: True})

    def to_wire(self) -> dict[str, Any]:
        """The JSON-ready dict Kalshi would send (absent optional fields left out)."""
        return self.model_dump(mode="json", exclude_none=True)


class ErrorResponse(WireModel):
    code: str = ""
    message: str = ""
    details: str | None = None


# --- markets ---


class PriceRange(WireModel):
    start: WirePrice
    end: WirePrice
    step: WirePrice


class Market(WireModel):
    """One market (``GET /markets/{ticker}``). Prices in pips, sizes in hundredths."""

    ticker: str
    event_ticker: str = ""
    market_type: str = "binary"
    title: str | None = None
    subtitle: str | None = None
    yes_sub_title: str = ""
    no_sub_title: str = ""
    created_time: datetime | None = None
    updated_time: datetime | None = None
    open_time: datetime | None = None
    close_time: datetime | None = None
    expected_expiration_time: datetime | None = None
    expiration_time: datetime | None = None
    latest_expiration_time: datetime | None = None
    settlement_timer_seconds: int = 0
    status: str = ""  # initialized | inactive | active | closed | determined | disputed | amended | finalized
    yes_bid_dollars: WirePrice = 0
    yes_bid_size_fp: WireCount = 0
    yes_ask_dollars: WirePrice = 0
    yes_ask_size_fp: WireCount = 0
    no_bid_dollars: WirePrice = 0
    no_ask_dollars: WirePrice = 0
    last_price_dollars: WirePrice = 0
    previous_yes_bid_dollars: WirePrice = 0
    previous_yes_ask_dollars: WirePrice = 0
    previous_price_dollars: WirePrice = 0
    volume_fp: WireCount = 0
    volume_24h_fp: WireCount = 0
    open_interest_fp: WireCount = 0
    notional_value_dollars: WirePrice = ONE_DOLLAR
    result: str = ""
    can_close_early: bool = False
    expiration_value: str = ""
    rules_primary: str = ""
    rules_secondary: str = ""
    settlement_bounds_type: str = "default"
    settlement_value_dollars: WirePrice | None = None
    settlement_ts: datetime | None = None
    strike_type: str | None = None
    price_level_structure: str = ""
    price_ranges: list[PriceRange] = []
    exchange_index: int | None = None

    @property
    def tick_grid(self) -> TickGrid:
        """The valid order prices, from ``price_ranges`` (or the named structure when ranges are absent)."""
        if self.price_ranges:
            return TickGrid.from_ranges(self.price_ranges)
        return TickGrid.from_structure(self.price_level_structure)


class MarketsPage(WireModel):
    markets: list[Market] = []
    cursor: str = ""


class MarketResponse(WireModel):
    market: Market


def series_ticker_of(event_ticker: str) -> str:
    """The series of an event: Kalshi's markets do not name their series, but an event ticker is the series
    ticker, a dash and the event's code (``KXBTCD-26NOV2417`` -> ``KXBTCD``)."""
    return event_ticker.partition("-")[0]


class SettlementSource(WireModel):
    name: str = ""
    url: str = ""


class Series(WireModel):
    """A series (``GET /series/{series_ticker}``): the template of its events, and the fee schedule of its markets.

    ``fee_type``: ``quadratic`` | ``quadratic_with_maker_fees`` | ``quadratic_with_combo_maker_fees`` | ``flat``;
    ``fee_multiplier`` scales the fee formula (a JSON number on the wire, kept as sent;
    :class:`~kalshi_actor.trading.fees.FeeSchedule` reads it as the decimal it was written as).
    """

    ticker: str
    frequency: str = ""
    title: str = ""
    category: str = ""
    categories: list[str] = []
    tags: list[str] | None = None
    settlement_sources: list[SettlementSource] | None = None
    contract_url: str = ""
    contract_terms_url: str = ""
    product_metadata: dict[str, Any] | None = None
    fee_type: str = "quadratic"
    fee_multiplier: float = 1.0
    additional_prohibitions: list[str] | None = None
    volume_fp: WireCount | None = None  # only with include_volume
    last_updated_ts: datetime | None = None
    exchange_index: int | None = None


class SeriesResponse(WireModel):
    series: Series


class SeriesList(WireModel):
    """``GET /series``: every matching series in one answer (Kalshi pages it not; ``cursor`` in case it starts)."""

    series: list[Series] = []
    cursor: str | None = None


Level = tuple[WirePrice, WireCount]
"""One book level: (price in pips, size in hundredths); ``["0.4200", "13.00"]`` on the wire."""


class Orderbook(WireModel):
    """Bids only, each side ascending by price: the best bid is the LAST level."""

    yes_dollars: list[Level] = []
    no_dollars: list[Level] = []

    @property
    def best_yes_bid(self) -> Price | None:
        return self.yes_dollars[-1][0] if self.yes_dollars else None

    @property
    def best_no_bid(self) -> Price | None:
        return self.no_dollars[-1][0] if self.no_dollars else None

    @property
    def best_yes_ask(self) -> Price | None:
        """A NO bid at q is a YES ask at $1 - q."""
        return ONE_DOLLAR - self.no_dollars[-1][0] if self.no_dollars else None


class OrderbookResponse(WireModel):
    orderbook_fp: Orderbook


class MarketOrderbook(WireModel):
    ticker: str
    orderbook_fp: Orderbook


class OrderbooksResponse(WireModel):
    orderbooks: list[MarketOrderbook] = []


# --- portfolio ---


class Balance(WireModel):
    balance: int  # available balance, whole cents
    balance_dollars: WireMoney | None = None  # the same in micros
    portfolio_value: int = 0  # cents
    updated_ts: int = 0  # Unix seconds

    @property
    def available(self) -> Money:
        """The available balance in micros (``balance_dollars`` when sent, else the cents)."""
        return self.balance_dollars if self.balance_dollars is not None else self.balance * 10_000


class MarketPosition(WireModel):
    ticker: str
    exchange_index: int | None = None
    total_traded_dollars: WireMoney = 0
    position_fp: WireCount = 0  # signed: + YES contracts, - NO contracts
    market_exposure_dollars: WireMoney = 0
    realized_pnl_dollars: WireMoney = 0
    fees_paid_dollars: WireMoney = 0
    last_updated_ts: datetime | None = None
    resting_orders_count: int | None = None


class EventPosition(WireModel):
    event_ticker: str
    total_cost_dollars: WireMoney = 0
    total_cost_shares_fp: WireCount = 0
    event_exposure_dollars: WireMoney = 0
    realized_pnl_dollars: WireMoney = 0
    fees_paid_dollars: WireMoney = 0


class PositionsPage(WireModel):
    market_positions: list[MarketPosition] = []
    event_positions: list[EventPosition] = []
    cursor: str = ""


class Order(WireModel):
    """An order as ``GET /portfolio/orders`` reports it.

    ``book_side`` ``bid`` = buy YES at ``yes_price_dollars``; ``ask`` = sell YES at
    ``yes_price_dollars`` (= buy NO at ``no_price_dollars``). ``outcome_side`` says the same
    as ``yes``/``no``.
    """

    order_id: str
    user_id: str = ""
    client_order_id: str = ""
    ticker: str = ""
    side: str | None = None  # deprecated: yes | no
    action: str | None = None  # deprecated: buy | sell
    outcome_side: str = ""
    book_side: str = ""
    type: str = "limit"
    status: str = ""  # resting | canceled | executed
    yes_price_dollars: WirePrice = 0
    no_price_dollars: WirePrice = 0
    fill_count_fp: WireCount = 0
    remaining_count_fp: WireCount = 0
    initial_count_fp: WireCount = 0
    taker_fees_dollars: WireMoney = 0
    maker_fees_dollars: WireMoney = 0
    taker_fill_cost_dollars: WireMoney = 0
    maker_fill_cost_dollars: WireMoney = 0
    expiration_time: datetime | None = None
    created_time: datetime | None = None
    last_update_time: datetime | None = None
    self_trade_prevention_type: str | None = None
    order_group_id: str | None = None
    cancel_order_on_pause: bool | None = None
    subaccount_number: int | None = None
    exchange_index: int | None = None

    @property
    def is_bid(self) -> bool:
        """True for a YES bid (buy YES), False for a YES ask (sell YES = buy NO)."""
        if self.book_side:
            return self.book_side == "bid"
        return (self.outcome_side or self.side) == "yes"


class OrdersPage(WireModel):
    orders: list[Order] = []
    cursor: str = ""


class OrderResponse(WireModel):
    order: Order


class Fill(WireModel):
    fill_id: str = ""
    trade_id: str = ""
    order_id: str = ""
    client_order_id: str | None = None
    ticker: str = ""
    market_ticker: str = ""
    side: str | None = None  # deprecated
    action: str | None = None  # deprecated
    outcome_side: str = ""  # the contract this fill bought: yes | no
    book_side: str = ""  # bid (= outcome yes) | ask (= outcome no)
    count_fp: WireCount = 0
    yes_price_dollars: WirePrice = 0
    no_price_dollars: WirePrice = 0
    is_taker: bool = False
    fee_cost: WireMoney = 0
    created_time: datetime | None = None
    ts: int | None = None  # Unix seconds (legacy)
    subaccount_number: int | None = None
    exchange_index: int | None = None


class FillsPage(WireModel):
    fills: list[Fill] = []
    cursor: str = ""


class Settlement(WireModel):
    ticker: str
    event_ticker: str = ""
    market_result: str = ""  # yes | no | scalar
    yes_count_fp: WireCount = 0
    yes_total_cost_dollars: WireMoney = 0
    no_count_fp: WireCount = 0
    no_total_cost_dollars: WireMoney = 0
    revenue: int = 0  # cents
    settled_time: datetime | None = None
    fee_cost: WireMoney = 0
    value: int | None = None  # payout of one YES contract, cents
    exchange_index: int | None = None


class SettlementsPage(WireModel):
    settlements: list[Settlement] = []
    cursor: str = ""


# --- orders (the current /portfolio/events/orders endpoints) ---


class CreateOrderRequest(WireModel):
    """``POST /portfolio/events/orders``. ``side`` is on the YES leg: ``ask`` at p = buy NO at $1 - p."""

    ticker: str
    side: BookSideName
    count: WireCount
    price: WirePrice
    time_in_force: TimeInForceName = "good_till_canceled"
    self_trade_prevention_type: SelfTradePreventionName = "taker_at_cross"
    client_order_id: str | None = None
    post_only: bool | None = None
    reduce_only: bool | None = None
    cancel_order_on_pause: bool | None = None
    expiration_time: int | None = None  # Unix seconds
    subaccount: int | None = None
    order_group_id: str | None = None
    exchange_index: int | None = None


class CreateOrderResponse(WireModel):
    order_id: str
    client_order_id: str | None = None
    fill_count: WireCount = 0
    remaining_count: WireCount = 0
    average_fill_price: WireMoney | None = None  # YES-leg average, micros per contract; only after fills
    average_fee_paid: WireMoney | None = None  # micros per contract; only after fills
    ts_ms: int = 0

    @classmethod
    def from_order(cls, order: Order) -> CreateOrderResponse:
        """What the create call would have answered, rebuilt from the order as later read back."""
        filled = order.fill_count_fp
        average_price = average_fee = None
        if filled:
            # Fill costs are what the order paid (NO prices for an ask); the create answer quotes the YES leg.
            average_price = per_contract(order.taker_fill_cost_dollars + order.maker_fill_cost_dollars, filled)
            if not order.is_bid:
                average_price = ONE_DOLLAR * 100 - average_price
            average_fee = per_contract(order.taker_fees_dollars + order.maker_fees_dollars, filled)
        when = order.last_update_time or order.created_time
        return cls(order_id=order.order_id, client_order_id=order.client_order_id or None, fill_count=filled,
                   remaining_count=order.remaining_count_fp, average_fill_price=average_price,
                   average_fee_paid=average_fee, ts_ms=ms_from_datetime(when) if when else 0)


def per_contract(money: Money, count: Count) -> Money:
    """Micros over ``count`` hundredths of a contract -> micros per contract, rounded half up."""
    return (2 * money * 100 + count) // (2 * count)


class CancelOrderResponse(WireModel):
    order_id: str
    client_order_id: str | None = None
    reduced_by: WireCount = 0
    ts_ms: int = 0


class BatchCreateOrdersRequest(WireModel):
    orders: list[CreateOrderRequest]


class BatchCreateResult(WireModel):
    """One item of a batch create: the created order's numbers, or ``error``."""

    order_id: str | None = None
    client_order_id: str | None = None
    fill_count: WireCount | None = None
    remaining_count: WireCount | None = None
    average_fill_price: WireMoney | None = None
    average_fee_paid: WireMoney | None = None
    ts_ms: int | None = None
    error: ErrorResponse | None = None


class BatchCreateOrdersResponse(WireModel):
    orders: list[BatchCreateResult] = []


class BatchCancelItem(WireModel):
    order_id: str
    market_ticker: str | None = None
    subaccount: int | None = None
    exchange_index: int | None = None


class BatchCancelOrdersRequest(WireModel):
    orders: list[BatchCancelItem]


class BatchCancelResult(WireModel):
    order_id: str
    client_order_id: str | None = None
    reduced_by: WireCount = 0
    ts_ms: int | None = None
    error: ErrorResponse | None = None


class BatchCancelOrdersResponse(WireModel):
    orders: list[BatchCancelResult] = []


class AmendOrderRequest(WireModel):
    """``count`` is the new TOTAL (already filled + desired resting), not the remainder."""

    ticker: str
    side: BookSideName
    price: WirePrice
    count: WireCount
    client_order_id: str | None = None
    updated_client_order_id: str | None = None
    expiration_time: int | None = None
    exchange_index: int | None = None


class AmendOrderResponse(WireModel):
    order_id: str
    client_order_id: str | None = None
    remaining_count: WireCount | None = None
    fill_count: WireCount | None = None
    average_fill_price: WireMoney | None = None
    average_fee_paid: WireMoney | None = None
    ts_ms: int = 0


class DecreaseOrderRequest(WireModel):
    """Exactly one of ``reduce_by`` and ``reduce_to``."""

    reduce_by: WireCount | None = None
    reduce_to: WireCount | None = None
    market_ticker: str | None = None
    exchange_index: int | None = None


class DecreaseOrderResponse(WireModel):
    order_id: str
    client_order_id: str | None = None
    remaining_count: WireCount = 0
    ts_ms: int = 0
