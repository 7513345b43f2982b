"""Synthetic traders: the latent probability of a market and the agents that trade around it.

Every agent is a plain object with ``step(now_ms) -> next delay in ms | None`` (None: stop);
:class:`sim.world.World` schedules the steps on the clock. All randomness comes from the
``random.Random`` each agent is given, never from wall time, so a seed fixes the market.
Floats appear only in the agents' beliefs; every order the engine sees is in exact units.
"""

from __future__ import annotations

import math
import random
from array import array
from bisect import bisect_right

from ..units import ONE_DOLLAR, Count, Price
from .engine import Engine, EngineError
from .types import BookSide, MarketStatus, Order, OrderStatus, TimeInForce

_IOC = TimeInForce.IOC
_RESTING = OrderStatus.RESTING
_ACTIVE = MarketStatus.ACTIVE


class Latent:
    """A market's true YES probability: a random walk in log-odds with occasional jumps.

    Advanced lazily to the time it is asked about. ``vol`` is in log-odds per sqrt(second),
    ``jump_rate`` jumps per second with log-odds size ~ N(0, ``jump_scale``), ``trend`` a drift in
    log-odds per second whose sign is drawn at creation (0: none, and no draw). The log-odds stay
    within [-5, 5]. After :meth:`trace_into`, every change is appended to the given arrays
    (``ts_ms``, ``p``): the value in force at a time is the last one at or before it.
    """

    __slots__ = ("x", "t_ms", "rng", "vol", "jump_rate", "jump_scale", "drift", "trace")

    def __init__(self, rng: random.Random, prior: float, t_ms: int, *, vol: float = 0.02,
                 jump_rate: float = 1 / 900, jump_scale: float = 0.5, trend: float = 0.0) -> None:
        prior = min(max(prior, 0.02), 0.98)
        self.x = math.log(prior / (1 - prior))
        self.t_ms = t_ms
        self.rng = rng
        self.vol = vol
        self.jump_rate = jump_rate
        self.jump_scale = jump_scale
        self.drift = 0.0 if not trend else trend if rng.random() < 0.5 else -trend
        self.trace: tuple[array, array] | None = None

    @property
    def p(self) -> float:
        """The probability now in force (without advancing it)."""
        return 1.0 / (1.0 + math.exp(-self.x))

    def trace_into(self, ts_ms: array, p: array) -> None:
        """Record the value in force now and every later change into ``ts_ms`` (``'q'``) and ``p`` (``'d'``)."""
        self.trace = (ts_ms, p)
        ts_ms.append(self.t_ms)
        p.append(self.p)

    def at(self, t_ms: int) -> float:
        dt = (t_ms - self.t_ms) / 1000
        if dt > 0:
            rng = self.rng
            x = self.x + self.vol * math.sqrt(dt) * rng.gauss(0.0, 1.0)
            if self.drift:
                x += self.drift * dt
            if rng.random() < self.jump_rate * dt:
                x += rng.gauss(0.0, self.jump_scale)
            self.x = min(max(x, -5.0), 5.0)
            self.t_ms = t_ms
            if self.trace is not None:
                self.trace[0].append(t_ms)
                self.trace[1].append(self.p)
        return self.p


class _Agent:
    __slots__ = ("engine", "account", "ticker", "latent", "rng", "grid")

    def __init__(self, engine: Engine, account: str, ticker: str, latent: Latent, rng: random.Random,
                 grid: list[Price]) -> None:
        self.engine = engine
        self.account = account
        self.ticker = ticker
        self.latent = latent
        self.rng = rng
        self.grid = grid  # the market's valid prices, ascending

    def active(self) -> bool:
        return self.engine.markets[self.ticker].status is _ACTIVE

    def _at_or_below(self, price: float) -> int:
        """Index in the grid of the highest valid price <= ``price`` pips (-1 if none)."""
        return bisect_right(self.grid, price) - 1

    def _delay(self, mean_ms: float) -> int:
        return max(20, int(self.rng.expovariate(1.0 / mean_ms)))


