"""THE observation builder: book + history + portfolio + own orders + market context -> float32[n, OBS_SIZE].

Training and the live actor both call :meth:`ObservationBuilder.build`; there is no
other implementation. Every feature is described in :mod:`.schema` (formula, unit,
normalisation, range, fill); this module computes the raw values in those units and
applies the schema's normalisations, read from the schema itself.

Speed: the env needs well over 20,000 steps/s per core, so one market costs a few
microseconds. Features are computed with plain Python floats (numpy's per-scalar
overhead would dominate), written row by row into a preallocated float32 buffer with
one ``struct.pack_into`` per market; the returned array views that buffer.
"""

from __future__ import annotations

import struct
from array import array
from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from math import log1p, sqrt

import numpy as np

from ..books import Book
from ..marketdata import MarketHistory, MarketInfo
from ..trading.types import Position, WorkingOrder
from ..units import ONE_DOLLAR, Money
from .schema import FEATURE_NAMES, FEATURES, OBS_SIZE, Feature

__all__ = ["MarketInput", "ObservationBuilder"]


@dataclass(slots=True)
class MarketInput:
    """What the builder needs about one market. Units as in :mod:`kalshi_actor.units`.

    ``now_ms``: exchange time of the observation (:attr:`MarketData.now_ms`), never wall time.
    ``orders``: our resting orders in this market, at most one per side (the first of a side counts).
    ``cash`` / ``equity``: the account's, in micros (equity = cash + marked value of all positions).
    A stale book (``book.stale``) still gets an observation, so batches keep their shape,
    but must not be traded on.
    """

    book: Book
    history: MarketHistory
    info: MarketInfo
    now_ms: int
    position: Position | None = None
    orders: Sequence[WorkingOrder] = ()
    cash: Money = 0
    equity: Money = 0


_SCALE = {f.name: f.scale for f in FEATURES}
# fills that mean "the far end": a raw value equal to the log1p scale normalises to exactly 1
_SPREAD_FILL = _SCALE["spread_ticks"]
_SINCE_UPDATE_FILL = _SCALE["since_update"]
_SINCE_TRADE_FILL = _SCALE["since_trade"]
_CLOSE_FILL = _SCALE["time_to_close"]
_DISTANCE_FILL = -_SCALE["yes_order_distance"]  # no one else bids: "improving", the range's end
assert _SCALE["no_order_distance"] == _SCALE["yes_order_distance"]

_PIPS = 1.0 / ONE_DOLLAR  # pips -> dollars
_CENTS = 0.01  # pips -> cents
_MID2_CENTS = 0.005  # doubled pips -> cents
_CONTRACTS = 0.01  # hundredths -> contracts
_DOLLARS = 1e-6  # micros -> dollars
_SECONDS = 1e-3  # ms -> s
_HALF = ONE_DOLLAR // 2


def _without_own(levels: dict[int, int], best: int | None, price: int, size: int) -> tuple[dict[int, int], int | None]:
    """One side's levels and best price with ``size`` of our own order taken out at ``price``."""
    have = levels.get(price)
    if have is None:
        return levels, best
    levels = dict(levels)
    if have > size:
        levels[price] = have - size
        return levels, best
    del levels[price]
    if price == best:
        best = max(levels) if levels else None
    return levels, best


# The row, in schema order (checked against the schema at import).
_ROW = (
    "yes_bid", "yes_ask", "two_sided", "microprice", "spread_ticks", "tick_size", "bid_size_l1", "ask_size_l1",
    "imbalance_1", "imbalance_3", "imbalance_10", "bid_depth_10", "ask_depth_10",
    "ret_ev5", "ret_ev20", "ret_ev100", "ret_1s", "ret_10s", "ret_60s", "rv_ev20", "rv_10s", "rv_60s",
    "updates_1s", "updates_10s", "updates_60s", "since_update", "history_span",
    "flow_10s", "flow_60s", "volume_10s", "volume_60s", "trades_10s", "trades_60s", "since_trade",
    "last_trade_vs_mid", "time_to_close",
    "position", "entry_edge", "unrealized_pnl", "realized_pnl", "cash_ratio", "exposure_ratio",
    "yes_order_distance", "yes_order_size", "yes_order_age", "yes_order_queue", "yes_order_filled",
    "no_order_distance", "no_order_size", "no_order_age", "no_order_queue", "no_order_filled",
)
assert _ROW == FEATURE_NAMES, "the builder's row order must be the schema's"


def _order_features(order: WorkingOrder | None, best: int, grid: tuple[int, ...], now: int) -> tuple[float, ...]:
    """distance (ticks), size (contracts), age (s), queue ahead (contracts), filled fraction.

    ``best``: grid index of the others' best bid on the order's side, -1 when there is none.
    """
    if order is None:
        return 0.0, 0.0, 0.0, 0.0, 0.0
    remaining = order.remaining
    filled = order.filled
    if best < 0:
        distance = _DISTANCE_FILL
    else:
        distance = float(best - bisect_right(grid, order.price) + 1)
    total = filled + remaining
    age = now - order.placed_ts_ms
    return (distance, remaining * _CONTRACTS, (age if age > 0 else 0) * _SECONDS, order.queue_ahead * _CONTRACTS,
            filled / total if total > 0 else 0.0)


