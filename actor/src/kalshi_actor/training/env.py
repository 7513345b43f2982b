"""The training environment: one market of a recorded (or simulated) session per episode.

Everything the policy sees and does goes through the pieces the live actor uses:
frames -> :class:`~kalshi_actor.marketdata.MarketData` (books, history, clock) ->
:class:`~kalshi_actor.observation.ObservationBuilder` -> action ->
:func:`~kalshi_actor.trading.actions.intents_for_action` ->
:class:`~kalshi_actor.training.fill_model.FillModel` (our simulated fills) ->
:class:`~kalshi_actor.trading.portfolio.Portfolio`.

Decision points (the live actor's, on the exchange clock)
---------------------------------------------------------
The live actor ticks every ``tick_interval_s`` and decides for the markets whose book
changed since their last decision; ``0`` decides after every book change. Here time is
the EXCHANGE clock (:attr:`MarketData.clock_ms`, the largest ``ts_ms`` seen on ANY
market of the session): a tick at ``T = k * tick_interval`` fires when the clock first
reaches or passes ``T``, after the frame that moved it (the frame that tells us the time
is part of the tick). A market is decided at a tick if its book changed since its
previous tick and is fresh: a stale (gapped) book is never traded; its decisions are
skipped until a snapshot makes it fresh again. One env step = one decision.

Sessions are indexed once per market (:class:`Session`): each market's frames, decoded once,
with seq renumbered per market (so leaving the other markets out is not a sequence gap), the
session-wide clock before each frame, the ticks at which it is due, and sequence gaps of
the whole stream as explicit "stale" marks. An episode then feeds only its market's
frames: the other markets cost nothing, and the observations are bit-identical to those
of one MarketData fed the whole session (:func:`direct_observations`, the parity test).

Reward and the end of an episode
--------------------------------
Reward at each step: the change of the market's equity (cash + the position marked at
``config.mark``, fees already out of cash) since the previous decision, in dollars times
``reward_scale``, minus ``inventory_penalty`` dollars per contract held per hour of
exchange time. The episode ends when the market closes (a closing lifecycle frame, or
the clock passing its close time) or the session ends. At the end the position is
settled at $1.00 per winning contract if the session says how the market resolved
(``determined``/``settled`` lifecycle frames, even after the close), else marked to
market; the last reward includes it. The sum of the rewards (without penalty) is thus
the episode's net P&L after fees.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import gymnasium as gym
import msgspec
import numpy as np

from ..books import BookStore
from ..kalshi import frames as F
from ..kalshi.ws import FrameIngestor
from ..marketdata import MarketData, MarketInfo
from ..observation import OBS_SIZE, MarketInput, ObservationBuilder
from ..sessions.format import read_frames, read_header
from ..trading.actions import N_ACTIONS, ActionConfig, intents_for_action
from ..trading.fees import FeeSchedule
from ..trading.portfolio import Mark, mark_value
from ..trading.portfolio import Portfolio
from ..trading.ticks import DecisionTicks
from ..trading.types import AmendOrder, FillEvent, OrderIntent, PlaceOrder, WorkingOrder
from ..units import Money
from .fill_model import FillModel

__all__ = ["EnvConfig", "KalshiMarketEnv", "Session", "load_session", "direct_observations", "env_observations",
           "session_paths"]

_MICROS = 1_000_000  # micros per dollar
_CLOSING = frozenset({"deactivated", "closed", "determined", "settled"})
_RESOLVED = frozenset({"determined", "settled"})
_MARKET_FRAMES = (F.OrderbookDeltaFrame, F.OrderbookSnapshotFrame, F.TradeFrame, F.MarketLifecycleFrame)

# ops of a market's stream (see Session)
_FRAME, _TICK, _STALE = 0, 1, 2
_NEVER = 1 << 62  # a close time that never comes


@dataclass(frozen=True)
class EnvConfig:
    """How the environment turns a session into decisions and rewards. Stored with every model; used live.

    ``tick_interval_s``: seconds of exchange time between decision ticks (0: decide on every book change).
    ``action``: the action mapping (:class:`ActionConfig`). ``initial_cash``: micros.
    ``mark``: how positions are valued for rewards and the observation's equity (``"mid"`` or ``"bid"``).
    ``inventory_penalty``: dollars per contract held per hour of exchange time (0: none).
    ``reward_scale``: rewards are dollars times this (100: cents).
    ``fee_type`` / ``fee_multiplier``: the fallback fee schedule, for markets whose session does not give
    theirs (each market's own, from the session header's ``market_info``, is used where present: headers
    written before it was recorded lack it, and so do markets first listed during the session).
    ``max_episode_steps``: truncate longer episodes (None: never).
    ``max_position``: the live risk layer's per-market limit, hundredths: an order whose worst case (every
    resting contract of its side filled) would hold more is clipped to fit, or dropped (None: no limit).
    ``liquidate``: an episode whose market does not resolve in the session ends with the position sold
    at the touch, taker fee included (a conservative end); False marks it at ``mark``, as before.
    """

    tick_interval_s: float = 1.0
    action: ActionConfig = field(default_factory=ActionConfig)
    initial_cash: Money = 1_000 * _MICROS
    mark: Mark = "mid"
    inventory_penalty: float = 0.0
    reward_scale: float = 100.0
    fee_type: str = "quadratic"
    fee_multiplier: float = 1.0
    max_episode_steps: int | None = None
    max_position: int | None = None
    liquidate: bool = False

    def __post_init__(self) -> None:
        if not (self.tick_interval_s >= 0 and math.isfinite(self.tick_interval_s)):
            raise ValueError(f"tick_interval_s must be >= 0, got {self.tick_interval_s!r}")
        if self.mark not in ("mid", "bid"):
            raise ValueError(f"mark must be 'mid' or 'bid', got {self.mark!r}")
        if self.inventory_penalty < 0:
            raise ValueError("inventory_penalty must be >= 0")
        if type(self.initial_cash) is not int or self.initial_cash <= 0:
            raise ValueError("initial_cash must be a positive int of micros")
        if self.max_position is not None and (type(self.max_position) is not int or self.max_position <= 0):
            raise ValueError("max_position must be a positive int of hundredths, or None")

    @property
    def tick_interval_ms(self) -> int:
        return round(self.tick_interval_s * 1000)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["action"] = self.action.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EnvConfig:
        values = dict(data)
        values["action"] = ActionConfig.from_dict(values.get("action", ActionConfig().to_dict()))
        return cls(**values)


# --- sessions, indexed per market ---


@dataclass(slots=True)
class MarketStream:
    """One market's part of a session: ops in stream order, each a 4-tuple ``(kind, item, clock, delta)``.

    ``(_FRAME, frame, clock_before, delta)``: ingest the decoded ``frame`` (seq renumbered for this
    market) after moving the clock to ``clock_before`` (the session clock before the frame);
    ``delta`` is ``(side, price, count, ts_ms)`` of a book delta, for the fill model, else None.
    ``(_TICK, clock, None, None)``: a decision tick at session clock ``clock`` (when ``tick_interval > 0``).
    ``(_STALE, reason, None, None)``: a sequence gap of the whole stream (or an impossible delta) made
    this book stale here.
    """

    ticker: str
    ops: list[tuple] = field(default_factory=list)
    book_frames: int = 0
    result: str | None = None  # "yes" | "no" when the session says how it resolved


class Session:
    """A session file indexed per market for a tick interval (see the module docstring)."""

    def __init__(self, path: str | os.PathLike[str], tick_interval_ms: int = 1000) -> None:
        self.path = Path(path)
        self.tick_interval_ms = tick_interval_ms
        self.meta = read_header(self.path)
        self.infos: dict[str, MarketInfo] = {m.ticker: m for m in MarketInfo.from_session_header(self.meta)}
        self.header_tickers = frozenset(self.infos)
        self.streams: dict[str, MarketStream] = {}
        self.frames = 0
        self._index()

    def _stream(self, ticker: str) -> MarketStream:
        stream = self.streams.get(ticker)
        if stream is None:
            stream = self.streams[ticker] = MarketStream(ticker)
        return stream

    def _index(self) -> None:
        streams = self.streams

        def on_stale(sid: int, tickers: list[str]) -> None:  # a gap (the sid's books) or an impossible delta
            for t in tickers:
                book = md.books.get(t)
                reason = book.stale_reason if book is not None else f"sequence gap on sid {sid}"
                self._stream(t).ops.append((_STALE, f"{reason} (in the session)", None, None))

        md = MarketData(self.infos.values(), ingestor=FrameIngestor(BookStore(), on_stale=on_stale))
        decode, ingest = md.ingestor.decode, md.ingest
        seqs: dict[tuple[str, int], int] = {}
        interval = self.tick_interval_ms
        ticks = DecisionTicks(interval)  # the live actor's decision rule, on the session clock
        n = 0
        for _, raw in read_frames(self.path):
            n += 1
            before = md.clock_ms
            frame = decode(raw)  # once: episodes ingest the decoded frames (None: malformed, counted, skipped)
            if frame is not None:
                ingest(frame)  # the one ingest path: the session clock and gaps, exactly as live
            kind = type(frame)
            if kind in _MARKET_FRAMES:
                msg = frame.msg
                ticker = msg.market_ticker
                stream = self._stream(ticker)
                sid = frame.sid
                if frame.seq is not None and sid is not None:
                    key = (ticker, sid)
                    seqs[key] = seq = seqs.get(key, 0) + 1
                    frame = msgspec.structs.replace(frame, seq=seq)
                delta = None
                if kind is F.OrderbookDeltaFrame:
                    stream.book_frames += 1
                    try:
                        delta = (msg.side, msg.price, msg.delta, msg.time_ms)
                    except F.FrameError:
                        delta = None
                elif kind is F.OrderbookSnapshotFrame:
                    stream.book_frames += 1
                elif kind is F.MarketLifecycleFrame and msg.event_type in _RESOLVED and msg.result in ("yes", "no"):
                    stream.result = msg.result
                stream.ops.append((_FRAME, frame, before, delta))
                touched = (ticker,)
            else:
                touched = ()
            if interval > 0:  # (0: every book change is a decision point, found while stepping)
                due = ticks.on_frame(touched, md.clock_ms)
                if due:
                    clock = md.clock_ms
                    for t in due:
                        streams[t].ops.append((_TICK, clock, None, None))
        self.frames = n
        for ticker in list(streams):
            if ticker not in md.markets:  # no tick grid known (not in the header, no lifecycle frame with one)
                del streams[ticker]
            else:
                self.infos[ticker] = self.infos.get(ticker) or md.markets[ticker]
        for ticker, info in md.markets.items():
            self.infos.setdefault(ticker, info)

    @property
    def tickers(self) -> list[str]:
        """The markets that have a book in this session, sorted."""
        return sorted(t for t, s in self.streams.items() if s.book_frames)

    def __repr__(self) -> str:
        return f"Session({os.fspath(self.path)!r}, markets={len(self.streams)}, frames={self.frames})"


_CACHE: dict[tuple[str, int, int, int], Session] = {}
_CACHE_SIZE = 64


def load_session(path: str | os.PathLike[str], tick_interval_ms: int = 1000) -> Session:
    """A session indexed for ``tick_interval_ms`` (cached per process by path, size, mtime and interval)."""
    p = Path(path).resolve()
    st = p.stat()
    key = (os.fspath(p), st.st_size, st.st_mtime_ns, tick_interval_ms)
    session = _CACHE.get(key)
    if session is None:
        if len(_CACHE) >= _CACHE_SIZE:
            _CACHE.pop(next(iter(_CACHE)))
        session = _CACHE[key] = Session(p, tick_interval_ms)
    return session


def session_paths(items: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Session files named directly or found in directories (``*.session``, ``*.session.gz``), sorted."""
    found: list[Path] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            found += sorted(x for x in p.rglob("*") if x.name.endswith((".session", ".session.gz")))
        elif p.exists():
            found.append(p)
        else:
            raise FileNotFoundError(f"no session file or directory {os.fspath(p)!r}")
    return found