class MarketMaker(_Agent):
    """Quotes a ladder of bids on both sides around its (noisy) view of the latent probability.

    Inventory skews the quotes (a long YES position lowers both ladders). Sizes are either
    dollar notionals divided by the price (fractional, like Kalshi's "55555.20") or round
    lots. Re-quotes move orders with amend, and cancel or place only what is left over.
    """

    __slots__ = ("levels", "half_spread", "gap", "notional", "lots", "refresh_ms", "skew", "noise", "quotes")

    def __init__(self, engine: Engine, account: str, ticker: str, latent: Latent, rng: random.Random,
                 grid: list[Price], *, levels: int, half_spread: int, gap: int, notional: int | None,
                 lots: tuple[int, ...], refresh_ms: float, skew: float, noise: float) -> None:
        super().__init__(engine, account, ticker, latent, rng, grid)
        self.levels = levels  # price levels per side
        self.half_spread = half_spread  # pips between its view and its best bid
        self.gap = gap  # grid steps between its levels
        self.notional = notional  # micros per level, or None for round lots
        self.lots = lots  # round-lot sizes in hundredths
        self.refresh_ms = refresh_ms
        self.skew = skew  # probability shift per contract of inventory
        self.noise = noise  # stdev of its view around the latent probability
        self.quotes: dict[tuple[BookSide, Price], Order] = {}

    def step(self, now_ms: int) -> int | None:
        if not self.active():
            return None
        engine = self.engine
        position = engine.accounts[self.account].positions.get(self.ticker, 0)
        view = self.latent.at(now_ms) + self.rng.gauss(0.0, self.noise) - self.skew * position / 100
        view = min(max(view, 0.005), 0.995) * ONE_DOLLAR
        yes_best, no_best = engine.best_bids(self.ticker)
        want: dict[tuple[BookSide, Price], Count] = {}
        self._ladder(want, "yes", view, no_best)
        self._ladder(want, "no", ONE_DOLLAR - view, yes_best)
        self._reconcile(want)
        return self._delay(self.refresh_ms)

    def _ladder(self, want: dict[tuple[BookSide, Price], Count], side: BookSide, fair: float,
                opposite_best: Price) -> None:
        """Bids on ``side`` below its fair price ``fair`` (pips): the top one ``half_spread`` under it,
        or the lowest tick when that is still under fair (a long shot is bid at $0.01 too)."""
        grid = self.grid
        i = self._at_or_below(fair - self.half_spread)
        if i < 0 and grid[0] < fair:
            i = 0
        if opposite_best:  # never cross (its quotes are post-only)
            i = min(i, self._at_or_below(ONE_DOLLAR - opposite_best - 1))
        for level in range(self.levels):
            if i < 0:
                break
            price = grid[i]
            if self.notional is not None:
                count = self.notional * (10 + 3 * level) // (10 * price)  # micros / pips = hundredths
            else:
                count = self.rng.choice(self.lots)
            if count > 0:
                want[(side, price)] = count
            i -= self.gap + (1 if self.rng.random() < 0.15 else 0)  # sometimes a hole in the ladder

    def _reconcile(self, want: dict[tuple[BookSide, Price], Count]) -> None:
        engine, account, quotes = self.engine, self.account, self.quotes
        for key, order in list(quotes.items()):
            if order.status is not _RESTING:
                del quotes[key]
        stale = [key for key in quotes if key not in want]
        missing = [key for key in want if key not in quotes]
        for key, order in list(quotes.items()):
            if key in want and order.remaining * 3 < want[key]:  # mostly eaten: top it up
                self._amend(key, order, key[1], want[key])
        for side in ("yes", "no"):
            olds = [k for k in stale if k[0] == side]
            news = [k for k in missing if k[0] == side]
            for old, new in zip(olds, news):
                self._amend(old, quotes[old], new[1], want[new])
            for old in olds[len(news):]:
                order = quotes.pop(old)
                engine.cancel_order(account, order.order_id)
            for new in news[len(olds):]:
                try:
                    quotes[new] = engine.place_order(account, self.ticker, side, new[1], want[new], post_only=True)
                except EngineError:
                    pass  # the book moved under it; the next re-quote tries again

    def _amend(self, key: tuple[BookSide, Price], order: Order, price: Price, count: Count) -> None:
        quotes = self.quotes
        del quotes[key]
        try:
            self.engine.amend_order(self.account, order.order_id, price=price, count=order.filled + count)
        except EngineError:
            self.engine.cancel_order(self.account, order.order_id)
            return
        if order.status is _RESTING:
            quotes[(order.side, price)] = order


class NoiseTaker(_Agent):
    """Hits the best ask of a random side now and then (IOC), sometimes one tick through."""

    __slots__ = ("mean_ms",)

    def __init__(self, engine: Engine, account: str, ticker: str, latent: Latent, rng: random.Random,
                 grid: list[Price], *, mean_ms: float) -> None:
        super().__init__(engine, account, ticker, latent, rng, grid)
        self.mean_ms = mean_ms

    def step(self, now_ms: int) -> int | None:
        if not self.active():
            return None
        rng = self.rng
        side: BookSide = "yes" if rng.random() < 0.5 else "no"
        yes_best, no_best = self.engine.best_bids(self.ticker)
        opposite = no_best if side == "yes" else yes_best
        if opposite:
            i = self._at_or_below(ONE_DOLLAR - opposite) + (1 if rng.random() < 0.3 else 0)
            price = self.grid[min(i, len(self.grid) - 1)]
            self.engine.place_order(self.account, self.ticker, side, price, _taker_size(rng), time_in_force=_IOC)
        return self._delay(self.mean_ms)


class InformedTaker(_Agent):
    """Trades toward the latent probability when the book is mispriced by more than ``edge`` pips."""

    __slots__ = ("mean_ms", "edge")

    def __init__(self, engine: Engine, account: str, ticker: str, latent: Latent, rng: random.Random,
                 grid: list[Price], *, mean_ms: float, edge: int) -> None:
        super().__init__(engine, account, ticker, latent, rng, grid)
        self.mean_ms = mean_ms
        self.edge = edge

    def step(self, now_ms: int) -> int | None:
        if not self.active():
            return None
        fair = self.latent.at(now_ms) * ONE_DOLLAR
        yes_best, no_best = self.engine.best_bids(self.ticker)
        side: BookSide | None = None
        if no_best and ONE_DOLLAR - no_best < fair - self.edge:  # YES is cheap
            side, limit = "yes", fair - self.edge
        elif yes_best and yes_best > fair + self.edge:  # NO is cheap
            side, limit = "no", ONE_DOLLAR - fair - self.edge
        if side is not None:
            i = self._at_or_below(limit)
            if i >= 0:
                count = _taker_size(self.rng) * 3
                self.engine.place_order(self.account, self.ticker, side, self.grid[i], count, time_in_force=_IOC)
        return self._delay(self.mean_ms)


def _taker_size(rng: random.Random) -> Count:
    """Contracts in hundredths: mostly whole (lognormal around a few), sometimes fractional."""
    if rng.random() < 0.2:
        return rng.randint(1, 2_000)
    return max(1, int(math.exp(rng.gauss(1.6, 1.1)))) * 100