def _row(m: MarketInput, own_in_book: bool) -> list[float]:
    """The raw feature values of one market (units of the schema), in schema order."""
    book = m.book
    info = m.info
    now = m.now_ms
    yes_levels = book.yes
    no_levels = book.no
    bid = book.best_yes_bid_price
    no_bid = book.best_no_bid_price
    yes_order = no_order = None
    for order in m.orders:
        if order.side == "yes":
            if yes_order is None:
                yes_order = order
        elif no_order is None:
            no_order = order
    if own_in_book:  # see the market as the others quote it, as the session books do
        if yes_order is not None and yes_order.remaining > 0:
            yes_levels, bid = _without_own(yes_levels, bid, yes_order.price, yes_order.remaining)
        if no_order is not None and no_order.remaining > 0:
            no_levels, no_bid = _without_own(no_levels, no_bid, no_order.price, no_order.remaining)

    (n_changes, mid2, since_change, span,
     ret_ev5, _, ret_ev20, sq_ev20, ret_ev100, _,
     ret_1s, _, updates_1s, ret_10s, sq_10s, updates_10s, ret_60s, sq_60s, updates_60s,
     n_trades, since_trade, last_trade_price,
     flow_10s, volume_10s, trades_10s, flow_60s, volume_60s, trades_60s) = m.history.summary(now)

    # --- book (grid indices: of the price, or of the grid price below an off-grid one) ---
    yp = info.yes_prices
    np_ = info.no_prices
    if bid is not None:
        ib = bisect_right(yp, bid) - 1
        bids = [yes_levels.get(p, 0) for p in yp[ib - 9 if ib > 9 else 0:ib + 1]] or [0]
        bid_size = yes_levels[bid]
    else:
        ib = -1
        bids = [0]
        bid_size = 0
    if no_bid is not None:
        inb = bisect_right(np_, no_bid) - 1
        asks = [no_levels.get(p, 0) for p in np_[inb - 9 if inb > 9 else 0:inb + 1]] or [0]
        ask_size = no_levels[no_bid]
        ask = ONE_DOLLAR - no_bid
        ia = bisect_right(yp, ask) - 1
    else:
        inb = -1
        asks = [0]
        ask_size = 0
        ask = None
        ia = -1
    i = ib if bid is not None else ia if ask is not None else bisect_right(yp, _HALF) - 1
    tick = info.steps[i if i > 0 else 0] * _CENTS
    if bid is not None and ask is not None:
        mid = (bid + ask) * 0.5
        microprice = (bid * ask_size + ask * bid_size) / (bid_size + ask_size) * _PIPS
        spread = float(ia - ib) if ia > ib else 0.0
        two_sided = 1.0
    else:
        mid = mid2 * 0.5 if n_changes else None
        microprice = mid * _PIPS if mid is not None else 0.5
        spread = _SPREAD_FILL
        two_sided = 0.0
    b1 = bids[-1]
    a1 = asks[-1]
    b3 = sum(bids[-3:])
    a3 = sum(asks[-3:])
    b10 = sum(bids)
    a10 = sum(asks)

    # --- trades ---
    if n_trades and mid is not None:
        trade_vs_mid = (last_trade_price - mid) * _CENTS
    else:
        trade_vs_mid = 0.0

    # --- market, portfolio ---
    close = info.close_time_ms
    if close is None:
        to_close = _CLOSE_FILL
    else:
        to_close = (close - now) * _SECONDS if close > now else 0.0
    position = m.position
    equity = m.equity
    count = edge = upnl = exposure = realized = 0.0
    if position is not None:
        realized = (position.realized_pnl - position.fees_paid) * _DOLLARS
        held = position.count
        if held:
            count = held * _CONTRACTS
            if mid is not None:
                size = held if held > 0 else -held
                mark = mid if held > 0 else ONE_DOLLAR - mid
                gain = mark - position.cost_basis / size  # micros / hundredths = pips per contract
                edge = gain * _CENTS
                upnl = size * gain * _DOLLARS
                if equity > 0:
                    exposure = size * mark / equity
    cash_ratio = m.cash / equity if equity > 0 else 0.0

    return [
        bid * _PIPS if bid is not None else 0.0,
        ask * _PIPS if ask is not None else 1.0,
        two_sided,
        microprice,
        spread,
        tick,
        bid_size * _CONTRACTS,
        ask_size * _CONTRACTS,
        (b1 - a1) / (b1 + a1) if b1 + a1 else 0.0,
        (b3 - a3) / (b3 + a3) if b3 + a3 else 0.0,
        (b10 - a10) / (b10 + a10) if b10 + a10 else 0.0,
        b10 * _CONTRACTS,
        a10 * _CONTRACTS,
        ret_ev5 * _MID2_CENTS,
        ret_ev20 * _MID2_CENTS,
        ret_ev100 * _MID2_CENTS,
        ret_1s * _MID2_CENTS,
        ret_10s * _MID2_CENTS,
        ret_60s * _MID2_CENTS,
        sqrt(sq_ev20) * _MID2_CENTS,
        sqrt(sq_10s) * _MID2_CENTS,
        sqrt(sq_60s) * _MID2_CENTS,
        float(updates_1s),
        float(updates_10s),
        float(updates_60s),
        since_change * _SECONDS if since_change >= 0 else _SINCE_UPDATE_FILL,
        span * _SECONDS if span >= 0 else 0.0,
        flow_10s / volume_10s if volume_10s else 0.0,
        flow_60s / volume_60s if volume_60s else 0.0,
        volume_10s * _CONTRACTS,
        volume_60s * _CONTRACTS,
        float(trades_10s),
        float(trades_60s),
        since_trade * _SECONDS if since_trade >= 0 else _SINCE_TRADE_FILL,
        trade_vs_mid,
        to_close,
        count,
        edge,
        upnl,
        realized,
        cash_ratio,
        exposure,
        *_order_features(yes_order, ib, yp, now),
        *_order_features(no_order, inb, np_, now),
    ]


