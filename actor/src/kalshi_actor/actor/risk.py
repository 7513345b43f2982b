"""Risk: limits on what the actor may hold and send, and its state (ACTIVE, REDUCING, HALTED).

Every order intent passes :meth:`RiskManager.check` between the action space and the order
manager. An intent is allowed, clipped or refused so that, if every allowed order filled
completely (and every working order too), no limit would be exceeded: the limits are never
passed, not merely noticed afterwards. Units as in :mod:`kalshi_actor.units`.

How the loop uses it
--------------------
::

    risk = RiskManager(RiskLimits.of(config.risk), paused=config.paused)   # clock injectable: clock=...
    each tick:
        decision = risk.check(intents, portfolio, manager.orders(), books)
        # decision.transition: a state change (with its reason) for events/metrics, or None
        # decision.rejected / decision.clipped: (intent, reason) pairs for events/metrics
        results = await manager.submit(decision.allowed)
    hot reload: risk.set_limits(RiskLimits.of(new_config.risk)); risk.set_paused(new_config.paused)
    reads: risk.state, risk.reason, risk.session_pnl, risk.daily_pnl

``check`` with no intents still evaluates the state and returns the cancels it requires,
so the loop may call it every tick.

Limits (:class:`RiskLimits`; ``None`` disables one)
--------------------------------------------------
* ``max_position``: per market, in hundredths of a contract. With position ``P`` (+YES/-NO)
  and resting YES orders ``Y`` and NO orders ``N`` (remaining), ``P + Y`` and ``N - P`` must
  stay within it: the position if every order on one side filled.
* ``max_exposure``: total, in micros: the sum over markets of the largest cost basis the
  market's position could reach if every resting order of one side filled (cheapest fills
  first, so the most expensive ones open contracts: the worst case; fills that close the
  other side lower the cost basis). Positions alone count their cost basis (Kalshi's market
  exposure). So a closing order adds nothing, and an opening one adds its price times its size.
  Cancels are sent before everything else (see :mod:`.orders`); amends and places of
  different markets may land in any order, so a market counts with the larger of its exposure
  before and after this check's amends and places.
* ``max_orders_per_minute``: places and amends allowed in any sliding 60 s window (cancels are
  never limited: they reduce risk).
* ``max_loss_session`` / ``max_loss_daily``, in micros: the drop of the portfolio's net P&L
  (realized + unrealized at ``mark`` - fees) since the session's first check / since the first
  check of the UTC day (the daily base resets at UTC midnight of the injected clock).
* Sizes are clipped down to multiples of ``count_step`` (whole contracts by default); a size
  that fits is never changed.

States
------
* HALTED: ``paused``, or a loss limit reached. No places or amends; every working order is
  cancelled (the decision carries the cancels). A loss halt is latched: it lasts until
  :meth:`set_limits` (an operator's decision) or, for the daily limit, the next UTC day.
* REDUCING: a position or the total exposure is beyond its limit (e.g. after the limits were
  lowered, or positions adopted at startup), or a loss reached ``reduce_at_loss_share`` of
  its limit. Only orders that reduce a position are allowed, clipped so that they cannot
  flip it (a NO order of at most the YES held, minus NO orders already resting); working
  orders that do not reduce are cancelled.
* ACTIVE: everything within limits; working orders that no longer fit (limits lowered live)
  are cancelled, the largest exposure first.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import Enum

from ..books.book import Book
from ..trading.portfolio import Mark, Portfolio, book_fill
from ..trading.types import AmendOrder, BookSide, CancelOrder, OrderIntent, PlaceOrder, WorkingOrder
from ..units import Count, Money, Price

__all__ = ["Decision", "RiskLimits", "RiskManager", "RiskState", "Transition"]

_WINDOW_S = 60.0


class RiskState(str, Enum):
    ACTIVE = "active"
    REDUCING = "reducing"
    HALTED = "halted"


@dataclass(frozen=True, slots=True)
class RiskLimits:
    """The limits (see the module docstring). Counts in hundredths, money in micros; None = no limit."""

    max_position: Count | None = 10_000
    max_exposure: Money | None = 1_000_000_000
    max_orders_per_minute: int | None = 120
    max_loss_session: Money | None = None
    max_loss_daily: Money | None = None
    reduce_at_loss_share: float = 0.8
    count_step: Count = 100
    mark: Mark = "bid"

    def __post_init__(self) -> None:
        for name in ("max_position", "max_exposure", "max_orders_per_minute", "max_loss_session", "max_loss_daily"):
            value = getattr(self, name)
            if value is not None and (type(value) is not int or value < 0):
                raise ValueError(f"{name} must be a non-negative int or None, got {value!r}")
        if not 0.0 < self.reduce_at_loss_share <= 1.0:
            raise ValueError(f"reduce_at_loss_share must be in (0, 1], got {self.reduce_at_loss_share!r}")
        if type(self.count_step) is not int or self.count_step <= 0:
            raise ValueError(f"count_step must be a positive int of hundredths, got {self.count_step!r}")
        if self.mark not in ("bid", "mid"):
            raise ValueError(f"mark must be 'bid' or 'mid', got {self.mark!r}")

    @classmethod
    def of(cls, settings: object, **overrides: object) -> RiskLimits:
        """From any object with these attribute names in these units (e.g. ``actor.config.RiskLimits``)."""
        names = ("max_position", "max_exposure", "max_orders_per_minute", "max_loss_session", "max_loss_daily",
                 "reduce_at_loss_share", "count_step", "mark")
        values = {n: getattr(settings, n) for n in names if hasattr(settings, n)}
        return cls(**{**values, **overrides})  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class Transition:
    """A change of state, for events: ``ts`` is the clock's Unix seconds."""

    previous: RiskState
    state: RiskState
    reason: str
    ts: float


