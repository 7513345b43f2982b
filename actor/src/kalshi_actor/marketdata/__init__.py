"""Market data for the policy: one ingest path (frames -> books, history, clock) for training and live."""

from .history import (
    EVENT_CAPACITY,
    EVENT_WINDOWS,
    SUMMARY_FIELDS,
    TIME_WINDOWS_MS,
    TRADE_CAPACITY,
    TRADE_WINDOWS_MS,
    MarketHistory,
)
from .info import MarketInfo
from .ingest import MarketData

__all__ = [
    "EVENT_CAPACITY",
    "EVENT_WINDOWS",
    "SUMMARY_FIELDS",
    "TIME_WINDOWS_MS",
    "TRADE_CAPACITY",
    "TRADE_WINDOWS_MS",
    "MarketData",
    "MarketHistory",
    "MarketInfo",
]
