"""One market's exact order book: YES bids and NO bids; asks are derived.

Prices are int pips on each side's own scale (a NO bid at ``q`` is a YES ask at
``ONE_DOLLAR - q``), sizes int hundredths of a contract. Nothing here knows about
JSON or any venue: the Kalshi adapter converts frames into the calls below.

The best bid of each side is tracked lazily: raising a level above the best
updates it in O(1); removing the best level only marks it unknown, and the next
read recomputes it. Deltas on the hot path therefore cost a dict update.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from ..units import ONE_DOLLAR, Count, Price

BookSide = Literal["yes", "no"]
Level = tuple[Price, Count]

_EMPTY = -1  # best price of an empty side
_UNKNOWN = None  # best price must be recomputed


class BookError(ValueError):
    """A book operation that cannot be applied (e.g. a delta taking a level below zero)."""


class Book:
    """The book of one market.

    ``yes`` and ``no`` map price (pips) -> resting size (hundredths, always > 0).
    ``stale`` is True until the first snapshot, and again whenever the book can no
    longer be trusted (a sequence gap, an impossible delta); ``stale_reason`` says why.
    A stale book ignores deltas until :meth:`apply_snapshot` replaces it.
    """

    __slots__ = ("ticker", "market_id", "yes", "no", "stale", "stale_reason", "ts_ms", "_best_yes", "_best_no")

    def __init__(self, ticker: str, market_id: str = "") -> None:
        self.ticker = ticker
        self.market_id = market_id
        self.yes: dict[Price, Count] = {}
        self.no: dict[Price, Count] = {}
        self.stale = True
        self.stale_reason = "no snapshot yet"
        self.ts_ms: int | None = None  # exchange time of the last applied change, when known
        self._best_yes: Price | None = _EMPTY
        self._best_no: Price | None = _EMPTY

    # --- updates ---

    def apply_snapshot(self, yes: Iterable[Level], no: Iterable[Level], ts_ms: int | None = None) -> None:
        """Replace both sides (levels with size <= 0 are dropped) and mark the book fresh."""
        self.yes = {p: s for p, s in yes if s > 0}
        self.no = {p: s for p, s in no if s > 0}
        self._best_yes = _UNKNOWN
        self._best_no = _UNKNOWN
        self.stale = False
        self.stale_reason = ""
        if ts_ms is not None:
            self.ts_ms = ts_ms

    def apply_delta(self, side: BookSide, price: Price, delta: Count, ts_ms: int | None = None) -> bool:
        """Add ``delta`` to one level. Returns False (and changes nothing) if the book is stale.

        A delta that would take a level below zero marks the book stale and raises
        :class:`BookError`: the venue's book and ours disagree, so ours must be rebuilt.
        """
        if self.stale:
            return False
        if ts_ms is not None:
            self.ts_ms = ts_ms
        if side == "yes":
            levels = self.yes
            size = levels.get(price, 0) + delta
            if size > 0:
                levels[price] = size
                best = self._best_yes
                if best is not None and price > best:
                    self._best_yes = price
                return True
            if size == 0:
                if levels.pop(price, None) is not None and price == self._best_yes:
                    self._best_yes = _UNKNOWN
                return True
        else:
            levels = self.no
            size = levels.get(price, 0) + delta
            if size > 0:
                levels[price] = size
                best = self._best_no
                if best is not None and price > best:
                    self._best_no = price
                return True
            if size == 0:
                if levels.pop(price, None) is not None and price == self._best_no:
                    self._best_no = _UNKNOWN
                return True
        self.mark_stale(f"delta {delta} at {side} {price} would take the level to {size}")
        raise BookError(f"{self.ticker}: {self.stale_reason}")

    def set_level(self, side: BookSide, price: Price, size: Count) -> None:
        """Set one level to an absolute size (0 removes it); for mirrors fed with absolute sizes."""
        levels = self.yes if side == "yes" else self.no
        best = self._best_yes if side == "yes" else self._best_no
        if size > 0:
            levels[price] = size
            if best is not None and price > best:
                best = price
        elif levels.pop(price, None) is not None and price == best:
            best = _UNKNOWN
        if side == "yes":
            self._best_yes = best
        else:
            self._best_no = best

    def mark_stale(self, reason: str) -> None:
        """Stop trusting this book until the next snapshot."""
        self.stale = True
        self.stale_reason = reason

    # --- reads ---

    @property
    def best_yes_bid_price(self) -> Price | None:
        best = self._best_yes
        if best is None:
            best = self._best_yes = max(self.yes) if self.yes else _EMPTY
        return None if best == _EMPTY else best

    @property
    def best_no_bid_price(self) -> Price | None:
        best = self._best_no
        if best is None:
            best = self._best_no = max(self.no) if self.no else _EMPTY
        return None if best == _EMPTY else best

    def best_yes_bid(self) -> Level | None:
        """Highest YES bid as ``(price, size)``, or None when the side is empty."""
        price = self.best_yes_bid_price
        return None if price is None else (price, self.yes[price])

    def best_no_bid(self) -> Level | None:
        price = self.best_no_bid_price
        return None if price is None else (price, self.no[price])

    def best_yes_ask(self) -> Level | None:
        """Lowest YES ask ``(ONE_DOLLAR - best NO bid, its size)``."""
        price = self.best_no_bid_price
        return None if price is None else (ONE_DOLLAR - price, self.no[price])

    def best_no_ask(self) -> Level | None:
        """Lowest NO ask ``(ONE_DOLLAR - best YES bid, its size)``."""
        price = self.best_yes_bid_price
        return None if price is None else (ONE_DOLLAR - price, self.yes[price])

    def bids(self, side: BookSide, n: int | None = None) -> list[Level]:
        """The best ``n`` bids of one side (all if None), best (highest price) first."""
        levels = self.yes if side == "yes" else self.no
        return sorted(levels.items(), reverse=True)[:n]

    def asks(self, side: BookSide, n: int | None = None) -> list[Level]:
        """The best ``n`` asks of one side, best (lowest price) first, derived from the other side's bids."""
        other = "no" if side == "yes" else "yes"
        return [(ONE_DOLLAR - p, s) for p, s in self.bids(other, n)]

    def spread(self) -> Price | None:
        """YES ask minus YES bid, in pips (negative when the book is crossed)."""
        bid = self.best_yes_bid_price
        no_bid = self.best_no_bid_price
        if bid is None or no_bid is None:
            return None
        return ONE_DOLLAR - no_bid - bid

    def mid(self) -> float | None:
        """YES mid price in pips (a float: a feature, not money)."""
        bid = self.best_yes_bid_price
        no_bid = self.best_no_bid_price
        if bid is None or no_bid is None:
            return None
        return (bid + ONE_DOLLAR - no_bid) / 2

    def microprice(self) -> float | None:
        """Size-weighted YES mid in pips: ``(bid * ask_size + ask * bid_size) / (bid_size + ask_size)``.

        A float: it is a feature for the policy, not a price to trade at.
        """
        bid = self.best_yes_bid()
        ask = self.best_yes_ask()
        if bid is None or ask is None:
            return None
        (bp, bs), (ap, as_) = bid, ask
        return (bp * as_ + ap * bs) / (bs + as_)

    def levels(self) -> tuple[list[Level], list[Level]]:
        """Both sides as ascending ``(price, size)`` lists, the wire's order."""
        return sorted(self.yes.items()), sorted(self.no.items())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Book):
            return NotImplemented
        return self.ticker == other.ticker and self.yes == other.yes and self.no == other.no

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        state = f"stale: {self.stale_reason}" if self.stale else "fresh"
        return (
            f"Book({self.ticker!r}, yes_bid={self.best_yes_bid()}, yes_ask={self.best_yes_ask()}, "
            f"levels={len(self.yes)}+{len(self.no)}, {state})"
        )