# --- the environment ---


class KalshiMarketEnv(gym.Env):
    """One market of one session per episode; ``Box(52)`` float32 observations, ``Discrete(5)`` actions.

    ``sessions``: session paths (or loaded :class:`Session` s); an episode picks a market
    (any with at least ``min_decisions`` book frames) uniformly with the env's RNG, or the
    one named in ``reset(options={"session": i, "ticker": t})``. ``info`` carries exact
    money (micros): ``equity``, ``cash``, ``position``, ``fees``, ``fills``; and at the end
    ``net_pnl`` (equity minus initial cash) and ``settled`` (the result, or None).
    :attr:`step_fills` holds the :class:`FillEvent` s booked during the last step; :attr:`fees` is the
    episode market's fee schedule (from the session, else ``config``'s).
    """

    metadata = {"render_modes": []}

    def __init__(self, sessions: Sequence[str | os.PathLike[str] | Session], config: EnvConfig | None = None, *,
                 min_decisions: int = 10) -> None:
        super().__init__()
        self.config = config = config or EnvConfig()
        if not sessions:
            raise ValueError("the environment needs at least one session")
        self.sessions = [s if isinstance(s, Session) else load_session(s, config.tick_interval_ms) for s in sessions]
        self.episodes = [(i, t) for i, s in enumerate(self.sessions) for t in s.tickers
                         if s.streams[t].book_frames >= min_decisions]
        if not self.episodes:
            raise ValueError("no market in these sessions has enough book changes for an episode")
        self.observation_space = gym.spaces.Box(-1.0, 1.0, (OBS_SIZE,), np.float32)
        self.action_space = gym.spaces.Discrete(N_ACTIONS)
        self._builder = ObservationBuilder(own_orders_in_book=False, capacity=1)
        self._fees = FeeSchedule.of(config.fee_type, config.fee_multiplier)
        self._tick = config.tick_interval_ms > 0
        self._penalty = config.inventory_penalty / 3_600_000 / 100  # dollars per hundredth per ms
        self._scale = config.reward_scale / _MICROS
        self.session: Session | None = None
        self.ticker = ""

    # --- gymnasium API ---

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        options = options or {}
        if "ticker" in options:
            index, ticker = int(options.get("session", 0)), options["ticker"]
        else:
            index, ticker = self.episodes[int(self.np_random.integers(len(self.episodes)))]
        self.session = session = self.sessions[index]
        self.ticker = ticker
        self._stream = session.streams[ticker]
        self._result = self._stream.result
        info = session.infos[ticker]
        # a market listed during the session gets its context from its lifecycle frame, as live
        self.md = md = MarketData([info] if ticker in session.header_tickers else [])
        self.fees = fees = info.fees if info.fees is not None else self._fees  # the market's series', as live
        self.fills = FillModel(md.books, fees={ticker: fees}, grids={ticker: info.grid})
        self.portfolio = Portfolio(self.config.initial_cash, fees={ticker: fees})
        self._pos = 0
        self.step_fills: list[FillEvent] = []  # our fills since the last decision (exact, for audits)
        self._ops = iter(self._stream.ops)
        self._done = False
        self._closed = False  # the market closed in the session (else the data ended)
        self.steps = 0
        self.n_fills = 0
        self.book = None
        self._last_ms = 0
        self._equity = self.config.initial_cash
        self._empty = self._advance()
        if self._empty:  # no decision point at all: the episode is over before it starts
            self._finish()
            self._equity = self._final_equity
        else:
            self._equity = self._mark()
        self._last_ms = md.now_ms
        return self._observe(), self._info()

    def step(self, action: int):
        if self._done:
            if self.steps == 0 and self._empty:  # reset found no decision point
                self.steps = 1
                return self._observe(), 0.0, True, False, self._info()
            raise RuntimeError("step() after the episode ended: call reset()")
        book = self.book
        ticker = self.ticker
        fills = self.fills
        self.step_fills = []
        intents = intents_for_action(int(action), book, self.md.markets[ticker].grid, self._pos, fills.working(ticker),
                                     self.config.action)
        if intents and self.config.max_position is not None:
            intents = _within_limit(intents, self._pos, fills.working(ticker), self.config.max_position)
        if intents:
            self._book_fills(fills.submit(intents, self.md.now_ms))
        self.steps += 1
        held = self._pos
        start_ms = self._last_ms
        ended = self._advance()
        if ended:
            self._finish()
        equity = self._mark() if not ended else self._final_equity
        now = self.md.now_ms
        reward = (equity - self._equity) * self._scale
        if held and self._penalty:
            reward -= self._penalty * abs(held) * (now - start_ms) * self.config.reward_scale
        self._equity = equity
        self._last_ms = now
        limit = self.config.max_episode_steps
        # a market that closed (or resolved) ends its MDP; data that runs out, or a step limit, only cuts it
        terminated = ended and (self._closed or self._result is not None)
        truncated = (ended and not terminated) or (limit is not None and self.steps >= limit)
        self._done = terminated or truncated
        return self._observe(), float(reward), terminated, truncated, self._info()

    # --- internals ---

    def _advance(self) -> bool:
        """Feed frames up to the next decision point; True when the episode ended instead."""
        md = self.md
        ingest = md.ingest
        books = md.books.books
        ticker = self.ticker
        fills = self.fills
        watched = fills.watched
        markets = md.markets
        market = markets.get(ticker)
        close_ms = market.close_time_ms if market is not None else None
        if close_ms is None:
            close_ms = _NEVER
        tick = self._tick
        dirty = False  # the book changed since the last tick (a decision clears it)
        for kind, item, before, delta in self._ops:  # resumes where the previous decision stopped
            if kind == _FRAME:
                clock = md.clock_ms
                if before is not None and (clock is None or before > clock):
                    md.clock_ms = before  # the other markets' frames moved the session clock
                passed = ingest(item)
                if delta is not None:
                    if ticker in watched:  # else the fill model has nothing to do with it
                        got = fills.on_delta(ticker, delta[0], delta[1], delta[2], delta[3] or md.now_ms)
                        if got:
                            self._book_fills(got)
                elif passed is not None:
                    got = fills.on_frame(passed)
                    if got:
                        self._book_fills(got)
                    if type(passed) is F.MarketLifecycleFrame:
                        if passed.msg.event_type in _CLOSING or passed.msg.is_deactivated:
                            self._closed = True
                            return True
                        market = markets.get(ticker)  # a new close time, or the market's listing
                        close_ms = market.close_time_ms if market is not None else None
                        if close_ms is None:
                            close_ms = _NEVER
                elif type(item) is F.OrderbookSnapshotFrame:
                    fills.on_snapshot(ticker)
                if (md.clock_ms or 0) >= close_ms:
                    self._closed = True
                    return True
                if md.changed:
                    if tick:
                        dirty = True
                    else:
                        book = books.get(ticker)
                        if book is not None and not book.stale and market is not None:
                            self.book = book
                            return False
            elif kind == _TICK:
                if md.clock_ms is None or item > md.clock_ms:
                    md.clock_ms = item
                if item >= close_ms:
                    self._closed = True
                    return True
                if dirty:
                    dirty = False
                    book = books.get(ticker)
                    if book is not None and not book.stale and market is not None:
                        self.book = book
                        return False
            else:
                md.books.mark_stale([ticker], item)
        return True

    def _book_fills(self, fills: Iterable) -> None:
        apply = self.portfolio.apply_fill
        self.step_fills.extend(fills)
        for f in fills:
            self._pos = apply(f).count
            self.n_fills += 1

    def _mark(self) -> Money:
        """Cash plus the position marked on the current book."""
        pos = self._pos
        if not pos:
            return self.portfolio.cash
        return self.portfolio.cash + mark_value(pos, self.md.books.books.get(self.ticker), self.config.mark)

    def _finish(self) -> None:
        """The episode ends: settle if the session says how the market resolved, else mark to market."""
        self._done = True
        self.fills.close_market(self.ticker)
        if self._result is not None:
            self.portfolio.settle(self.ticker, self._result)
            self._pos = 0
            self._final_equity = self.portfolio.cash
        elif self.config.liquidate:
            self._final_equity = self._liquidation()
        else:
            self._final_equity = self._mark()
        book = self.md.books.books.get(self.ticker)
        if book is not None:
            self.book = book

    def _liquidation(self) -> Money:
        """Cash plus the position sold at the touch now: the held side's best bid, less the taker fee."""
        pos = self._pos
        cash = self.portfolio.cash
        book = self.md.books.books.get(self.ticker)
        if not pos or book is None:
            return cash
        bid = book.best_yes_bid_price if pos > 0 else book.best_no_bid_price
        if bid is None:
            return cash  # nobody to sell to: worth nothing now
        return cash + bid * abs(pos) - self.fees.taker_fee(bid, abs(pos))  # pips x hundredths = micros

    def _observe(self) -> np.ndarray:
        book = self.book
        if book is None or self.ticker not in self.md.markets:  # the market never had a fresh book: nothing to see
            return np.zeros(OBS_SIZE, np.float32)
        ticker = self.ticker
        md = self.md
        portfolio = self.portfolio
        m = MarketInput(book, md.history(ticker), md.markets[ticker], md.now_ms, portfolio.positions.get(ticker),
                        self.fills.working(ticker), portfolio.cash, self._equity)
        return self._builder.build((m,))[0].copy()

    def _info(self) -> dict[str, Any]:
        p = self.portfolio
        info = {"ticker": self.ticker, "now_ms": self.md.now_ms, "equity": self._equity, "cash": p.cash,
                "position": self._pos, "fees": p.fees_paid, "fills": self.n_fills}
        if self._done:
            info["net_pnl"] = self._equity - self.config.initial_cash
            info["settled"] = self._result
        return info


