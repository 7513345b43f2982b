"""Decision ticks on the exchange clock: when the policy decides, in training and live alike.

A tick at ``T = k * interval`` fires when the exchange clock (the largest ``ts_ms`` seen,
:attr:`~kalshi_actor.marketdata.MarketData.clock_ms`) first reaches or passes ``T``, right
after the frame that moved it: that frame is part of the tick. The markets due at a tick
are those marked since the previous tick. ``interval == 0`` decides after every frame
that marked a market. Wall time plays no part, so a session replayed at any speed has
the same decision points as the live run that recorded it.
"""

from __future__ import annotations

from collections.abc import Iterable


class DecisionTicks:
    """Feed it each frame's marked markets and the clock; it says which markets are due, if any."""

    __slots__ = ("interval_ms", "next_tick_ms", "_marked", "ticks", "quiet_ticks")

    def __init__(self, interval_ms: int) -> None:
        if interval_ms < 0:
            raise ValueError("the tick interval must be >= 0")
        self.interval_ms = interval_ms
        self.next_tick_ms: int | None = None
        self._marked: set[str] = set()
        self.ticks = 0  # ticks fired
        self.quiet_ticks = 0  # tick boundaries the clock jumped over at once (no frame between them)

    def on_frame(self, marked: Iterable[str], clock_ms: int | None) -> set[str] | None:
        """The markets due after this frame (a tick fired), or None (no tick)."""
        interval = self.interval_ms
        if interval == 0:
            due = set(marked)
            if due:
                self.ticks += 1
                return due
            return None
        self._marked.update(marked)
        if clock_ms is None:
            return None
        nxt = self.next_tick_ms
        if nxt is None:
            self.next_tick_ms = (clock_ms // interval + 1) * interval
            return None
        if clock_ms < nxt:
            return None
        self.quiet_ticks += (clock_ms - nxt) // interval
        self.next_tick_ms = (clock_ms // interval + 1) * interval
        self.ticks += 1
        due, self._marked = self._marked, set()
        return due

    def set_interval(self, interval_ms: int) -> None:
        """A new interval (hot reload): the next tick is re-derived from the next frame's clock."""
        if interval_ms < 0:
            raise ValueError("the tick interval must be >= 0")
        self.interval_ms = interval_ms
        self.next_tick_ms = None
