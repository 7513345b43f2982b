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

from .. import _features

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

# the windows are computed in C (kalshi_actor/_features.c), from these definitions
if _features.configure_history(EVENT_WINDOWS, TIME_WINDOWS_MS, TRADE_WINDOWS_MS, EVENT_CAPACITY,
                               TRADE_CAPACITY) != len(SUMMARY_FIELDS):
    raise ImportError("kalshi_actor._features is out of date: reinstall the package (pip install -e actor)")


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
        return _features.summary(self, now_ms)  # C (the observation's hot loop); the rules: the module docstring

    def __repr__(self) -> str:
        return (f"MarketHistory(changes={self.n_changes}, trades={self.n_trades}, "
                f"last_change_ms={self.last_change_ms}, mid2={self.last_mid2})")
