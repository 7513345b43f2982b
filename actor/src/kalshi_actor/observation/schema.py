"""The observation schema: every feature's name, formula, unit, normalisation, range and fill.

This tuple of :class:`Feature` records is the single description of what the policy
sees. The builder (:mod:`.builder`) computes each feature's raw value in the stated
unit, then applies the stated normalisation with the stated scale, read from here.
:data:`SCHEMA_HASH` is the sha256 of the canonical JSON of this description: every
model stores it, and a model whose hash differs from the running code's is refused.
Change a name, formula, unit, scale, range, fill or the order of features, and the
hash changes.

Conventions. Prices are YES prices unless stated: "bid" is the best YES bid, "ask" the
best YES ask (= $1 - the best NO bid). "Ticks" count steps of the market's tick grid
(which may be finer near $0 and $1). ``mid`` is (bid + ask) / 2; when a side is empty,
the last two-sided mid (the history carries it forward). Depth ``B_k`` is the YES bid
size on the ``k`` grid prices from the best bid downward, ``A_k`` the NO bid size on
the ``k`` NO-grid prices from the best NO bid downward (the YES asks). Sizes are in
contracts, money in dollars, times in seconds of the EXCHANGE clock (frames' ``ts_ms``;
``now`` is :attr:`MarketData.now_ms`), never wall time. The book features describe the
market *without our own resting orders* (live books contain them, session books do
not; the builder removes them when told they are in).

Normalisations (``x`` = the raw value in its unit, ``s`` = the scale):

- ``identity``: the raw value, already within the range;
- ``linear``: ``x / s`` clipped to the range;
- ``log1p``: ``log(1 + x) / log(1 + s)`` for ``x >= 0``, clipped to [0, 1];
- ``slog``: ``sign(x) * log(1 + |x|) / log(1 + s)``, clipped to [-1, 1].

Every feature is float32, finite, and inside ``[low, high]``; a raw value that does
not exist (an empty side, no trade yet, no order) takes the ``fill`` stated.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Literal

from ..marketdata.history import (
    EVENT_CAPACITY,
    EVENT_WINDOWS,
    TIME_WINDOWS_MS,
    TRADE_CAPACITY,
    TRADE_WINDOWS_MS,
)

__all__ = ["Feature", "FEATURES", "FEATURE_NAMES", "OBS_SIZE", "SCHEMA_HASH", "SCHEMA_VERSION", "schema_hash",
           "describe"]

Norm = Literal["identity", "linear", "log1p", "slog"]

SCHEMA_VERSION = 1

SIZE_SCALE = 1e6  # contracts: the largest book sizes seen on Kalshi are ~1.4M contracts at a level
CENTS_SCALE = 50.0  # cents: price moves
HOUR_S = 3600.0
OWN_SIZE_SCALE = 1000.0  # contracts: our own positions and orders
MONEY_SCALE = 1000.0  # dollars
CLOSE_SCALE_S = 30 * 86400.0  # seconds: a month


@dataclass(frozen=True, slots=True)
class Feature:
    name: str
    group: str  # book | history | trades | market | portfolio | orders
    formula: str  # the raw value, in words and symbols
    unit: str  # the raw value's unit
    norm: Norm
    scale: float  # the normalisation's parameter (1 for identity)
    low: float
    high: float
    fill: str  # the feature's value when the raw value does not exist, and why


def _f(name: str, group: str, formula: str, unit: str, norm: Norm, scale: float, low: float, high: float,
       fill: str = "never missing") -> Feature:
    return Feature(name, group, formula, unit, norm, float(scale), float(low), float(high), fill)


def _seconds(ms: int) -> str:
    return f"{ms // 1000}s"


def _features() -> tuple[Feature, ...]:
    f: list[Feature] = []
    add = f.append
    # --- the book (without our own orders) ---
    add(_f("yes_bid", "book", "best YES bid", "dollars", "identity", 1, 0, 1, "0 when no YES bid"))
    add(_f("yes_ask", "book", "best YES ask = 1 - best NO bid", "dollars", "identity", 1, 0, 1,
           "1 when no NO bid"))
    add(_f("two_sided", "book", "1 if both sides have a bid, else 0", "indicator", "identity", 1, 0, 1))
    add(_f("microprice", "book", "(bid * A_1 + ask * B_1) / (B_1 + A_1)", "dollars", "identity", 1, 0, 1,
           "the last two-sided mid when a side is empty; 0.5 before any"))
    add(_f("spread_ticks", "book", "grid ticks from bid to ask", "ticks", "log1p", 100, 0, 1,
           "1 (100 ticks) when a side is empty"))
    add(_f("tick_size", "book", "grid step above the bid (above the ask if no bid, above 0.50 if the book is "
           "empty)", "cents", "linear", 1, 0, 1))
    add(_f("bid_size_l1", "book", "B_1: size at the best YES bid", "contracts", "log1p", SIZE_SCALE, 0, 1,
           "0 when no YES bid"))
    add(_f("ask_size_l1", "book", "A_1: size at the best YES ask", "contracts", "log1p", SIZE_SCALE, 0, 1,
           "0 when no NO bid"))
    for k in (1, 3, 10):
        add(_f(f"imbalance_{k}", "book", f"(B_{k} - A_{k}) / (B_{k} + A_{k})", "ratio", "identity", 1, -1, 1,
               "0 when both are 0"))
    add(_f("bid_depth_10", "book", "B_10", "contracts", "log1p", SIZE_SCALE, 0, 1))
    add(_f("ask_depth_10", "book", "A_10", "contracts", "log1p", SIZE_SCALE, 0, 1))
    # --- history of book changes (exchange clock) ---
    for k in EVENT_WINDOWS:
        add(_f(f"ret_ev{k}", "history", f"mid now - mid {k} book changes ago (the first change's mid while fewer)",
               "cents", "slog", CENTS_SCALE, -1, 1, "0 before any change"))
    for t in TIME_WINDOWS_MS:
        add(_f(f"ret_{_seconds(t)}", "history", f"mid now - mid in force at now - {t / 1000:g} s (the first "
               f"change's mid while the history is shorter; the oldest kept when the window holds more than the "
               f"{EVENT_CAPACITY} changes kept)", "cents", "slog", CENTS_SCALE, -1, 1, "0 before any change"))
    add(_f(f"rv_ev{EVENT_WINDOWS[1]}", "history", f"sqrt(sum of squared mid changes over the last "
           f"{EVENT_WINDOWS[1]} book changes)", "cents", "log1p", CENTS_SCALE, 0, 1, "0 before any change"))
    for t in TIME_WINDOWS_MS[1:]:
        add(_f(f"rv_{_seconds(t)}", "history", f"sqrt(sum of squared mid changes over the book changes in "
               f"(now - {t / 1000:g} s, now])", "cents", "log1p", CENTS_SCALE, 0, 1, "0 before any change"))
    for t, cap in zip(TIME_WINDOWS_MS, (100, 1000, EVENT_CAPACITY)):
        add(_f(f"updates_{_seconds(t)}", "history", f"book changes in (now - {t / 1000:g} s, now], at most "
               f"{EVENT_CAPACITY - 1}", "count", "log1p", cap, 0, 1, "0 before any change"))
    add(_f("since_update", "history", "now - time of the last book change", "seconds", "log1p", HOUR_S, 0, 1,
           "1 (an hour or more) before any change"))
    add(_f("history_span", "history", f"now - time of the oldest book change kept (at most {EVENT_CAPACITY})",
           "seconds", "log1p", TIME_WINDOWS_MS[-1] / 1000, 0, 1, "0 before any change"))
    # --- trades ---
    for t in TRADE_WINDOWS_MS:
        add(_f(f"flow_{_seconds(t)}", "trades", f"(taker-bought-YES size - taker-bought-NO size) / total size of the "
               f"trades in (now - {t / 1000:g} s, now]", "ratio", "identity", 1, -1, 1, "0 without trades"))
    for t in TRADE_WINDOWS_MS:
        add(_f(f"volume_{_seconds(t)}", "trades", f"size traded in (now - {t / 1000:g} s, now]", "contracts",
               "log1p", 1e5, 0, 1, "0 without trades"))
    for t, cap in zip(TRADE_WINDOWS_MS, (100, TRADE_CAPACITY)):
        add(_f(f"trades_{_seconds(t)}", "trades",
               f"trades in (now - {t / 1000:g} s, now], at most {TRADE_CAPACITY - 1}", "count", "log1p", cap, 0, 1, "0 without trades"))
    add(_f("since_trade", "trades", "now - time of the last trade", "seconds", "log1p", HOUR_S, 0, 1,
           "1 (an hour or more) before any trade"))
    add(_f("last_trade_vs_mid", "trades", "YES price of the last trade - mid", "cents", "slog", CENTS_SCALE, -1, 1,
           "0 before any trade"))
    # --- market ---
    add(_f("time_to_close", "market", "close time - now (0 once closed)", "seconds", "log1p", CLOSE_SCALE_S, 0, 1,
           "1 when the close time is unknown"))
    # --- portfolio (this market, and the account) ---
    add(_f("position", "portfolio", "signed position: + YES contracts / - NO contracts", "contracts", "slog",
           OWN_SIZE_SCALE, -1, 1))
    add(_f("entry_edge", "portfolio", "mark - average cost per contract of the held side (mark: mid for YES, "
           "1 - mid for NO; average cost: cost_basis / |position|)", "cents", "slog", CENTS_SCALE, -1, 1,
           "0 when flat"))
    add(_f("unrealized_pnl", "portfolio", "|position| * (mark - average cost), fees excluded", "dollars", "slog",
           MONEY_SCALE, -1, 1, "0 when flat"))
    add(_f("realized_pnl", "portfolio", "this market's realized P&L minus its fees paid", "dollars", "slog",
           MONEY_SCALE, -1, 1))
    add(_f("cash_ratio", "portfolio", "account cash / account equity", "ratio", "linear", 1, 0, 1,
           "0 when equity <= 0"))
    add(_f("exposure_ratio", "portfolio", "|position| * mark / account equity", "ratio", "linear", 1, 0, 1,
           "0 when flat or equity <= 0"))
    # --- our resting orders: at most one YES bid and one NO bid ---
    for side in ("yes", "no"):
        none = f"0 without a {side.upper()} order"
        add(_f(f"{side}_order_distance", "orders", f"grid ticks from the best {side.upper()} bid of others down to "
               f"our {side.upper()} bid (> 0 behind, 0 joining, < 0 improving it)", "ticks", "linear", 10, -1, 1,
               f"{none}; -1 (improving) when no one else bids"))
        add(_f(f"{side}_order_size", "orders", f"remaining size of our {side.upper()} bid (0: no order, the "
               "indicator)", "contracts", "log1p", OWN_SIZE_SCALE, 0, 1, none))
        add(_f(f"{side}_order_age", "orders", f"now - placement time of our {side.upper()} bid", "seconds", "log1p",
               HOUR_S, 0, 1, none))
        add(_f(f"{side}_order_queue", "orders", f"size resting ahead of our {side.upper()} bid at its price",
               "contracts", "log1p", SIZE_SCALE, 0, 1, none))
        add(_f(f"{side}_order_filled", "orders", f"filled / (filled + remaining) of our {side.upper()} bid",
               "fraction", "identity", 1, 0, 1, none))
    return tuple(f)


FEATURES: tuple[Feature, ...] = _features()
FEATURE_NAMES: tuple[str, ...] = tuple(x.name for x in FEATURES)
OBS_SIZE = len(FEATURES)
assert len(set(FEATURE_NAMES)) == OBS_SIZE, "feature names must be unique"


def schema_hash(features: Sequence[Feature] = FEATURES, version: int = SCHEMA_VERSION) -> str:
    """sha256 (hex) of the canonical JSON of ``features`` (order included) and the schema version."""
    doc = {"version": version, "features": [asdict(x) for x in features]}
    return hashlib.sha256(json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


SCHEMA_HASH = schema_hash()


def describe(features: Sequence[Feature] = FEATURES) -> str:
    """The schema as a Markdown table (for docs and model cards)."""
    rows = ["| # | name | formula | unit | normalisation | range | fill |", "|---|---|---|---|---|---|---|"]
    for i, x in enumerate(features):
        norm = x.norm if x.norm == "identity" else f"{x.norm}(s={x.scale:g})"
        rows.append(f"| {i} | `{x.name}` | {x.formula} | {x.unit} | {norm} | [{x.low:g}, {x.high:g}] | {x.fill} |")
    return "\n".join(rows)
