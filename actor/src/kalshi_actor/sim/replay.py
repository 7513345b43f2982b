"""Replay mode: a recorded session's books drive the simulator instead of synthetic traders.

The recorded liquidity becomes resting orders of one replay account, so the books the
simulator serves (REST and WebSocket, with fresh sids and seqs) are the recorded ones,
and orders sent to the simulator trade against them by the engine's usual rules: a
crossing order takes recorded liquidity, a resting order is filled when the recorded
book moves through it. A recorded level shrinks by at most what is left of it (what
a client took is already gone). Recorded ``trade`` frames are not replayed as trades:
the liquidity they removed shows in the deltas.

``ReplayWorld`` is driven like :class:`~kalshi_actor.sim.world.World` (the server treats both alike).
"""

from __future__ import annotations

import math
import os
import uuid
from collections import defaultdict
from dataclasses import dataclass, field

from ..kalshi.frames import FrameError, OrderbookDeltaFrame, OrderbookSnapshotFrame, decode
from ..marketdata.info import MarketInfo
from ..sessions.format import read_frames, read_header
from ..trading.fees import FeeSchedule
from ..units import MONEY_SCALE, ONE_DOLLAR, Count, Price
from .clock import RealTimeClock, Scheduler, VirtualClock
from .engine import Engine, EngineError
from .types import BookSide, Market, PriceRange, SelfTradePrevention
from .world import ClockDriven

REPLAY_ACCOUNT = "sim-replay"
_BALANCE = 10**12 * MONEY_SCALE  # recorded books can be deep: the replay account never runs dry


@dataclass(slots=True)
class _Level:
    order_ids: list[str] = field(default_factory=list)


class ReplayWorld(ClockDriven):
    """Serve a session's recorded books. ``clock`` is ``"real"`` (recorded pace) or ``"virtual"``."""

    def __init__(self, path: str | os.PathLike[str], clock: str = "real") -> None:
        self._events = list(_book_events(path))
        if not self._events:
            raise ValueError(f"{os.fspath(path)}: no orderbook frames to replay")
        first_ms = self._events[0][0]
        self.clock: Scheduler = VirtualClock(first_ms) if clock == "virtual" else RealTimeClock()
        self._offset_ms = self.clock.now_ms() - first_ms  # recorded time -> clock time
        self.engine = Engine(self.clock.now_ms)
        self.engine.open_account(REPLAY_ACCOUNT, _BALANCE, keep_history=False)
        self._levels: dict[tuple[str, BookSide, Price], _Level] = defaultdict(_Level)
        fees = {i.ticker: i.fees for i in MarketInfo.from_session_header(read_header(path)) if i.fees is not None}
        for ticker, market_id, step in _markets(self._events):
            self.engine.add_market(_market(ticker, market_id, step, self.clock.now_ms(), fees.get(ticker)))
        self.started = False
        self.replayed = 0

    def _schedule_all(self) -> None:
        for recorded_ms, ticker, kind, payload in self._events:
            self.clock.call_at(recorded_ms + self._offset_ms, self._apply, ticker, kind, payload)

    # --- replaying ---
    def _apply(self, ticker: str, kind: str, payload) -> None:
        if kind == "snapshot":
            levels, _ = payload
            for side in ("yes", "no"):
                target = levels[side]
                current = self.engine.book(ticker, side)
                for price in set(current) | set(target):
                    self._adjust(ticker, side, price, target.get(price, 0) - self._replay_size(ticker, side, price))
        else:
            side, price, delta = payload
            self._adjust(ticker, side, price, delta)
        self.replayed += 1

    def _replay_size(self, ticker: str, side: BookSide, price: Price) -> Count:
        level = self._levels.get((ticker, side, price))
        if level is None:
            return 0
        orders = self.engine.orders
        return sum(orders[i].remaining for i in level.order_ids if i in orders)

    def _adjust(self, ticker: str, side: BookSide, price: Price, delta: Count) -> None:
        level = self._levels[(ticker, side, price)]
        orders = self.engine.orders
        level.order_ids = [i for i in level.order_ids if i in orders and orders[i].remaining > 0
                           and orders[i].status.value == "resting"]
        if delta > 0:
            try:
                order = self.engine.place_order(REPLAY_ACCOUNT, ticker, side, price, delta,
                                                self_trade_prevention=SelfTradePrevention.MAKER)
            except EngineError:
                return  # e.g. the market closed; the recording goes on without it
            if order.remaining > 0:
                level.order_ids.append(order.order_id)
            return
        need = -delta
        for order_id in reversed(level.order_ids):  # the newest recorded liquidity leaves first
            if need <= 0:
                break
            remaining = orders[order_id].remaining
            self.engine.decrease_order(REPLAY_ACCOUNT, order_id, reduce_by=min(need, remaining))
            need -= remaining


def _book_events(path: str | os.PathLike[str]):
    """(recorded ms, ticker, "snapshot"|"delta", payload) for every book frame of the session."""
    for recv_ts_ns, raw in read_frames(path):
        try:
            frame = decode(raw)
        except FrameError:
            continue  # a recording may hold malformed frames; they carry no book
        ms = recv_ts_ns // 1_000_000
        if isinstance(frame, OrderbookSnapshotFrame):
            msg = frame.msg
            levels = {"yes": dict(msg.yes_levels()), "no": dict(msg.no_levels())}
            yield ms, msg.market_ticker, "snapshot", (levels, msg.market_id)
        elif isinstance(frame, OrderbookDeltaFrame):
            msg = frame.msg
            yield ms, msg.market_ticker, "delta", (msg.side, msg.price, msg.delta)


def _markets(events) -> list[tuple[str, str, Price]]:
    """Each replayed market with its id and the coarsest tick that holds every recorded price."""
    steps: dict[str, int] = {}
    ids: dict[str, str] = {}
    for _, ticker, kind, payload in events:
        if kind == "snapshot":
            levels, market_id = payload
            ids.setdefault(ticker, market_id or "")
            prices = [*levels["yes"], *levels["no"]]
        else:
            prices = [payload[1]]
        steps[ticker] = math.gcd(steps.get(ticker, 0), *prices)
    return [(t, ids.get(t) or str(uuid.uuid5(uuid.NAMESPACE_URL, t)), _grid_step(s)) for t, s in steps.items()]


def _grid_step(gcd: int) -> Price:
    for step in (100, 10, 1):  # a cent, a tenth of a cent, a pip
        if gcd % step == 0:
            return step
    return 1


def _market(ticker: str, market_id: str, step: Price, now_ms: int, fees: FeeSchedule | None) -> Market:
    """A replayed market; charged the recorded fee schedule (the default one where the header has none)."""
    fees = fees or FeeSchedule.of()
    series = ticker.split("-")[0]
    event = ticker.rsplit("-", 1)[0] if ticker.count("-") >= 2 else ticker
    structure = {100: "linear_cent", 10: "deci_cent"}.get(step, "custom")
    return Market(ticker=ticker, event_ticker=event, series_ticker=series, title=f"{ticker} (replay)",
                  market_id=market_id, open_time_ms=now_ms, close_time_ms=now_ms + 30 * 86_400_000,
                  price_level_structure=structure, price_ranges=[PriceRange(0, ONE_DOLLAR, step)],
                  fee_type=fees.fee_type, fee_multiplier=fees.fee_multiplier)  # type: ignore[arg-type]
