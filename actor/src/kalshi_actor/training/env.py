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

Actions, masks and the position limit
-------------------------------------
``Discrete(n_actions(config.action))`` (the action config's space: the five seed actions, or
the maker set). :meth:`KalshiMarketEnv.action_masks` (sb3-contrib's convention: a bool array,
True = allowed) is :func:`~kalshi_actor.trading.actions.action_mask` for the current decision with
``config.max_position`` (all True until that function exists). The env ENFORCES the limit the
way the live risk layer does (:func:`within_position_limit`, the position rule of
``RiskManager._fit``): with position ``P`` (+YES/-NO) and our resting YES orders ``Y`` and NO
orders ``N``, an order may rest only while ``P + Y`` (a YES order) or ``N - P`` (a NO order)
stays within ``max_position``; a larger one is clipped to the room (whole contracts), one
without room is dropped. A masked action played anyway changes at most what the limit allows.

Reward and the end of an episode (money exact in micros; rewards are floats)
---------------------------------------------------------------------------
Reward at each step: the change of the market's equity (cash + the position marked at
``config.mark``, fees already out of cash) since the previous decision, in dollars times
``reward_scale``, minus ``inventory_penalty`` dollars per contract held per hour of
exchange time. The default mark is ``"bid"``, the LIQUIDATION mark (a YES contract is worth
the best YES bid): a passive fill books no profit when it fills -- a YES bid filled at the
best bid of an unchanged book is marked at what it cost, so its reward is minus its maker
fee (<= 0); the spread is earned when the position is closed from the other side, or at
settlement. (``"mid"`` booked half a spread as profit the moment a passive order filled.)

The episode TERMINATES when the market closes (a closing lifecycle frame, or the clock
passing its close time) or resolves; it is TRUNCATED when the session's data ends first, or
after ``max_episode_steps`` decisions (the market goes on: SB3 bootstraps the value there).
At the end the position is settled at $1.00 per winning contract if the session says how the
market resolved (``determined``/``settled`` lifecycle frames, even after the close; never at a
``max_episode_steps`` cut, which would look ahead). Otherwise, with ``config.liquidate``, it is
LIQUIDATED: sold at the held side's best bid (crossing the spread) less the taker fee of the
closing order, at the touch (depth ignored, as the marks ignore it); without it (models
trained before the field existed) it stays marked at ``config.mark``. The last reward includes
it. So the invariant, exact up to float rounding: ``sum(rewards) + info["penalty"] ==
info["net_pnl"] * reward_scale / 1e6``, where ``info["penalty"]`` is the inventory penalty
charged (reward units) and ``info["net_pnl"]`` (exact micros) the final equity minus the
initial cash: the settled P&L after fees, or, unresolved, what liquidating at the end nets.
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
from ..trading import actions as _actions
from ..trading.types import AmendOrder, CancelOrder, FillEvent, OrderIntent, PlaceOrder, WorkingOrder
from ..units import ONE_DOLLAR, Count, Money
from .fill_model import FillModel

__all__ = ["LIVE_MAX_POSITION", "EnvConfig", "KalshiMarketEnv", "ObsNormalisation", "Session", "load_session",
           "direct_observations", "env_observations", "n_actions", "normalise", "normalised_vec_env", "session_paths",
           "within_position_limit"]

_MICROS = 1_000_000  # micros per dollar
_CLOSING = frozenset({"deactivated", "closed", "determined", "settled"})
_RESOLVED = frozenset({"determined", "settled"})
_MARKET_FRAMES = (F.OrderbookDeltaFrame, F.OrderbookSnapshotFrame, F.TradeFrame, F.MarketLifecycleFrame)

# ops of a market's stream (see Session)
_FRAME, _TICK, _STALE = 0, 1, 2
_NEVER = 1 << 62  # a close time that never comes
_COUNT_STEP = 100  # the live risk layer's count_step: clipped sizes are whole contracts

LIVE_MAX_POSITION: Count = 10_000
"""The live risk layer's default per-market position limit, hundredths (``RiskLimits.max_position``: 100
contracts; ``actor.config.RiskLimits.max_position``)."""

_LEGACY: dict[str, Any] = {"max_position": None, "liquidate": False}
"""What a stored env config that lacks these keys meant (models trained before they existed):
no position limit in training, unresolved ends marked at ``mark``. (``mark`` and
``inventory_penalty`` have always been stored, so an old model keeps its ``"mid"`` and 0.)"""