_ROW_BYTES = 4 * OBS_SIZE
_pack_row = struct.Struct(f"={OBS_SIZE}f").pack_into  # native byte order: the buffer is read as float32


def _normalisation(i: int, feature: Feature) -> str:
    """The expression normalising raw value ``r[i]`` as the schema states (constants as exact float reprs)."""
    x = f"r[{i}]"
    if feature.norm == "identity":
        return x
    if feature.norm == "linear":
        k, low, high = 1.0 / feature.scale, feature.low, feature.high
        return f"({low!r} if (v := {x} * {k!r}) < {low!r} else {high!r} if v > {high!r} else v)"
    k = 1.0 / log1p(feature.scale)
    if feature.norm == "log1p":
        return f"((v if (v := log1p(x) * {k!r}) < 1.0 else 1.0) if (x := {x}) > 0.0 else 0.0)"
    if feature.norm == "slog":
        return (f"((v if (v := log1p(x) * {k!r}) < 1.0 else 1.0) if (x := {x}) >= 0.0 "
                f"else (v if (v := -log1p(-x) * {k!r}) > -1.0 else -1.0))")
    raise ValueError(f"{feature.name}: unknown normalisation {feature.norm!r}")


def _compile_finish() -> tuple[Callable[[list[float], array, int], None], str]:
    """Generate ``finish(r, buffer, offset)``: normalise every raw value as :data:`FEATURES` says, pack the row.

    Generated from the schema, so the schema is the only place a normalisation or a scale
    is written; one straight expression per feature (no loop, no per-feature lookups)
    keeps normalising and packing a row at about a microsecond.
    """
    lines = [f"        {_normalisation(i, f)},  # {f.name}" for i, f in enumerate(FEATURES)]
    source = "def finish(r, buffer, offset):\n    pack(buffer, offset,\n" + "\n".join(lines) + "\n    )\n"
    namespace = {"pack": _pack_row, "log1p": log1p}
    exec(compile(source, "<observation schema normalisation>", "exec"), namespace)  # noqa: S102 (our own schema)
    return namespace["finish"], source


_finish, FINISH_SOURCE = _compile_finish()


class ObservationBuilder:
    """Builds observations for batches of markets into one preallocated float32 array.

    ``own_orders_in_book``: whether the books handed in contain our own resting orders
    (True for the live actor: the exchange's books do; False for training on sessions,
    whose books were recorded without us). The builder takes them out when they are in,
    so both see the market as the others quote it::

        builder = ObservationBuilder(own_orders_in_book=False)
        obs = builder.build([MarketInput(book, md.history(t), md.markets[t], md.now_ms, position, orders,
                                         cash, equity)])   # float32 [1, OBS_SIZE]

    The returned array is a view of the builder's buffer, overwritten by the next call:
    copy it to keep it (or pass ``out``).
    """

    def __init__(self, *, own_orders_in_book: bool, capacity: int = 128) -> None:
        self.own_orders_in_book = own_orders_in_book
        self._allocate(max(1, capacity))

    def _allocate(self, capacity: int) -> None:
        self._capacity = capacity
        self._buffer = array("f", bytes(_ROW_BYTES * capacity))
        self._array = np.frombuffer(self._buffer, dtype=np.float32).reshape(capacity, OBS_SIZE)

    def build(self, markets: Sequence[MarketInput], out: np.ndarray | None = None) -> np.ndarray:
        """Observations of ``markets`` as float32 ``[len(markets), OBS_SIZE]`` (into ``out`` when given)."""
        n = len(markets)
        if n > self._capacity:
            self._allocate(max(n, 2 * self._capacity))
        buffer = self._buffer
        own = self.own_orders_in_book
        offset = 0
        for m in markets:
            _finish(_row(m, own), buffer, offset)
            offset += _ROW_BYTES
        result = self._array[:n]
        if out is not None:
            out[...] = result
            return out
        return result
