"""All books of one feed, with change notification that costs O(changed markets).

Every change bumps :attr:`BookStore.version` and records the ticker with that
version in an insertion-ordered log where a ticker moves to the end whenever it
changes again. :meth:`BookStore.changed_since` walks the log backwards and stops
at the first entry not newer than the caller's cursor, so a reader that polls
every tick pays for the markets that changed, never for all of them; any number
of readers can keep their own cursors. :attr:`BookStore.last_changed` is the log's
last entry: what one change was about, without a walk.

>>> store = BookStore()
>>> cursor = store.version
>>> store.apply_snapshot("KX-A", [(4200, 1300)], [(5500, 200)])
True
>>> tickers, cursor = store.changed_since(cursor)
>>> tickers
['KX-A']
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from ..units import Count, Price
from .book import Book, BookError, BookSide, Level


class BookStore:
    """Books by ticker. Only the owner of the feed writes; readers use cursors."""

    __slots__ = ("books", "version", "last_changed", "_log", "rejected_deltas")

    def __init__(self) -> None:
        self.books: dict[str, Book] = {}
        self.version = 0
        self._log: dict[str, int] = {}  # ticker -> version of its last change, oldest change first
        self.last_changed = ""  # the ticker of the latest change: the log's last entry ("" before any)
        self.rejected_deltas = 0  # deltas that took a level below zero (each marked its book stale)

    # --- writes ---

    def apply_snapshot(
        self, ticker: str, yes: Iterable[Level], no: Iterable[Level], *, market_id: str = "", ts_ms: int | None = None
    ) -> bool:
        """Replace a market's book (creating it if new); the book becomes fresh."""
        book = self.books.get(ticker)
        if book is None:
            book = self.books[ticker] = Book(ticker, market_id)
        elif market_id:
            book.market_id = market_id
        book.apply_snapshot(yes, no, ts_ms)
        self._touch(ticker)
        return True

    def apply_delta(self, ticker: str, side: BookSide, price: Price, delta: Count, ts_ms: int | None = None) -> bool:
        """Apply one level change. False when the book is unknown or stale, or the delta was impossible."""
        book = self.books.get(ticker)
        if book is None:
            return False
        try:
            applied = book.apply_delta(side, price, delta, ts_ms)
        except BookError:  # the book marked itself stale; readers must see that
            self.rejected_deltas += 1
            self._touch(ticker)
            return False
        if applied:
            self.version = version = self.version + 1
            if ticker != self.last_changed:  # else it is the log's last entry already: no move
                self._log.pop(ticker, None)
                self.last_changed = ticker
            self._log[ticker] = version
        return applied

    def mark_stale(self, tickers: Iterable[str], reason: str) -> int:
        """Mark books stale (e.g. after a sequence gap); returns how many were fresh before."""
        count = 0
        for ticker in tickers:
            book = self.books.get(ticker)
            if book is not None:
                count += not book.stale
                book.mark_stale(reason)
                self._touch(ticker)
        return count

    def mark_all_stale(self, reason: str) -> int:
        return self.mark_stale(list(self.books), reason)

    def remove(self, ticker: str) -> None:
        """Forget a market (e.g. after unsubscribing); readers see it as changed and then missing."""
        if self.books.pop(ticker, None) is not None:
            self._touch(ticker)

    def _touch(self, ticker: str) -> None:
        self.version += 1
        self._log.pop(ticker, None)
        self._log[ticker] = self.version
        self.last_changed = ticker

    # --- reads ---

    def get(self, ticker: str) -> Book | None:
        return self.books.get(ticker)

    def __getitem__(self, ticker: str) -> Book:
        return self.books[ticker]

    def __contains__(self, ticker: object) -> bool:
        return ticker in self.books

    def __iter__(self) -> Iterator[Book]:
        return iter(self.books.values())

    def __len__(self) -> int:
        return len(self.books)

    def changed_since(self, cursor: int) -> tuple[list[str], int]:
        """Tickers changed after ``cursor`` (most recent first) and the new cursor to pass next time.

        Cost is O(number of changed tickers). A ticker may be returned whose book
        has since been removed; check :meth:`get`.
        """
        version = self.version
        if cursor >= version:
            return [], version
        if cursor == version - 1:  # one change (the ingest path's usual case): the log's last entry
            return [self.last_changed], version
        changed: list[str] = []
        for ticker, version in reversed(self._log.items()):
            if version <= cursor:
                break
            changed.append(ticker)
        return changed, self.version

    def fresh(self) -> list[Book]:
        """Books that can be traded on (not stale)."""
        return [b for b in self.books.values() if not b.stale]