@dataclass(slots=True)
class Decision:
    """What :meth:`RiskManager.check` allows: send ``allowed`` (risk's own cancels first), in order."""

    allowed: list[OrderIntent] = field(default_factory=list)
    rejected: list[tuple[OrderIntent, str]] = field(default_factory=list)
    clipped: list[tuple[OrderIntent, str]] = field(default_factory=list)  # the ORIGINAL intents that were cut
    transition: Transition | None = None


class _Market:
    """One market's projected position and resting orders while a check runs."""

    __slots__ = ("ticker", "position", "cost", "orders", "base", "current")

    def __init__(self, ticker: str, position: Count, cost: Money) -> None:
        self.ticker = ticker
        self.position = position
        self.cost = cost
        self.orders: dict[str, tuple[BookSide, Price, Count]] = {}  # order id -> (side, price, remaining)
        self.base: Money = cost  # exposure before this check's amends and places
        self.current: Money = cost

    def resting(self, side: BookSide, without: str | None = None) -> Count:
        return sum(r for oid, (s, _, r) in self.orders.items() if s == side and oid != without)

    def extents(self) -> tuple[Count, Count]:
        """(YES held if every YES order filled, NO held if every NO order filled)."""
        return self.position + self.resting("yes"), self.resting("no") - self.position

    def exposure(self) -> Money:
        return _worst_exposure(self.position, self.cost, self.orders.values())


def _worst_exposure(position: Count, cost: Money, orders: Iterable[tuple[BookSide, Price, Count]]) -> Money:
    """The largest cost basis the position reaches if all resting orders of one side fill (cheapest first)."""
    worst = cost
    by_side: dict[str, list[tuple[Price, Count]]] = {"yes": [], "no": []}
    for side, price, remaining in orders:
        if remaining > 0:
            by_side[side].append((price, remaining))
    for side, fills in by_side.items():
        if not fills:
            continue
        pos, basis = position, cost
        for price, count in sorted(fills):
            pos, basis, _, _ = book_fill(pos, basis, side, price, count)  # type: ignore[arg-type]
        if basis > worst:
            worst = basis
    return worst