def n_actions(config: ActionConfig) -> int:
    """How many actions the config's space has (the seed five where ``ActionConfig.n_actions`` is missing)."""
    return int(getattr(config, "n_actions", N_ACTIONS))


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
    ``max_position``: the live risk layer's per-market limit, hundredths (default its default, 100
    contracts): an order whose worst case (every resting contract of its side filled) would hold more is
    clipped to fit, or dropped (None: no limit); the action mask uses it too.
    ``liquidate``: an episode whose market does not resolve in the session ends with the position sold
    at the touch, taker fee included (a conservative end); False marks it at ``mark``, as before.

    Defaults are how NEW models train (bid marks, 5 cents per contract-hour, the live limit,
    liquidation). :meth:`from_dict` reads a stored config: keys it lacks take their OLD meaning
    (:data:`_LEGACY`), so an old model's config means what it meant.
    """

    tick_interval_s: float = 1.0
    action: ActionConfig = field(default_factory=ActionConfig)
    initial_cash: Money = 1_000 * _MICROS
    mark: Mark = "bid"
    inventory_penalty: float = 0.05
    reward_scale: float = 100.0
    fee_type: str = "quadratic"
    fee_multiplier: float = 1.0
    max_episode_steps: int | None = None
    max_position: Count | None = LIVE_MAX_POSITION
    liquidate: bool = True

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
        values = {**_LEGACY, **data}
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
    """One market of one session per episode; ``Box(52)`` float32 observations (raw: the network's input is
    normalised by the training wrapper, :func:`normalised_vec_env`), ``Discrete(n_actions)`` actions with
    :meth:`action_masks`.

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
        self.action_space = gym.spaces.Discrete(n_actions(config.action))
        self._builder = ObservationBuilder(own_orders_in_book=False, capacity=1)
        self._fees = FeeSchedule.of(config.fee_type, config.fee_multiplier)
        self._tick = config.tick_interval_ms > 0
        self._penalty = config.inventory_penalty / 3_600_000 / 100  # dollars per hundredth per ms
        self._scale = config.reward_scale / _MICROS
        self._action_mask = getattr(_actions, "action_mask", None)  # None until the action module has it
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
        self.penalty = 0.0  # the inventory penalty charged this episode, reward units
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
            intents = within_position_limit(intents, self._pos, fills.working(ticker), self.config.max_position)
        if intents:
            self._book_fills(fills.submit(intents, self.md.now_ms))
        self.steps += 1
        held = self._pos
        start_ms = self._last_ms
        ended = self._advance()
        limit = self.config.max_episode_steps
        cut = not ended and limit is not None and self.steps >= limit
        if ended or cut:
            self._finish(cut=cut)
        equity = self._final_equity if ended or cut else self._mark()
        now = self.md.now_ms
        reward = (equity - self._equity) * self._scale
        if held and self._penalty:
            penalty = self._penalty * abs(held) * (now - start_ms) * self.config.reward_scale
            reward -= penalty
            self.penalty += penalty
        self._equity = equity
        self._last_ms = now
        # a market that closed (or resolved) ends its MDP; data that runs out, or a step limit, only cuts it
        terminated = ended and (self._closed or self._result is not None)
        truncated = not terminated and (ended or cut)
        return self._observe(), float(reward), terminated, truncated, self._info()

    def action_masks(self) -> np.ndarray:
        """The actions allowed at the current decision (bool ``[n_actions]``, sb3-contrib's convention).

        :func:`~kalshi_actor.trading.actions.action_mask` on the decision's book, position and working
        orders with ``config.max_position``; all True when the episode is over or the action module has
        no mask yet (the env's position limit still holds: see :func:`within_position_limit`)."""
        n = self.action_space.n
        if self._action_mask is None or self._done or self.book is None or self.ticker not in self.md.markets:
            return np.ones(n, bool)
        mask = self._action_mask(self.config.action, self.book, self._pos, self.fills.working(self.ticker),
                                 self.config.max_position, grid=self.md.markets[self.ticker].grid)
        return np.asarray(mask, dtype=bool)

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

    def _finish(self, *, cut: bool = False) -> None:
        """The episode ends: settle if the session says how the market resolved (never at a step-limit ``cut``:
        that would look ahead), else liquidate (``config.liquidate``) or mark to market."""
        self._done = True
        self.fills.close_market(self.ticker)
        if self._result is not None and not cut:
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
        count = abs(pos)
        # selling YES at the YES bid is buying NO at ONE_DOLLAR - bid: the fee is that order's
        return cash + bid * count - self.fees.taker_fee(ONE_DOLLAR - bid, count)  # pips x hundredths = micros

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
                "position": self._pos, "fees": p.fees_paid, "fills": self.n_fills, "penalty": self.penalty}
        if self._done:
            info["net_pnl"] = self._equity - self.config.initial_cash
            info["settled"] = self._result
        return info


