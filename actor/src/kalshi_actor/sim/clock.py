"""Clocks for the simulator: one scheduler, run either in virtual time or against the wall clock.

Everything the synthetic market does is a callback scheduled at a time in milliseconds
(never a ``sleep``), and every callback sees ``now_ms()`` equal to its scheduled time.
Events run in (time, scheduling order), so the same seed gives the same event stream
under :class:`VirtualClock` (as fast as the CPU allows) and :class:`RealTimeClock`
(paced by the event loop's clock, optionally sped up).
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

# 2026-11-24T12:00:00Z: a fixed default start so virtual runs are reproducible.
DEFAULT_START_MS = 1_795_521_600_000


class Scheduler:
    """A heap of ``(time_ms, seq, callback, args)``; ``seq`` keeps equal times in scheduling order."""

    def __init__(self, start_ms: int) -> None:
        self._now = start_ms
        self._heap: list[tuple[int, int, Callable[..., Any], tuple[Any, ...]]] = []
        self._seq = 0
        self._cancelled: set[int] = set()

    def now_ms(self) -> int:
        """The current time in Unix milliseconds (virtual or paced)."""
        return self._now

    def call_at(self, time_ms: int, callback: Callable[..., Any], *args: Any) -> int:
        """Run ``callback(*args)`` at ``time_ms`` (not before now). Returns a handle for :meth:`cancel`."""
        self._seq += 1
        entry = (max(int(time_ms), self._now), self._seq, callback, args)
        heapq.heappush(self._heap, entry)
        if self._heap[0] is entry:
            self._head_changed()
        return self._seq

    def call_later(self, delay_ms: int, callback: Callable[..., Any], *args: Any) -> int:
        return self.call_at(self.now_ms() + delay_ms, callback, *args)

    def cancel(self, handle: int) -> None:
        """Drop a scheduled callback that has not run yet."""
        if any(entry[1] == handle for entry in self._heap):
            self._cancelled.add(handle)

    def next_time_ms(self) -> int | None:
        return self._heap[0][0] if self._heap else None

    def _head_changed(self) -> None:
        """A new earliest event (the real-time runner re-arms its timer)."""

    def _run_due(self, until_ms: int) -> int:
        """Run every event at or before ``until_ms`` in order; returns how many ran."""
        heap = self._heap
        cancelled = self._cancelled
        pop = heapq.heappop
        ran = 0
        while heap and heap[0][0] <= until_ms:
            time_ms, seq, callback, args = pop(heap)
            if cancelled and seq in cancelled:
                cancelled.discard(seq)
                continue
            self._now = time_ms
            callback(*args)
            ran += 1
        if until_ms > self._now:
            self._now = until_ms
        return ran


class VirtualClock(Scheduler):
    """Virtual time: :meth:`run_until` executes the due events instantly, in time order."""

    def __init__(self, start_ms: int = DEFAULT_START_MS) -> None:
        super().__init__(start_ms)

    def run_until(self, time_ms: int) -> int:
        """Run everything scheduled up to ``time_ms``, then stand at ``time_ms``. Returns events run."""
        return self._run_due(time_ms)

    def run_for(self, duration_ms: int) -> int:
        return self._run_due(self._now + duration_ms)


class RealTimeClock(Scheduler):
    """Runs the scheduled events at their wall time on the running asyncio loop.

    ``speed`` > 1 runs faster than real time (tests). Virtual time starts at ``start_ms``
    (default: the wall clock at construction) and advances with the loop's monotonic clock
    once :meth:`start` is called. A single loop timer is armed for the earliest event.
    """

    def __init__(self, start_ms: int | None = None, *, speed: float = 1.0) -> None:
        super().__init__(int(time.time() * 1000) if start_ms is None else start_ms)
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.speed = speed
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._origin_ms = self._now
        self._origin_loop = 0.0
        self._firing = False

    @property
    def running(self) -> bool:
        return self._loop is not None

    def start(self) -> None:
        """Start pacing on the running event loop (idempotent)."""
        if self._loop is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._origin_ms = self._now
        self._origin_loop = self._loop.time()
        self._arm()

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._loop = None

    def now_ms(self) -> int:
        """Inside a callback: its scheduled time. Outside: the paced clock (never behind the last event)."""
        if self._loop is None or self._firing:
            return self._now
        paced = self._origin_ms + int((self._loop.time() - self._origin_loop) * 1000 * self.speed)
        return paced if paced > self._now else self._now

    def _head_changed(self) -> None:
        if self._loop is not None and not self._firing:
            self._arm()

    def _arm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._heap and self._loop is not None:
            wall = self._origin_loop + (self._heap[0][0] - self._origin_ms) / 1000 / self.speed
            self._timer = self._loop.call_at(wall, self._fire)

    def _fire(self) -> None:
        self._timer = None
        if self._loop is None:
            return
        paced = self._origin_ms + int((self._loop.time() - self._origin_loop) * 1000 * self.speed)
        if self._heap and self._heap[0][0] > paced:  # the loop fired a hair early: the head is due
            paced = self._heap[0][0]
        self._firing = True
        try:
            self._run_due(paced)
        except Exception:  # one bad callback must not stop the market
            log.exception("scheduled callback failed")
        finally:
            self._firing = False
            self._arm()
