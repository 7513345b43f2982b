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

try:
    from .. import _features
except ImportError as exc:  # a source tree that was never installed
    raise ImportError("kalshi_actor's C part (_features.c) is not built: install the package "
                      "(make setup, or pip install -e actor)") from exc

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

# the history lives in C (kalshi_actor/_features.c), configured from these definitions
if _features.configure_history(EVENT_WINDOWS, TIME_WINDOWS_MS, TRADE_WINDOWS_MS, EVENT_CAPACITY,
                               TRADE_CAPACITY) != len(SUMMARY_FIELDS):
    raise ImportError("kalshi_actor._features is out of date: reinstall the package (pip install -e actor)")


MarketHistory = _features.MarketHistory
"""Book changes and trades of one market (see the module docstring for units and windows).

``on_book(ts_ms, mid2)``: record one book change at exchange time ``ts_ms``; ``mid2`` = YES bid + YES ask
(None if one-sided). ``on_trade(ts_ms, taker_outcome, count, yes_price)``: one trade of ``count``
hundredths at ``yes_price`` pips, the taker bought ``taker_outcome``. :class:`MarketData` calls them;
times never decrease. ``summary(now_ms)``: every window's raw totals at exchange time ``now_ms``, as a
flat list (:data:`SUMMARY_FIELDS`); it depends only on the recorded events and ``now_ms`` (a ``now_ms``
before the last event is taken as that event's time: the history cannot be rewound). Read-only:
``n_changes``, ``last_change_ms``, ``last_mid2``, ``n_trades``, ``last_trade_ms``, ``last_trade_price``.
In C (``kalshi_actor/_features.c``) with the observation rows that read it: ingest writes it for every
book change, and the observation reads a dozen ring slots per market at every decision.
"""
