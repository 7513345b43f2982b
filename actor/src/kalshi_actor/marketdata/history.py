"""A bounded history of one market: book changes and trades, on the exchange's clock.

Every book change (an applied delta or a snapshot) appends one sample: its exchange
time and the YES mid after the change. Every trade appends its time and size, signed
by the taker's side. Both live in fixed-size ring buffers (:data:`EVENT_CAPACITY`,
:data:`TRADE_CAPACITY`) holding cumulative sums, so any window's total is a
difference of two entries: O(1) per event, fixed memory, and per query O(1) for each
window whose start did not move (a binary search over the ring for one that did).

Units: times are exchange ``ts_ms``; mids are kept doubled (``mid2 = bid + ask`` in
pips, an exact integer); squared mid changes in (2 x pips)^2; sizes in hundredths.
The observation builder turns them into features (:mod:`kalshi_actor.observation`).

Windows: an event window ``k`` covers the last ``k`` book changes; a time window ``T``
covers the changes with ``now - T < ts <= now`` and its return is measured from the
mid in force at ``now - T`` (the last change at or before it). When the history is
younger than the window, it is measured from the first change; when the ring holds
less than the window (more than the capacity of changes in ``T``), the oldest change
kept is the window's start, so counts saturate at the capacity - 1.

The history starts at the market's first two-sided book: changes before it have no mid
and are not recorded; later one-sided books carry the last mid forward.
"""

from __future__ import annotations

from bisect import bisect_right

__all__ = [
    "EVENT_CAPACITY",
    "EVENT_WINDOWS",
    "MarketHistory",
    "SUMMARY_FIELDS",
    "TIME_WINDOWS_MS",
    "TRADE_CAPACITY",
    "TRADE_WINDOWS_MS",
]

EVENT_WINDOWS = (5, 20, 100)  # book changes
TIME_WINDOWS_MS = (1_000, 10_000, 60_000)  # book changes over exchange time
TRADE_WINDOWS_MS = (10_000, 60_000)  # trades over exchange time
EVENT_CAPACITY = 2048  # book changes kept (powers of two: the ring index is a mask)
TRADE_CAPACITY = 1024  # trades kept

_EMASK = EVENT_CAPACITY - 1
_TMASK = TRADE_CAPACITY - 1
assert EVENT_CAPACITY & _EMASK == 0 and TRADE_CAPACITY & _TMASK == 0
assert max(EVENT_WINDOWS) < EVENT_CAPACITY


def _summary_fields() -> tuple[str, ...]:
    names = ["n_changes", "mid2", "since_change_ms", "span_ms"]
    for k in EVENT_WINDOWS:
        names += [f"ret2_ev{k}", f"sq2_ev{k}"]
    for t in TIME_WINDOWS_MS:
        names += [f"ret2_{t}ms", f"sq2_{t}ms", f"changes_{t}ms"]
    names += ["n_trades", "since_trade_ms", "last_trade_price"]
    for t in TRADE_WINDOWS_MS:
        names += [f"flow_{t}ms", f"volume_{t}ms", f"trades_{t}ms"]
    return tuple(names)


SUMMARY_FIELDS = _summary_fields()
"""The fields of :meth:`MarketHistory.summary`, in order (-1 marks "never" for the ``since_*``,
``span_ms`` and ``last_trade_price`` fields; ``since``/``span`` are clamped at 0)."""


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


class MarketHistory:
    """Book changes and trades of one market (see the module docstring for units and windows)."""

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

    def __repr__(self) -> str:
        return (f"MarketHistory(changes={self.n_changes}, trades={self.n_trades}, "
                f"last_change_ms={self.last_change_ms}, mid2={self.last_mid2})")
