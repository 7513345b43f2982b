"""Venue-neutral order books: YES bids and NO bids per market, asks derived (see :mod:`.book`)."""

from .book import Book, BookError, BookSide, Level
from .store import BookStore

__all__ = ["Book", "BookError", "BookSide", "BookStore", "Level"]
