"""The observation's formulas restated in plain Python: the oracle the C code (kalshi_actor/_features.c) must
match bit for bit (tests/test_features_native.py).

This is the Python implementation the C code replaced, kept as a readable statement of the
arithmetic: the market history (:class:`ReferenceHistory`), the raw row of one MarketInput
(given its history's summary), and the schema's normalisations. Nothing in the package
imports it.
"""

from __future__ import annotations

import struct
from bisect import bisect_right
from math import log1p, sqrt

from kalshi_actor.marketdata.history import (
    EVENT_CAPACITY,
    EVENT_WINDOWS,
    TIME_WINDOWS_MS,
    TRADE_CAPACITY,
    TRADE_WINDOWS_MS,
)
from kalshi_actor.observation.builder import (
    _CENTS,
    _CLOSE_FILL,
    _CONTRACTS,
    _DISTANCE_FILL,
    _DOLLARS,
    _HALF,
    _MID2_CENTS,
    _PIPS,
    _SECONDS,
    _SINCE_TRADE_FILL,
    _SINCE_UPDATE_FILL,
    _SPREAD_FILL,
    MarketInput,
)
from kalshi_actor.observation.schema import FEATURES, OBS_SIZE, Feature
from kalshi_actor.trading.types import WorkingOrder
from kalshi_actor.units import ONE_DOLLAR

_EMASK = EVENT_CAPACITY - 1
_TMASK = TRADE_CAPACITY - 1
_NO_CHANGES = (0, 0) * len(EVENT_WINDOWS) + (0, 0, 0) * len(TIME_WINDOWS_MS)
_NO_TRADES = (0, -1, -1) + (0, 0, 0) * len(TRADE_WINDOWS_MS)


def _first_after(ts: list[int], cut: int, lo: int, n: int, capacity: int) -> int:
    """The first event number in ``[lo, n]`` whose time is after ``cut`` (``ts`` is a ring of ``capacity``).

    The ring's live events ``lo .. n - 1`` are sorted by time, so this is a binary search (in C)
    over at most two contiguous runs of slots: O(log capacity) whatever the distance moved.
    """
    start = lo & (capacity - 1)
    end = start + n - lo
    if end <= capacity:  # one run: slots start .. end - 1
        return lo + bisect_right(ts, cut, start, end) - start
    if ts[capacity - 1] > cut:  # the ring wraps: the first run (start .. capacity - 1) holds it
        return lo + bisect_right(ts, cut, start, capacity) - start
    return lo + capacity - start + bisect_right(ts, cut, 0, end - capacity)


