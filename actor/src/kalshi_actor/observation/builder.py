"""THE observation builder: book + history + portfolio + own orders + market context -> float32[n, OBS_SIZE].

Training and the live actor both call :meth:`ObservationBuilder.build`; there is no
other implementation. Every feature is described in :mod:`.schema` (formula, unit,
normalisation, range, fill); the builder computes the raw values in those units and
applies the schema's normalisations, read from the schema itself.

Speed: the env needs well over 20,000 steps/s per core and the live actor decides 100
markets in well under 2 ms, so a market costs about a microsecond: the row is computed in C
(``kalshi_actor/_features.c``, bit-identical to the same arithmetic in Python) straight into a
preallocated float32 buffer; the returned array views that buffer. What each value means,
its unit and normalisation are in :mod:`.schema`, which configures the C code at import;
this module states the row's order and its units and fills.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from math import log1p

import numpy as np

from .. import _features
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


# The row, in schema order (checked against the schema at import): the order _features.c writes it in.
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


_NORMS = {"identity": 0, "linear": 1, "log1p": 2, "slog": 3}


def _norm_k(feature: Feature) -> float:
    """The normalisation's factor: ``x * k`` (linear), ``log1p(x) * k`` (log1p, slog)."""
    if feature.norm == "identity":
        return 1.0
    if feature.norm == "linear":
        return 1.0 / feature.scale
    return 1.0 / log1p(feature.scale)


_features.configure_rows(
    [_NORMS[f.norm] for f in FEATURES], [_norm_k(f) for f in FEATURES], [f.low for f in FEATURES],
    [f.high for f in FEATURES],
    (_PIPS, _CENTS, _MID2_CENTS, _CONTRACTS, _DOLLARS, _SECONDS),
    (_SPREAD_FILL, _SINCE_UPDATE_FILL, _SINCE_TRADE_FILL, _CLOSE_FILL, _DISTANCE_FILL),
    (ONE_DOLLAR, _HALF),
)
_ROW_BYTES = 4 * OBS_SIZE


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
        _features.build_rows(markets, self.own_orders_in_book, self._buffer)
        result = self._array[:n]
        if out is not None:
            out[...] = result
            return out
        return result