def within_position_limit(intents: Sequence[OrderIntent], position: Count, working: Sequence[WorkingOrder],
                          limit: Count, step: Count = _COUNT_STEP) -> list[OrderIntent]:
    """The intents the live risk layer's position rule lets through (``RiskManager._fit``), in order.

    An order on side ``S`` with ``wanted`` remaining gets ``room = limit - own - resting(S)``, where
    ``own`` is the position on ``S`` (``P`` for YES, ``-P`` for NO) and ``resting(S)`` what our other
    orders on ``S`` still have working (after this batch's cancels and earlier orders): so, every order
    of one side filled, the position stays within ``limit``. ``wanted > room`` is clipped to the room
    rounded down to ``step`` (an amend keeps its filled part in ``count``); no room drops the order.
    Cancels pass (they reduce risk)."""
    resting: dict[str, tuple[str, Count]] = {o.order_id: (o.side, o.remaining) for o in working}
    filled = {o.order_id: o.filled for o in working}
    kept: list[OrderIntent] = []
    for index, intent in enumerate(intents):
        kind = type(intent)
        if kind is CancelOrder:
            resting.pop(intent.order_id, None)
            kept.append(intent)
            continue
        if kind is not PlaceOrder and kind is not AmendOrder:
            kept.append(intent)
            continue
        key = intent.order_id if kind is AmendOrder else f"new-{index}"
        already = filled.get(key, 0) if kind is AmendOrder else 0
        side = intent.side
        wanted = intent.count - already
        own = position if side == "yes" else -position
        room = limit - own - sum(r for k, (s, r) in resting.items() if s == side and k != key)
        if room < wanted:
            room -= room % step
            if room <= 0:
                continue
            intent = replace(intent, count=already + room)
            wanted = room
        resting[key] = (side, wanted)
        kept.append(intent)
    return kept


# --- observation normalisation: frozen running statistics, one formula for training and live ---

OBS_NORM_EPSILON = 1e-2
"""Added to the variance: the features already live in [-1, 1], so a feature (nearly) constant in training
is scaled up at most 10x (std floored at 0.1) instead of blowing up live."""
OBS_NORM_CLIP = 5.0


def normalise(obs: np.ndarray, mean: np.ndarray, var: np.ndarray, epsilon: float, clip: float) -> np.ndarray:
    """``clip((obs - mean) / sqrt(var + epsilon), -clip, clip)`` in float64 (VecNormalize's formula);
    callers cast to float32 (as VecNormalize does)."""
    return np.clip((obs - mean) / np.sqrt(var + epsilon), -clip, clip)


@dataclass(frozen=True, eq=False)
class ObsNormalisation:
    """Frozen per-feature statistics of the training observations (float64 ``[OBS_SIZE]``), stored with the
    model (``metadata.extra["obs_normalisation"]``, :meth:`to_dict`) and applied by :meth:`apply` to every
    observation the network sees: in training (the :func:`normalised_vec_env` wrapper, while the
    statistics still run) and live (:meth:`Policy.predict <kalshi_actor.training.policy.Policy.predict>`).
    JSON floats round-trip exactly, so live applies bit for bit what training froze."""

    mean: np.ndarray
    var: np.ndarray
    count: float
    epsilon: float = OBS_NORM_EPSILON
    clip: float = OBS_NORM_CLIP

    def __post_init__(self) -> None:
        for name in ("mean", "var"):
            value = np.asarray(getattr(self, name), dtype=np.float64)
            if value.shape != (OBS_SIZE,) or not np.isfinite(value).all():
                raise ValueError(f"obs normalisation {name} must be {OBS_SIZE} finite numbers")
            object.__setattr__(self, name, value)
        if (self.var < 0).any() or not self.epsilon > 0 or not self.clip > 0:
            raise ValueError("obs normalisation needs var >= 0, epsilon > 0 and clip > 0")

    def apply(self, obs: np.ndarray) -> np.ndarray:
        """The network's input for raw observations (float32, same shape)."""
        return normalise(obs, self.mean, self.var, self.epsilon, self.clip).astype(np.float32)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "running_mean_std", "mean": self.mean.tolist(), "var": self.var.tolist(),
                "count": float(self.count), "epsilon": self.epsilon, "clip": self.clip}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ObsNormalisation:
        if data.get("kind") != "running_mean_std":
            raise ValueError(f"unknown obs normalisation {data.get('kind')!r}")
        return cls(np.asarray(data["mean"], np.float64), np.asarray(data["var"], np.float64), float(data["count"]),
                   float(data["epsilon"]), float(data["clip"]))

    @classmethod
    def of(cls, vec: Any) -> ObsNormalisation:
        """The statistics of a :func:`normalised_vec_env` wrapper, copied (freeze it: ``vec.training = False``)."""
        rms = vec.obs_rms
        return cls(rms.mean.copy(), rms.var.copy(), float(rms.count), vec.obs_epsilon, float(vec.clip_obs))


def normalised_vec_env(venv: Any, *, gamma: float, norm_reward: bool = True) -> Any:
    """SB3's ``VecNormalize`` over ``venv`` with this module's observation formula (:func:`normalise`,
    ``epsilon`` :data:`OBS_NORM_EPSILON` for observations only) and rewards scaled by the running std of the
    discounted return (training only: rewards never reach live). Action masks pass through (``env_method``)."""
    from stable_baselines3.common.vec_env import VecNormalize

    class Normalised(VecNormalize):
        obs_epsilon = OBS_NORM_EPSILON

        def _normalize_obs(self, obs: np.ndarray, obs_rms: Any) -> np.ndarray:
            return normalise(obs, obs_rms.mean, obs_rms.var, self.obs_epsilon, self.clip_obs)

    return Normalised(venv, norm_obs=True, norm_reward=norm_reward, clip_obs=OBS_NORM_CLIP, gamma=gamma)


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
