"""MarketData: the one ingest path from raw frames to books, history and the exchange clock.

Training feeds it frames from sessions, the live actor frames from the WebSocket,
through the same :meth:`MarketData.feed` (decode, then :meth:`MarketData.ingest`; a
recorded session is decoded once and its frames handed to ``ingest`` directly)::

    md = MarketData([MarketInfo.from_market(m) for m in markets])
    for recv_ts_ns, raw in read_frames(path):
        md.feed(raw)
        for ticker in md.changed:           # books changed by this frame
            book = md.books[ticker]          # exact book; never trade it while book.stale
            history = md.history(ticker)

Frames go through :class:`~kalshi_actor.kalshi.ws.FrameIngestor` (decode, per-sid
sequence check, books); a gap or an impossible delta marks the books stale there,
and :attr:`MarketData.changed` lists them like any other change.

The exchange clock (:attr:`MarketData.clock_ms`) is the largest ``ts_ms`` seen so far
on the market-data frames (``orderbook_delta``, ``trade``, ``ticker``; a trade without
``ts_ms`` counts its ``ts`` seconds). It never reads wall time and never moves back.
Every recorded event is stamped with the clock *after* its own ``ts_ms`` was taken in,
so a snapshot (which has no ``ts_ms``) is stamped with the time of the last frame
before it, and stamps never decrease. Before any ``ts_ms`` arrives the clock is None
and events are stamped 0 ("before everything"): a first snapshot is the state the
market was in before the first timed change.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..books import Book, BookStore
from ..kalshi import frames as F
from ..kalshi.grid import TickGrid
from ..kalshi.ws import FrameIngestor
from ..units import ONE_DOLLAR
from .history import MarketHistory
from .info import MarketInfo

__all__ = ["MarketData"]

_Delta = F.OrderbookDeltaFrame
_Trade = F.TradeFrame
_Ticker = F.TickerFrame
_Lifecycle = F.MarketLifecycleFrame


class MarketData:
    """Books + per-market history + market context + the exchange clock, fed frame by frame.

    ``markets``: the context of the markets followed (more can be added with
    :meth:`add_market`). ``ingestor``: an existing :class:`FrameIngestor` to wrap (a
    new one over a new :class:`BookStore` by default).
    """

    __slots__ = ("ingestor", "books", "markets", "clock_ms", "changed", "_histories", "_decode", "_ingest")

    def __init__(self, markets: Iterable[MarketInfo] = (), *, ingestor: FrameIngestor | None = None) -> None:
        self.ingestor = ingestor if ingestor is not None else FrameIngestor(BookStore())
        self.books: BookStore = self.ingestor.store
        self.markets: dict[str, MarketInfo] = {m.ticker: m for m in markets}
        self.clock_ms: int | None = None
        self.changed: list[str] = []  # tickers whose book changed (or went stale) in the last feed
        self._histories: dict[str, MarketHistory] = {}
        self._decode = self.ingestor.decode
        self._ingest = self.ingestor.ingest

    @property
    def now_ms(self) -> int:
        """The exchange clock, 0 before any ``ts_ms`` was seen: pass it as the observation's ``now_ms``."""
        clock = self.clock_ms
        return 0 if clock is None else clock

    def add_market(self, info: MarketInfo) -> None:
        """Set (or replace) a market's context."""
        self.markets[info.ticker] = info

    def remove_market(self, ticker: str) -> None:
        """Forget a market no longer followed: its book, context and history (bounded memory over market changes)."""
        self.books.remove(ticker)
        self.markets.pop(ticker, None)
        self._histories.pop(ticker, None)

    def history(self, ticker: str) -> MarketHistory:
        """The market's history (an empty one if nothing was recorded for it yet)."""
        history = self._histories.get(ticker)
        if history is None:
            history = self._histories[ticker] = MarketHistory()
        return history

    def book(self, ticker: str) -> Book | None:
        return self.books.get(ticker)

    def feed(self, raw: bytes | str) -> F.Frame | F.UnknownFrame | None:
        """Ingest one raw frame; returns what :meth:`FrameIngestor.feed` returns (frames that are not book updates)."""
        frame = self._decode(raw)
        if frame is None:  # malformed (the ingestor counted it): nothing changed
            self.changed = []
            return None
        return self.ingest(frame)

    def ingest(self, frame: F.Frame | F.UnknownFrame) -> F.Frame | F.UnknownFrame | None:
        """:meth:`feed` for a frame decoded by :meth:`FrameIngestor.decode` (recorded sessions decode once)."""
        store = self.books
        before = store.version
        frame = self._ingest(frame)
        version = store.version
        if version != before:
            # inline, not a helper: this runs for every delta, and training feeds millions of them
            # (one change, the usual case, is the store's last one: no call)
            changed = [store.last_changed] if version == before + 1 else store.changed_since(before)[0]
            self.changed = changed
            books = store.books
            clock = self.clock_ms
            for ticker in changed:
                book = books.get(ticker)
                if book is None or book.stale:
                    continue  # removed, or gapped: nothing to record until the next snapshot
                ts = book.ts_ms  # the delta's ts_ms (a snapshot leaves the last one: never above the clock)
                if ts is not None and (clock is None or ts > clock):
                    self.clock_ms = clock = ts
                bid = book.best_yes_bid_price
                no_bid = book.best_no_bid_price
                history = self._histories.get(ticker)
                if history is None:
                    history = self._histories[ticker] = MarketHistory()
                history.on_book(0 if clock is None else clock,
                                None if bid is None or no_bid is None else bid + ONE_DOLLAR - no_bid)
        elif self.changed:
            self.changed = []
        if frame is not None:
            kind = type(frame)
            if kind is _Ticker:
                ts = frame.msg.ts_ms
                if ts is not None and (self.clock_ms is None or ts > self.clock_ms):
                    self.clock_ms = ts
            elif kind is _Trade:
                self._trade(frame.msg)
            elif kind is _Lifecycle:
                self._lifecycle(frame.msg)
        return frame

    def _trade(self, msg: F.TradeMsg) -> None:
        ts = msg.ts_ms
        if ts is None and msg.ts is not None:
            ts = msg.ts * 1000
        clock = self.clock_ms
        if ts is not None and (clock is None or ts > clock):
            self.clock_ms = clock = ts
        try:
            count, price = msg.count, msg.yes_price
        except F.FrameError:
            return  # a trade without size or price tells the history nothing
        self.history(msg.market_ticker).on_trade(0 if clock is None else clock, msg.taker_outcome, count, price)

    def _lifecycle(self, msg: F.LifecycleMsg) -> None:
        info = self.markets.get(msg.market_ticker)
        grid = None
        if msg.price_ranges:
            try:
                bands = [{"start": r.start, "end": r.end, "step": r.step} for r in msg.price_ranges]
                grid = TickGrid.from_ranges(bands)
            except ValueError:  # GridError, or bad dollar strings: keep the grid we have
                grid = None
        close_ms = None if msg.close_ts is None else msg.close_ts * 1000
        if info is None:
            if grid is not None:
                self.markets[msg.market_ticker] = MarketInfo(msg.market_ticker, grid, close_ms)
        elif grid is not None or (close_ms is not None and close_ms != info.close_time_ms):
            self.markets[msg.market_ticker] = info.replace(grid=grid, close_time_ms=close_ms)

    def __repr__(self) -> str:
        return f"MarketData(books={len(self.books)}, markets={len(self.markets)}, clock_ms={self.clock_ms})"