def _within_limit(intents: list[OrderIntent], position: int, working: Sequence[WorkingOrder],
                  limit: int) -> list[OrderIntent]:
    """The intents with each order clipped so that, all of its side filled, the position stays within ``limit``
    (a YES bid can take us to ``position + remaining`` YES, a NO bid to ``remaining - position`` NO), as the
    live risk layer does; an order with nothing left is dropped. Cancels pass."""
    filled = {o.order_id: o.filled for o in working}
    kept: list[OrderIntent] = []
    for intent in intents:
        if type(intent) is PlaceOrder or type(intent) is AmendOrder:
            already = filled.get(intent.order_id, 0) if type(intent) is AmendOrder else 0
            room = limit - (position if intent.side == "yes" else -position)
            remaining = min(intent.count - already, room)
            if remaining <= 0:
                continue
            if remaining < intent.count - already:
                intent = replace(intent, count=remaining + already)
        kept.append(intent)
    return kept


# --- parity: the env's observations against one MarketData fed the whole session ---

ObservationPath = Callable[[str | os.PathLike[str], EnvConfig], tuple[list[tuple[str, int]], np.ndarray]]
"""A path from a session to its decisions: ``(keys, obs)`` with ``keys[i] = (ticker, now_ms)`` and
``obs`` float32 ``[n, OBS_SIZE]``, every market's decisions in time order, markets sorted by ticker,
with the policy holding (no orders, no position)."""


