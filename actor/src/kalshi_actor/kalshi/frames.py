"""Kalshi WebSocket frames: fast decoding into typed structs, exact units.

:func:`decode` turns one text frame (``bytes`` or ``str``) into one of the
``*Frame`` structs below, mirroring the wire exactly (field names as Kalshi
sends them, see ``asyncapi.yaml``). Numbers stay as the wire's strings inside
the structs and are converted on access to exact integers:

- prices (``*_dollars``) -> int pips, 1/10,000 dollar (``"0.5600"`` -> ``5600``)
- counts (``*_fp``) -> int hundredths of a contract (``"-3.00"`` -> ``-300``)
- money (``fee_cost``, ``*_dollars`` amounts) -> int micros

Conversions go through small caches (a price string maps to the same int every
time), so the hot path never touches Decimal or float.

Unknown frame types decode to :class:`UnknownFrame` (their ``sid``/``seq`` are
kept, so sequence tracking still counts them); anything that is not a JSON
object with a string ``type``, or a known type with wrong fields, raises
:class:`FrameError`.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, Literal, Union

import msgspec

from ..units import UnitError, parse_count, parse_money, parse_price

__all__ = [
    "FrameError",
    "decode",
    "price_pips",
    "rfc3339_ms",
    "count_hundredths",
    "money_micros",
    "Frame",
    "SubscribedFrame",
    "OkFrame",
    "UnsubscribedFrame",
    "ErrorFrame",
    "OrderbookSnapshotFrame",
    "OrderbookDeltaFrame",
    "TradeFrame",
    "TickerFrame",
    "FillFrame",
    "UserOrderFrame",
    "MarketPositionFrame",
    "MarketLifecycleFrame",
    "EventLifecycleFrame",
    "EventFeeUpdateFrame",
    "UnknownFrame",
    "SubscriptionInfo",
    "TERMINAL_ERROR_CODES",
]

TERMINAL_ERROR_CODES = frozenset({10, 25})  # channel error, subscription buffer overflow: resubscribe

Side = Literal["yes", "no"]


class FrameError(ValueError):
    """A frame is not valid Kalshi WebSocket JSON (bad JSON, missing/ill-typed fields, bad numbers)."""


# --- exact number conversion with caches (the hot path) ---

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_CACHE_LIMIT = 1 << 16
_PRICES: dict[str, int] = {}
_COUNTS: dict[str, int] = {}


def price_pips(text: str) -> int:
    """A dollar price string -> int pips (``"0.5600"`` -> ``5600``); cached."""
    value = _PRICES.get(text)
    if value is None:
        try:
            value = parse_price(text)
        except UnitError as exc:
            raise FrameError(str(exc)) from None
        if len(_PRICES) < _CACHE_LIMIT:  # the price grid is small; garbage must not grow the cache
            _PRICES[text] = value
    return value


def rfc3339_ms(text: str) -> int:
    """An RFC 3339 UTC time (``"2026-04-18T05:34:49.816683Z"``) -> int ms since the epoch (truncated)."""
    try:
        moment = datetime.fromisoformat(text)
    except (TypeError, ValueError):
        raise FrameError(f"not an RFC 3339 time: {text!r:.60}") from None
    if moment.tzinfo is None:
        raise FrameError(f"an RFC 3339 time without an offset: {text!r:.60}")
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def count_hundredths(text: str) -> int:
    """A fixed-point count string -> int hundredths (``"-3.00"`` -> ``-300``); cached."""
    value = _COUNTS.get(text)
    if value is None:
        # Kalshi's canonical form ("-12.34": sign, digits, exactly two decimals) without the general parser
        digits = None
        if text[-3:-2] == ".":
            negative = text[:1] == "-"
            digits = (text[1:] if negative else text).replace(".", "", 1)
        if digits is not None and len(digits) > 2 and digits.isascii() and digits.isdigit():
            value = -int(digits) if negative else int(digits)
        else:
            try:
                value = parse_count(text)
            except (UnitError, TypeError) as exc:
                raise FrameError(str(exc)) from None
        if len(_COUNTS) >= _CACHE_LIMIT:  # sizes are open-ended: start over rather than grow
            _COUNTS.clear()
        _COUNTS[text] = value
    return value


def money_micros(text: str) -> int:
    """A dollar amount string (up to 6 decimals) -> int micros (``"0.054600"`` -> ``54600``)."""
    try:
        return parse_money(text)
    except UnitError as exc:
        raise FrameError(str(exc)) from None


def _levels(pairs: list[tuple[str, str]]) -> list[tuple[int, int]]:
    return [(price_pips(p), count_hundredths(c)) for p, c in pairs]


# --- message bodies ---


class _Msg(msgspec.Struct, kw_only=True, gc=False):
    pass


class SubscribedMsg(_Msg):
    channel: str
    sid: int


class SubscriptionInfo(_Msg):
    """One entry of a ``list_subscriptions`` reply."""

    channel: str
    sid: int


class OkMsg(_Msg):
    market_tickers: list[str] | None = None
    market_ids: list[str] | None = None


class ErrorMsg(_Msg):
    code: int
    msg: str = ""
    market_ticker: str | None = None
    market_tickers: list[str] | None = None


class SnapshotMsg(_Msg):
    market_ticker: str
    market_id: str = ""
    yes_dollars_fp: list[tuple[str, str]] = []  # absent on the wire when the side is empty
    no_dollars_fp: list[tuple[str, str]] = []

    def yes_levels(self) -> list[tuple[int, int]]:
        """YES bids as ``(price pips, size hundredths)``, in wire order (ascending price)."""
        return _levels(self.yes_dollars_fp)

    def no_levels(self) -> list[tuple[int, int]]:
        """NO bids as ``(price pips, size hundredths)``, in wire order (ascending price)."""
        return _levels(self.no_dollars_fp)


class DeltaMsg(_Msg):
    market_ticker: str
    price_dollars: str
    delta_fp: str
    side: Side
    ts_ms: int | None = None
    ts: str | None = None  # RFC 3339; the only clock of Kalshi's April 2026 production deltas (no ts_ms)
    client_order_id: str | None = None
    subaccount: int | None = None
    # market_id is skipped: not decoding it is measurably faster

    @property
    def time_ms(self) -> int | None:
        """The exchange time of the change, ms: ``ts_ms``, else ``ts`` (None when neither is sent)."""
        if self.ts_ms is not None:
            return self.ts_ms
        return rfc3339_ms(self.ts) if self.ts is not None else None

    @property
    def price(self) -> int:
        """Level price in pips (on the side's own scale unless the sid uses ``use_yes_price``)."""
        return price_pips(self.price_dollars)

    @property
    def delta(self) -> int:
        """Signed size change in hundredths."""
        return count_hundredths(self.delta_fp)


class TradeMsg(_Msg):
    trade_id: str
    market_ticker: str
    yes_price_dollars: str | None = None
    no_price_dollars: str | None = None
    count_fp: str | None = None
    taker_side: Side | None = None
    taker_outcome_side: Side | None = None
    taker_book_side: Literal["bid", "ask"] | None = None
    is_block_trade: bool = False
    ts: int | None = None
    ts_ms: int | None = None
    # legacy integer fields of the cent-era protocol (still seen during the transition)
    yes_price_cents: int | None = msgspec.field(default=None, name="yes_price")
    no_price_cents: int | None = msgspec.field(default=None, name="no_price")
    count_whole: int | None = msgspec.field(default=None, name="count")

    @property
    def yes_price(self) -> int:
        """YES price in pips (from ``yes_price_dollars``; the legacy cents field only if that is absent)."""
        if self.yes_price_dollars is not None:
            return price_pips(self.yes_price_dollars)
        if self.yes_price_cents is None:
            raise FrameError("trade without a price")
        return self.yes_price_cents * 100

    @property
    def count(self) -> int:
        """Contracts traded, in hundredths."""
        if self.count_fp is not None:
            return count_hundredths(self.count_fp)
        if self.count_whole is None:
            raise FrameError("trade without a count")
        return self.count_whole * 100

    @property
    def taker_outcome(self) -> Side | None:
        """The outcome the taker bought (``taker_outcome_side``, else the deprecated ``taker_side``)."""
        return self.taker_outcome_side or self.taker_side


class TickerMsg(_Msg):
    market_ticker: str
    market_id: str = ""
    price_dollars: str | None = None
    yes_bid_dollars: str | None = None
    yes_ask_dollars: str | None = None
    volume_fp: str | None = None
    open_interest_fp: str | None = None
    dollar_volume: int | None = None
    dollar_open_interest: int | None = None
    yes_bid_size_fp: str | None = None
    yes_ask_size_fp: str | None = None
    last_trade_size_fp: str | None = None
    ts: int | None = None
    ts_ms: int | None = None
    time: str | None = None
    price_cents: int | None = msgspec.field(default=None, name="price")
    yes_bid_cents: int | None = msgspec.field(default=None, name="yes_bid")
    yes_ask_cents: int | None = msgspec.field(default=None, name="yes_ask")
    volume_whole: int | None = msgspec.field(default=None, name="volume")
    open_interest_whole: int | None = msgspec.field(default=None, name="open_interest")

    @property
    def price(self) -> int | None:
        """Last trade price in pips."""
        return _pips_or_cents(self.price_dollars, self.price_cents)

    @property
    def yes_bid(self) -> int | None:
        return _pips_or_cents(self.yes_bid_dollars, self.yes_bid_cents)

    @property
    def yes_ask(self) -> int | None:
        return _pips_or_cents(self.yes_ask_dollars, self.yes_ask_cents)

    @property
    def yes_bid_size(self) -> int | None:
        return None if self.yes_bid_size_fp is None else count_hundredths(self.yes_bid_size_fp)

    @property
    def yes_ask_size(self) -> int | None:
        return None if self.yes_ask_size_fp is None else count_hundredths(self.yes_ask_size_fp)

    @property
    def volume(self) -> int | None:
        if self.volume_fp is not None:
            return count_hundredths(self.volume_fp)
        return None if self.volume_whole is None else self.volume_whole * 100

    @property
    def open_interest(self) -> int | None:
        if self.open_interest_fp is not None:
            return count_hundredths(self.open_interest_fp)
        return None if self.open_interest_whole is None else self.open_interest_whole * 100


def _pips_or_cents(dollars: str | None, cents: int | None) -> int | None:
    if dollars is not None:
        return price_pips(dollars)
    return None if cents is None else cents * 100


class FillMsg(_Msg):
    trade_id: str
    order_id: str
    market_ticker: str
    yes_price_dollars: str
    count_fp: str
    is_taker: bool = False
    client_order_id: str | None = None
    side: Side | None = None
    outcome_side: Side | None = None
    book_side: Literal["bid", "ask"] | None = None
    purchased_side: Side | None = None
    action: str | None = None
    fee_cost: str = "0"
    post_position_fp: str | None = None
    exchange_index: int | None = None
    subaccount: int | None = None
    ts: int | None = None
    ts_ms: int | None = None

    @property
    def yes_price(self) -> int:
        return price_pips(self.yes_price_dollars)

    @property
    def count(self) -> int:
        return count_hundredths(self.count_fp)

    @property
    def fee(self) -> int:
        """Fee paid, in micros."""
        return money_micros(self.fee_cost)

    @property
    def post_position(self) -> int | None:
        """Signed position after the fill (+YES / -NO), in hundredths."""
        return None if self.post_position_fp is None else count_hundredths(self.post_position_fp)

    @property
    def outcome(self) -> Side | None:
        """The outcome this fill positioned the account for (``outcome_side``, else ``purchased_side``/``side``)."""
        return self.outcome_side or self.purchased_side or self.side


class UserOrderMsg(_Msg):
    order_id: str
    ticker: str
    status: str
    yes_price_dollars: str
    user_id: str = ""
    client_order_id: str = ""
    side: Side | None = None
    is_yes: bool | None = None
    outcome_side: Side | None = None
    book_side: Literal["bid", "ask"] | None = None
    fill_count_fp: str = "0.00"
    remaining_count_fp: str = "0.00"
    initial_count_fp: str = "0.00"
    taker_fill_cost_dollars: str = "0"
    maker_fill_cost_dollars: str = "0"
    taker_fees_dollars: str = "0"
    maker_fees_dollars: str = "0"
    order_group_id: str | None = None
    self_trade_prevention_type: str | None = None
    exchange_index: int | None = None
    created_time: str | None = None
    created_ts_ms: int | None = None
    last_update_time: str | None = None
    last_updated_ts_ms: int | None = None
    last_update_reason: str | None = None
    expiration_time: str | None = None
    expiration_ts_ms: int | None = None
    subaccount_number: int | None = None

    @property
    def yes_price(self) -> int:
        return price_pips(self.yes_price_dollars)

    @property
    def fill_count(self) -> int:
        return count_hundredths(self.fill_count_fp)

    @property
    def remaining_count(self) -> int:
        return count_hundredths(self.remaining_count_fp)

    @property
    def initial_count(self) -> int:
        return count_hundredths(self.initial_count_fp)


class MarketPositionMsg(_Msg):
    market_ticker: str
    position_fp: str
    user_id: str = ""
    position_cost_dollars: str = "0"
    realized_pnl_dollars: str = "0"
    fees_paid_dollars: str = "0"
    position_fee_cost_dollars: str = "0"
    volume_fp: str = "0.00"
    subaccount: int | None = None

    @property
    def position(self) -> int:
        """Signed position (+YES / -NO), in hundredths."""
        return count_hundredths(self.position_fp)

    @property
    def position_cost(self) -> int:
        return money_micros(self.position_cost_dollars)

    @property
    def realized_pnl(self) -> int:
        return money_micros(self.realized_pnl_dollars)

    @property
    def fees_paid(self) -> int:
        return money_micros(self.fees_paid_dollars)


class PriceRangeMsg(_Msg):
    start: str
    end: str
    step: str


class LifecycleMsg(_Msg):
    market_ticker: str
    event_type: str
    exchange_index: int | None = None
    open_ts: int | None = None
    close_ts: int | None = None
    determination_ts: int | None = None
    settled_ts: int | None = None
    result: str | None = None
    settlement_value: str | None = None
    is_deactivated: bool | None = None
    additional_metadata: dict[str, Any] | None = None
    price_level_structure: str | None = None
    price_ranges: list[PriceRangeMsg] | None = None
    # metadata_updated events
    strike_type: str | None = None
    floor_strike: float | None = None
    cap_strike: float | None = None
    yes_sub_title: str | None = None


# --- frames ---


class Frame(msgspec.Struct, tag_field="type", kw_only=True, gc=False):
    """A Kalshi WebSocket frame. ``sid``/``seq`` are top-level wire fields (None when absent)."""

    sid: int | None = None
    seq: int | None = None


class SubscribedFrame(Frame, tag="subscribed"):
    msg: SubscribedMsg
    id: int = 0


class OkFrame(Frame, tag="ok"):
    """Reply to ``update_subscription`` (``msg`` an :class:`OkMsg`) or ``list_subscriptions`` (a list)."""

    msg: OkMsg | list[SubscriptionInfo] | None = None
    id: int = 0

    @property
    def subscriptions(self) -> list[SubscriptionInfo] | None:
        return self.msg if isinstance(self.msg, list) else None


class UnsubscribedFrame(Frame, tag="unsubscribed"):
    id: int = 0


class ErrorFrame(Frame, tag="error"):
    msg: ErrorMsg
    id: int = 0

    @property
    def terminal(self) -> bool:
        """Codes 10 and 25 end the subscription: the client must resubscribe."""
        return self.msg.code in TERMINAL_ERROR_CODES


class OrderbookSnapshotFrame(Frame, tag="orderbook_snapshot"):
    msg: SnapshotMsg
    id: int = 0


class OrderbookDeltaFrame(Frame, tag="orderbook_delta"):
    msg: DeltaMsg


class TradeFrame(Frame, tag="trade"):
    msg: TradeMsg


class TickerFrame(Frame, tag="ticker"):
    msg: TickerMsg


class FillFrame(Frame, tag="fill"):
    msg: FillMsg


class UserOrderFrame(Frame, tag="user_order"):
    msg: UserOrderMsg


class _UserOrdersFrame(UserOrderFrame, tag="user_orders"):  # tolerate the channel name as type
    pass


class MarketPositionFrame(Frame, tag="market_position"):
    msg: MarketPositionMsg


class _MarketPositionsFrame(MarketPositionFrame, tag="market_positions"):
    pass


class MarketLifecycleFrame(Frame, tag="market_lifecycle_v2"):
    msg: LifecycleMsg


class EventLifecycleMsg(_Msg):
    event_ticker: str
    series_ticker: str = ""
    exchange_index: int | None = None
    title: str = ""
    subtitle: str = ""
    collateral_return_type: str = ""
    strike_date: int | None = None
    strike_period: str | None = None


class EventLifecycleFrame(Frame, tag="event_lifecycle"):
    """An event was created (``market_lifecycle_v2`` channel)."""

    msg: EventLifecycleMsg


class EventFeeUpdateMsg(_Msg):
    event_ticker: str
    fee_type_override: str | None = None
    fee_multiplier_override: float | None = None

    @property
    def cleared(self) -> bool:
        """The override was removed: the markets' series schedule applies again."""
        return self.fee_type_override is None


class EventFeeUpdateFrame(Frame, tag="event_fee_update"):
    """An event-level fee override set or cleared (``market_lifecycle_v2`` channel): its markets' fees change now."""

    msg: EventFeeUpdateMsg


class UnknownFrame(msgspec.Struct, kw_only=True, gc=False):
    """A frame of a type this client does not model (passed through untouched)."""

    type: str
    sid: int | None = None
    seq: int | None = None
    id: int | None = None
    msg: Any = None


_KNOWN = (
    SubscribedFrame,
    OkFrame,
    UnsubscribedFrame,
    ErrorFrame,
    OrderbookSnapshotFrame,
    OrderbookDeltaFrame,
    TradeFrame,
    TickerFrame,
    FillFrame,
    UserOrderFrame,
    _UserOrdersFrame,
    MarketPositionFrame,
    _MarketPositionsFrame,
    MarketLifecycleFrame,
    EventLifecycleFrame,
    EventFeeUpdateFrame,
)
_KNOWN_TAGS = frozenset(cls.__struct_config__.tag for cls in _KNOWN)
_decoder = msgspec.json.Decoder(Union[_KNOWN])  # type: ignore[valid-type]
_unknown_decoder = msgspec.json.Decoder(UnknownFrame)

AnyFrame = Union[_KNOWN + (UnknownFrame,)]  # type: ignore[valid-type]


def decode(data: bytes | str) -> Frame | UnknownFrame:
    """Decode one WebSocket text frame. Raises :class:`FrameError` if it is malformed."""
    try:
        return _decoder.decode(data)
    except msgspec.ValidationError as exc:
        error = exc
    except msgspec.DecodeError as exc:
        raise FrameError(f"not JSON: {exc}") from None
    try:
        frame = _unknown_decoder.decode(data)
    except msgspec.MsgspecError:
        raise FrameError(str(error)) from None
    if frame.type in _KNOWN_TAGS:  # a known type with bad fields
        raise FrameError(f"{frame.type}: {error}") from None
    return frame