class RiskManager:
    """Limits and state (see the module docstring). ``clock`` returns Unix seconds (``time.time``)."""

    def __init__(self, limits: RiskLimits | None = None, *, paused: bool = False,
                 clock: Callable[[], float] = time.time) -> None:
        self.limits = limits or RiskLimits()
        self.paused = paused
        self.clock = clock
        self.state = RiskState.ACTIVE
        self.reason = ""
        self.transitions: deque[Transition] = deque(maxlen=256)
        self.session_pnl: Money = 0  # net P&L since the session's first check
        self.daily_pnl: Money = 0  # net P&L since the first check of the UTC day
        self._session_base: Money | None = None
        self._daily_base: Money | None = None
        self._day: str = ""
        self._latched = ""  # a loss halt's reason, until set_limits (or the next day, for the daily limit)
        self._latched_daily = False
        self._sent: deque[float] = deque()  # times of allowed places/amends

    # --- configuration (hot reload) ---

    def set_limits(self, limits: RiskLimits) -> None:
        """Replace the limits; clears a latched loss halt (re-evaluated at the next check)."""
        if not isinstance(limits, RiskLimits):
            raise TypeError(f"expected RiskLimits, got {type(limits).__name__}")
        self.limits = limits
        self._latched = ""
        self._latched_daily = False

    def set_paused(self, paused: bool) -> None:
        self.paused = bool(paused)

    def reset_session(self) -> None:
        """Start a new session: the session loss is measured from the next check on."""
        self._session_base = None

    @property
    def orders_last_minute(self) -> int:
        self._prune(self.clock())
        return len(self._sent)

    # --- state ---

    def evaluate(self, portfolio: Portfolio, books: Mapping[str, Book] | None = None) -> Transition | None:
        """Recompute the state from the portfolio; returns the transition when the state changed."""
        now = self.clock()
        limits = self.limits
        net = portfolio.net_pnl(books or {}, limits.mark)
        if self._session_base is None:
            self._session_base = net
        day = datetime.fromtimestamp(now, UTC).date().isoformat()
        if day != self._day:
            self._day = day
            self._daily_base = net
            if self._latched_daily:
                self._latched = ""
                self._latched_daily = False
        assert self._daily_base is not None
        self.session_pnl = net - self._session_base
        self.daily_pnl = net - self._daily_base
        state, reason = self._judge(portfolio)
        if state is self.state and reason == self.reason:
            return None
        previous = self.state
        self.state, self.reason = state, reason
        if state is previous:
            return None  # same state, new reason: not a transition
        transition = Transition(previous, state, reason, now)
        self.transitions.append(transition)
        return transition

    def _judge(self, portfolio: Portfolio) -> tuple[RiskState, str]:
        limits = self.limits
        if self.paused:
            return RiskState.HALTED, "paused"
        if not self._latched:
            for name, loss, limit in (("session", -self.session_pnl, limits.max_loss_session),
                                      ("daily", -self.daily_pnl, limits.max_loss_daily)):
                if limit is not None and loss >= limit:
                    self._latched = f"{name} loss {loss} micros reached the limit {limit}"
                    self._latched_daily = name == "daily"
                    break
        if self._latched:
            return RiskState.HALTED, self._latched
        if limits.max_position is not None:
            for ticker, pos in portfolio.positions.items():
                if abs(pos.count) > limits.max_position:
                    return RiskState.REDUCING, f"position {pos.count} in {ticker} beyond the limit {limits.max_position}"
        if limits.max_exposure is not None and portfolio.exposure > limits.max_exposure:
            return RiskState.REDUCING, f"exposure {portfolio.exposure} beyond the limit {limits.max_exposure}"
        for name, loss, limit in (("session", -self.session_pnl, limits.max_loss_session),
                                  ("daily", -self.daily_pnl, limits.max_loss_daily)):
            if limit is not None and loss >= limit * limits.reduce_at_loss_share:
                return RiskState.REDUCING, f"{name} loss {loss} micros near the limit {limit}"
        return RiskState.ACTIVE, ""

    # --- the check ---

    def check(self, intents: Sequence[OrderIntent], portfolio: Portfolio, orders: Iterable[WorkingOrder],
              books: Mapping[str, Book] | None = None) -> Decision:
        """Allow, clip or refuse ``intents`` (see the module docstring). ``orders``: ALL our working orders."""
        decision = Decision(transition=self.evaluate(portfolio, books))
        now = self.clock()
        self._prune(now)
        markets: dict[str, _Market] = {}
        working: dict[str, WorkingOrder] = {}

        def market(ticker: str) -> _Market:
            m = markets.get(ticker)
            if m is None:
                pos = portfolio.position(ticker)
                m = markets[ticker] = _Market(ticker, pos.count, pos.cost_basis)
            return m

        for order in orders:
            working[order.order_id] = order
            market(order.ticker).orders[order.order_id] = (order.side, order.price, order.remaining)
        for intent in intents:
            market(intent.ticker)

        # 1. cancels: the given ones, then the ones the state and the limits require
        cancelled: set[str] = set()
        for intent in intents:
            if type(intent) is CancelOrder:
                decision.allowed.append(intent)
                cancelled.add(intent.order_id)
                markets[intent.ticker].orders.pop(intent.order_id, None)
        for order_id in self._required_cancels(markets, portfolio):
            if order_id not in cancelled:
                order = working[order_id]
                decision.allowed.insert(0, CancelOrder(order.ticker, order_id))
                cancelled.add(order_id)
                markets[order.ticker].orders.pop(order_id, None)

        # 2. amends and places, in order, against the projection
        other = portfolio.exposure - sum(m.cost for m in markets.values())
        for m in markets.values():
            m.base = m.current = m.exposure()
        total = other + sum(m.base for m in markets.values())
        for index, intent in enumerate(intents):
            if type(intent) is CancelOrder:
                continue
            reason = self._refusal(intent, working, cancelled)
            if reason:
                decision.rejected.append((intent, reason))
                continue
            m = markets[intent.ticker]
            if type(intent) is PlaceOrder:
                side, filled, wanted, order_id = intent.side, 0, intent.count, ""
            else:
                assert type(intent) is AmendOrder
                order = working[intent.order_id]
                side, filled, wanted, order_id = order.side, order.filled, intent.count - order.filled, intent.order_id
            if wanted <= 0:
                decision.rejected.append((intent, "the new count does not exceed the filled count"))
                continue
            key = order_id or f"new-{index}"
            remaining, why = self._fit(m, total, key, side, intent.price, wanted)
            if remaining <= 0:
                decision.rejected.append((intent, why))
                continue
            if remaining < wanted:
                decision.clipped.append((intent, why))
                intent = replace(intent, count=filled + remaining)
            total += self._apply(m, key, side, intent.price, remaining)
            self._sent.append(now)
            decision.allowed.append(intent)
        return decision

    def _refusal(self, intent: OrderIntent, working: Mapping[str, WorkingOrder], cancelled: set[str]) -> str:
        if self.state is RiskState.HALTED:
            return f"halted: {self.reason}"
        if type(intent) is AmendOrder and (intent.order_id not in working or intent.order_id in cancelled):
            return "not a working order (or being cancelled)"
        if type(intent) not in (PlaceOrder, AmendOrder):
            return f"not an order intent: {intent!r}"
        limit = self.limits.max_orders_per_minute
        if limit is not None and len(self._sent) >= limit:
            return f"order rate: {len(self._sent)} orders in the last minute, limit {limit}"
        return ""

    def _fit(self, m: _Market, total: Money, key: str, side: BookSide, price: Price,
             wanted: Count) -> tuple[Count, str]:
        """The largest remaining size (``wanted``, or less on the count grid) that keeps every limit; and why cut."""
        limits = self.limits
        cap = wanted
        why = ""
        if self.state is RiskState.REDUCING:
            held = -m.position if side == "yes" else m.position  # the other side's contracts this side closes
            room = held - m.resting(side, without=key)
            if room < cap:
                cap, why = room, f"reducing: only {max(room, 0)} can close the position ({self.reason})"
        if limits.max_position is not None:
            own = m.position if side == "yes" else -m.position
            room = limits.max_position - own - m.resting(side, without=key)
            if room < cap:
                cap, why = room, f"position limit {limits.max_position} in {m.ticker}"
        if cap <= 0:
            return 0, why or "no room"
        if limits.max_exposure is not None and not self._exposure_fits(m, total, key, side, price, cap):
            why = f"exposure limit {limits.max_exposure}"
            step = limits.count_step
            lo, hi = 0, (cap - 1) // step  # cap itself failed; search the grid below it
            while lo < hi:
                mid = (lo + hi + 1) // 2
                if self._exposure_fits(m, total, key, side, price, mid * step):
                    lo = mid
                else:
                    hi = mid - 1
            return lo * step, why
        if cap < wanted:
            cap -= cap % limits.count_step
        return cap, why

    def _exposure_fits(self, m: _Market, total: Money, key: str, side: BookSide, price: Price,
                       remaining: Count) -> bool:
        before = m.orders.get(key)
        m.orders[key] = (side, price, remaining)
        after = m.exposure()
        if before is None:
            del m.orders[key]
        else:
            m.orders[key] = before
        new_total = total - max(m.base, m.current) + max(m.base, after)
        return new_total <= self.limits.max_exposure  # type: ignore[operator]

    @staticmethod
    def _apply(m: _Market, key: str, side: BookSide, price: Price, remaining: Count) -> Money:
        """Put the order into the projection; returns the change of the total (peak) exposure."""
        m.orders[key] = (side, price, remaining)
        old = max(m.base, m.current)
        m.current = m.exposure()
        return max(m.base, m.current) - old

    def _required_cancels(self, markets: Mapping[str, _Market], portfolio: Portfolio) -> list[str]:
        """Working orders the state or the limits no longer allow (HALTED: all of them)."""
        doomed: list[str] = []
        if self.state is RiskState.HALTED:
            return [oid for m in markets.values() for oid in m.orders]
        limits = self.limits
        for m in markets.values():
            for side in ("yes", "no"):
                held = -m.position if side == "yes" else m.position  # contracts this side would close
                mine = [(oid, r) for oid, (s, _, r) in m.orders.items() if s == side]
                if not mine:
                    continue
                total = sum(r for _, r in mine)
                own = m.position if side == "yes" else -m.position
                too_big = limits.max_position is not None and own + total > limits.max_position
                if self.state is RiskState.REDUCING:
                    too_big = too_big or total > max(held, 0)
                if too_big:
                    doomed += [oid for oid, _ in mine]
                    for oid, _ in mine:
                        del m.orders[oid]
        if limits.max_exposure is not None:
            other = portfolio.exposure - sum(m.cost for m in markets.values())
            exposures = {t: m.exposure() for t, m in markets.items()}
            total = other + sum(exposures.values())
            while total > limits.max_exposure:
                # the order whose cancel frees the most (ties, e.g. both sides resting: the dearest order)
                best: tuple[Money, Money, str, str] | None = None  # (freed, order cost, ticker, order id)
                for t, m in markets.items():
                    if exposures[t] <= m.cost:
                        continue  # its orders add nothing
                    for oid in list(m.orders):
                        kept = m.orders.pop(oid)
                        freed = exposures[t] - m.exposure()
                        m.orders[oid] = kept
                        key = (freed, kept[1] * kept[2], t, oid)
                        if best is None or key[:2] > best[:2]:
                            best = key
                if best is None:
                    break  # positions alone are beyond the limit: the REDUCING state handles them
                freed, _, t, oid = best
                del markets[t].orders[oid]
                exposures[t] -= freed
                total -= freed
                doomed.append(oid)
        return doomed

    def _prune(self, now: float) -> None:
        sent = self._sent
        while sent and sent[0] <= now - _WINDOW_S:
            sent.popleft()