class ReferenceHistory:
    """MarketHistory as it was written in Python (marketdata/history.py explains units and windows)."""

    __slots__ = (
        "n_changes", "last_change_ms", "last_mid2", "_sq_now", "_ts", "_mid2", "_sq2", "_ptr",
        "n_trades", "last_trade_ms", "last_trade_price", "_tts", "_flow", "_vol", "_tptr",
    )

    def __init__(self) -> None:
        self.n_changes = 0  # book changes recorded since the start (not capped)
        self.last_change_ms: int | None = None
        self.last_mid2: int | None = None  # 2 x YES mid in pips after the last change
        self._sq_now = 0  # the last change's cumulative sum (saves reading it back from the ring)
        self._ts = [0] * EVENT_CAPACITY
        self._mid2 = [0] * EVENT_CAPACITY
        self._sq2 = [0] * EVENT_CAPACITY  # cumulative sum of squared mid2 changes
        self._ptr = [0] * len(TIME_WINDOWS_MS)  # per window: the first change inside it (a cache)
        self.n_trades = 0
        self.last_trade_ms: int | None = None
        self.last_trade_price: int | None = None  # YES price in pips
        self._tts = [0] * TRADE_CAPACITY
        self._flow = [0] * TRADE_CAPACITY  # cumulative signed taker size (+ taker bought YES)
        self._vol = [0] * TRADE_CAPACITY  # cumulative size
        self._tptr = [0] * len(TRADE_WINDOWS_MS)

    # --- writes (MarketData calls these; times never decrease) ---

    def on_book(self, ts_ms: int, mid2: int | None) -> None:
        """Record one book change at exchange time ``ts_ms``; ``mid2`` = YES bid + YES ask (None if one-sided)."""
        last = self.last_mid2
        if mid2 is None or mid2 == last:
            if last is None:
                return  # no mid yet: the history starts at the first two-sided book
            mid2 = last
            sq = self._sq_now
        elif last is None:
            self.last_mid2 = mid2
            sq = 0
        else:
            d = mid2 - last
            self._sq_now = sq = self._sq_now + d * d
            self.last_mid2 = mid2
        i = self.n_changes
        j = i & _EMASK
        self._ts[j] = ts_ms
        self._mid2[j] = mid2
        self._sq2[j] = sq
        self.n_changes = i + 1
        self.last_change_ms = ts_ms

    def on_trade(self, ts_ms: int, taker_outcome: str | None, count: int, yes_price: int) -> None:
        """Record one trade: ``count`` hundredths at ``yes_price`` pips; the taker bought ``taker_outcome``."""
        i = self.n_trades
        j = i & _TMASK
        signed = count if taker_outcome == "yes" else -count if taker_outcome == "no" else 0
        if i:
            k = (i - 1) & _TMASK
            self._flow[j] = self._flow[k] + signed
            self._vol[j] = self._vol[k] + count
        else:
            self._flow[j] = signed
            self._vol[j] = count
        self._tts[j] = ts_ms
        self.n_trades = i + 1
        self.last_trade_ms = ts_ms
        self.last_trade_price = yes_price

    # --- reads ---

    def summary(self, now_ms: int) -> list[int]:
        """Every window's raw totals at exchange time ``now_ms``, as a flat list (:data:`SUMMARY_FIELDS`).

        The result depends only on the recorded events and ``now_ms``, never on earlier
        queries (the per-window cursors are only a cache; they also move back if ``now_ms`` does).
        A ``now_ms`` before the last recorded event is taken as that event's time: the history
        cannot be rewound (the exchange clock never is).
        """
        last = self.last_change_ms
        if last is not None and now_ms < last:
            now_ms = last
        last = self.last_trade_ms
        if last is not None and now_ms < last:
            now_ms = last
        n = self.n_changes
        if n == 0:
            out = [0, 0, -1, -1, *_NO_CHANGES]
        else:
            mask = _EMASK
            ts, mid2, sq2 = self._ts, self._mid2, self._sq2
            lo = n - EVENT_CAPACITY if n > EVENT_CAPACITY else 0
            top = (n - 1) & mask
            m_now = mid2[top]
            s_now = sq2[top]
            since = now_ms - ts[top]
            span = now_ms - ts[lo & mask]
            out = [n, m_now, since if since > 0 else 0, span if span > 0 else 0]
            for k in EVENT_WINDOWS:
                b = n - 1 - k
                b = (b if b > lo else lo) & mask
                out += (m_now - mid2[b], s_now - sq2[b])
            ptr = self._ptr
            w = 0
            for span in TIME_WINDOWS_MS:
                cut = now_ms - span
                p = ptr[w]
                if p < lo:
                    p = lo
                if (p < n and ts[p & mask] <= cut) or (p > lo and ts[(p - 1) & mask] > cut):
                    p = _first_after(ts, cut, lo, n, EVENT_CAPACITY)
                ptr[w] = p
                w += 1
                if p > lo or lo == 0:
                    b = (p - 1 if p > lo else lo) & mask
                    out += (m_now - mid2[b], s_now - sq2[b], n - p)
                else:  # the window reaches past the ring: the oldest change kept is its start
                    b = lo & mask
                    out += (m_now - mid2[b], s_now - sq2[b], n - lo - 1)
        n = self.n_trades
        if n == 0:
            out += _NO_TRADES
            return out
        mask = _TMASK
        tts, flow, vol = self._tts, self._flow, self._vol
        lo = n - TRADE_CAPACITY if n > TRADE_CAPACITY else 0
        top = (n - 1) & mask
        f_now, v_now = flow[top], vol[top]
        since = now_ms - tts[top]
        out += (n, since if since > 0 else 0, self.last_trade_price)
        ptr = self._tptr
        w = 0
        for span in TRADE_WINDOWS_MS:
            cut = now_ms - span
            p = ptr[w]
            if p < lo:
                p = lo
            if (p < n and tts[p & mask] <= cut) or (p > lo and tts[(p - 1) & mask] > cut):
                p = _first_after(tts, cut, lo, n, TRADE_CAPACITY)
            ptr[w] = p
            w += 1
            if p > lo:
                b = (p - 1) & mask
                out += (f_now - flow[b], v_now - vol[b], n - p)
            elif lo == 0:  # every trade is inside the window
                out += (f_now, v_now, n)
            else:  # the window reaches past the ring: the oldest trade kept is its start
                b = lo & mask
                out += (f_now - flow[b], v_now - vol[b], n - lo - 1)
        return out


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


def _normalise(f: Feature, x: float) -> float:
    """The schema's normalisation of raw value ``x`` (observation/schema.py)."""
    if f.norm == "identity":
        return x
    if f.norm == "linear":
        v = x * (1.0 / f.scale)
        return f.low if v < f.low else f.high if v > f.high else v
    k = 1.0 / log1p(f.scale)
    if f.norm == "log1p":
        if not x > 0.0:
            return 0.0
        v = log1p(x) * k
        return v if v < 1.0 else 1.0
    if x >= 0.0:  # slog
        v = log1p(x) * k
        return v if v < 1.0 else 1.0
    v = -log1p(-x) * k
    return v if v > -1.0 else -1.0


def row_bytes(m: MarketInput, own_in_book: bool) -> bytes:
    """One market's float32 row (native byte order), as bytes."""
    return struct.pack(f"={OBS_SIZE}f", *(_normalise(f, x) for f, x in zip(FEATURES, _row(m, own_in_book))))