def env_observations(path: str | os.PathLike[str], config: EnvConfig) -> tuple[list[tuple[str, int]], np.ndarray]:
    """The training path: every market of the session as an episode of :class:`KalshiMarketEnv`, holding."""
    env = KalshiMarketEnv([path], config, min_decisions=0)
    keys: list[tuple[str, int]] = []
    rows: list[np.ndarray] = []
    for ticker in env.sessions[0].tickers:
        obs, info = env.reset(options={"session": 0, "ticker": ticker})
        ended = env._done
        while not ended:
            keys.append((ticker, info["now_ms"]))
            rows.append(obs)
            obs, _, terminated, truncated, info = env.step(0)
            ended = terminated or truncated
    return keys, _matrix(rows)


def direct_observations(path: str | os.PathLike[str],
                        config: EnvConfig) -> tuple[list[tuple[str, int]], np.ndarray]:
    """The live path's way: ONE MarketData fed every frame of the session in order, ticks on its clock.

    A tick at ``k * tick_interval`` fires when the clock reaches it (after the frame that moved
    it); the markets whose book changed since their last tick and are fresh are decided
    (``tick_interval_s == 0``: after every frame, the markets it changed). A market's decisions
    end at its close (a closing lifecycle frame or its close time), as its episode does.
    """
    meta = read_header(path)
    md = MarketData(MarketInfo.from_session_header(meta))
    builder = ObservationBuilder(own_orders_in_book=False)
    cash = config.initial_cash
    interval = config.tick_interval_ms
    per_market: dict[str, list[tuple[int, np.ndarray]]] = {}
    dirty: set[str] = set()
    closed: set[str] = set()
    next_tick: int | None = None

    def decide(tickers: Iterable[str]) -> None:
        now = md.now_ms
        due = []
        for t in sorted(tickers):
            book = md.books.get(t)
            info = md.markets.get(t)
            if book is None or book.stale or info is None or t in closed:
                continue
            if info.close_time_ms is not None and now >= info.close_time_ms:
                closed.add(t)
                continue
            due.append(t)
        if due:
            obs = builder.build([MarketInput(md.books[t], md.history(t), md.markets[t], now, None, (), cash, cash)
                                 for t in due])
            for t, row in zip(due, obs):
                per_market.setdefault(t, []).append((now, row.copy()))

    for _, raw in read_frames(path):
        frame = md.feed(raw)
        if type(frame) is F.MarketLifecycleFrame and (frame.msg.event_type in _CLOSING or frame.msg.is_deactivated):
            closed.add(frame.msg.market_ticker)
        if interval <= 0:
            if md.changed:
                decide(md.changed)
            continue
        dirty.update(md.changed)
        clock = md.clock_ms
        if clock is None:
            continue
        if next_tick is None:
            next_tick = (clock // interval + 1) * interval
        elif clock >= next_tick:
            decide(dirty)
            dirty.clear()
            next_tick = (clock // interval + 1) * interval
    keys: list[tuple[str, int]] = []
    rows: list[np.ndarray] = []
    for t in sorted(per_market):
        for now, row in per_market[t]:
            keys.append((t, now))
            rows.append(row)
    return keys, _matrix(rows)


def _matrix(rows: list[np.ndarray]) -> np.ndarray:
    return np.stack(rows).astype(np.float32, copy=False) if rows else np.zeros((0, OBS_SIZE), np.float32)
