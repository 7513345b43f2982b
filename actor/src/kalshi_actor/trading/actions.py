"""The action space: a discrete action id -> order intents on the market's tick grid.

ONE mapping, used unchanged by the training environment and the live actor; its
:class:`ActionConfig` is stored with every model (:meth:`ActionConfig.to_dict`, checked
on load by :meth:`ActionConfig.from_dict` and :attr:`ActionConfig.hash`).

Kalshi's book is unified: there are only bids, YES bids and NO bids. Buying YES and
"selling NO" both rest a YES bid; buying NO and "selling YES" both rest a NO bid (a NO
bid at ``q`` is an offer of YES at ``ONE_DOLLAR - q``). Selling from flat is therefore
buying the other side, and costs money like any purchase.

The actions (see :class:`~kalshi_actor.trading.types.Action`)
--------------------------------------------------------------
=================  =========  =============================================================
action             book side  size
=================  =========  =============================================================
``HOLD``           --         nothing changes: working orders keep working
``BUY_YES_LIMIT``  yes        ``config.size``: open or add to YES (or close NO)
``SELL_YES_LIMIT`` no         reduce YES first: ``min(config.size, YES held)`` when long
                              YES; otherwise (flat or long NO) ``config.size`` of NO
``BUY_NO_LIMIT``   no         ``config.size``: open or add to NO (or close YES)
``SELL_NO_LIMIT``  yes        reduce NO first: ``min(config.size, NO held)`` when long NO;
                              otherwise ``config.size`` of YES
=================  =========  =============================================================

So ``SELL_YES`` and ``BUY_NO`` (and ``SELL_NO`` and ``BUY_YES``) rest on the same book
side and differ in size: a SELL never turns a long position into the opposite one in
one order; a BUY does whatever the size says.

Prices (``config.pricing``), for a bid on book side ``S`` (own-side prices, on the grid):

* ``"join"``: the best bid of ``S``.
* ``"improve"``: one tick above the best bid of ``S``, unless that would reach the ask
  (``ONE_DOLLAR - best bid of the other side``): then the join price.
* ``"cross"``: the ask of ``S`` (``ONE_DOLLAR - best bid of the other side``, rounded up
  onto the grid), sent immediate-or-cancel: it takes what the touch offers (walking
  deeper levels never: the limit is the touch) and cancels the rest.

Passive prices (join/improve) are capped one tick below the ask, so they never cross
the book (and may be ``post_only``). A price that is undefined -- the needed side of
the book is empty, or the book is stale -- produces NO intent: the action acts like
``HOLD`` and existing orders keep working (the observation shows the empty side; the
live actor's risk layer deals with stale books).

Orders (at most one working order per market and book side)
------------------------------------------------------------
For the target ``(side, price, size)``:

* passive pricing: no working order on that side -> :class:`PlaceOrder` (GTC); one at
  another price -> :class:`AmendOrder` to ``(price, filled + size)`` (loses priority, as
  on Kalshi); one at the target price with more than ``size`` left -> amend down (keeps
  priority); one at the target price with ``size`` or less left (e.g. partly filled)
  -> left alone, keeping its queue position. Extra orders on that side are cancelled.
* cross pricing: an IOC order cannot be expressed by amending a resting one, so the
  working order on that side is cancelled and an IOC :class:`PlaceOrder` is sent.
* A working order on the OTHER side that the new price would cross (``p + q >=
  ONE_DOLLAR``) is cancelled first: the exchange would otherwise stop our order by
  self-trade prevention.

The book passed in must NOT contain our own resting orders (training: the recorded book
never does). A live book that includes them is passed with ``book_has_own_orders=True``
and our working orders' remaining sizes are taken out before reading the touch, so
both paths see the same touch.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from ..books.book import Book
from ..kalshi.grid import TickGrid
from ..units import ONE_DOLLAR, Count, Price
from .types import Action, AmendOrder, BookSide, CancelOrder, OrderIntent, PlaceOrder, Position, WorkingOrder

__all__ = ["ActionConfig", "ActionConfigError", "Pricing", "PRICINGS", "N_ACTIONS", "intents_for_action"]

Pricing = Literal["join", "improve", "cross"]
PRICINGS: tuple[Pricing, ...] = ("join", "improve", "cross")
N_ACTIONS = len(Action)
SEMANTICS_VERSION = 1  # bump when the mapping's meaning changes: old models then fail the config check

_ONE = ONE_DOLLAR
_NO_INTENTS: list[OrderIntent] = []


class ActionConfigError(ValueError):
    """An action config is malformed, or differs from the one a model was trained with."""


@dataclass(frozen=True, slots=True)
class ActionConfig:
    """How actions become orders. Stored with every model; used unchanged live.

    ``size`` is the order size in hundredths of a contract (``100`` = 1 contract).
    ``post_only`` applies to passive pricing (join/improve); crossing orders are never post-only.
    """

    size: Count = 100
    pricing: Pricing = "join"
    post_only: bool = True

    def __post_init__(self) -> None:
        if type(self.size) is not int or self.size <= 0:
            raise ActionConfigError(f"size must be a positive int of hundredths, got {self.size!r}")
        if self.pricing not in PRICINGS:
            raise ActionConfigError(f"pricing must be one of {PRICINGS}, got {self.pricing!r}")
        if type(self.post_only) is not bool:
            raise ActionConfigError(f"post_only must be a bool, got {self.post_only!r}")

    def to_dict(self) -> dict[str, Any]:
        """The config as stored with a model (JSON-ready), including the semantics version."""
        return {"version": SEMANTICS_VERSION, "size": self.size, "pricing": self.pricing,
                "post_only": self.post_only}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, expected_hash: str | None = None) -> ActionConfig:
        """Load and validate a stored config; ``expected_hash`` (stored beside it) must match when given."""
        if not isinstance(data, Mapping):
            raise ActionConfigError(f"an action config is a mapping, got {type(data).__name__}")
        keys = {"version", "size", "pricing", "post_only"}
        if set(data) != keys:
            raise ActionConfigError(f"action config keys must be {sorted(keys)}, got {sorted(data)}")
        if data["version"] != SEMANTICS_VERSION:
            raise ActionConfigError(
                f"action config version {data['version']!r} is not this code's version {SEMANTICS_VERSION}: "
                "the model was trained with another action mapping")
        config = cls(size=data["size"], pricing=data["pricing"], post_only=data["post_only"])
        if expected_hash is not None and config.hash != expected_hash:
            raise ActionConfigError(f"action config hash {config.hash} differs from the stored {expected_hash}")
        return config

    @property
    def hash(self) -> str:
        """A stable 16-hex-digit hash of :meth:`to_dict` (canonical JSON, SHA-256)."""
        canonical = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def intents_for_action(action: int, book: Book, grid: TickGrid, position: Position | Count,
                       orders: Sequence[WorkingOrder], config: ActionConfig, *,
                       book_has_own_orders: bool = False) -> list[OrderIntent]:
    """The order intents that carry out ``action`` in ``book``'s market (see the module docstring).

    ``position`` is the market's signed position (+YES / -NO, hundredths) or its
    :class:`Position`; ``orders`` our working orders in this market. Returns intents
    to send in order (cancels first); an empty list when nothing is to change.
    """
    if action == Action.HOLD or book.stale:
        if not 0 <= action < N_ACTIONS:
            raise ValueError(f"{action!r} is not an action (0 .. {N_ACTIONS - 1})")
        return _NO_INTENTS
    held = position.count if isinstance(position, Position) else position
    size = config.size
    if action == Action.BUY_YES_LIMIT:
        side: BookSide = "yes"
    elif action == Action.BUY_NO_LIMIT:
        side = "no"
    elif action == Action.SELL_YES_LIMIT:
        side = "no"
        if held > 0:
            size = min(size, held)
    elif action == Action.SELL_NO_LIMIT:
        side = "yes"
        if held < 0:
            size = min(size, -held)
    else:
        raise ValueError(f"{action!r} is not an action (0 .. {N_ACTIONS - 1})")

    yes_best, no_best = book.best_yes_bid_price, book.best_no_bid_price
    best_own, best_other = (yes_best, no_best) if side == "yes" else (no_best, yes_best)
    if book_has_own_orders and orders:
        own_levels, other_levels = (book.yes, book.no) if side == "yes" else (book.no, book.yes)
        best_own = _best_without(best_own, own_levels, [o for o in orders if o.side == side])
        best_other = _best_without(best_other, other_levels, [o for o in orders if o.side != side])
    price = _price(config.pricing, grid, best_own, best_other)
    if price is None:
        return _NO_INTENTS
    return _reconcile(book.ticker, side, price, size, config, orders)


def _best_without(best: Price | None, levels: Mapping[Price, Count], own: Sequence[WorkingOrder]) -> Price | None:
    """The best bid of a side (``best``, with our orders in) once our own resting sizes are taken out of it."""
    if best is None or not own:
        return best
    mine: dict[Price, Count] = {}
    for o in own:
        mine[o.price] = mine.get(o.price, 0) + o.remaining
    if levels.get(best, 0) > mine.get(best, 0):  # someone else bids there too
        return best
    best = None
    for price, size in levels.items():
        if size > mine.get(price, 0) and (best is None or price > best):
            best = price
    return best


def _price(pricing: Pricing, grid: TickGrid, best_own: Price | None, best_other: Price | None) -> Price | None:
    """The target price on the grid, or None when the book does not define one."""
    if pricing == "cross":
        if best_other is None:
            return None
        price = grid.round(_ONE - best_other, "up")
        return price if 0 < price < _ONE else None
    if best_own is None:
        return None
    price = grid.round(best_own, "down")
    if pricing == "improve":
        up = grid.next_up(price)
        if up is not None:
            price = up
    if best_other is not None:  # stay strictly below the ask: a passive order must not cross
        below = grid.next_down(_ONE - best_other)
        if below is None:
            return None
        if price > below:
            price = below
    return price if 0 < price < _ONE else None


def _reconcile(ticker: str, side: BookSide, price: Price, size: Count, config: ActionConfig,
               orders: Sequence[WorkingOrder]) -> list[OrderIntent]:
    """Intents taking our working orders in this market to one order of ``size`` at ``price`` on ``side``."""
    intents: list[OrderIntent] = []
    same: WorkingOrder | None = None
    for o in orders:
        if o.side == side:
            if same is None:
                same = o
            else:  # never more than one per side: cancel extras
                intents.append(CancelOrder(ticker, o.order_id))
        elif o.price + price >= _ONE:  # our own opposite order would be crossed: self-trade
            intents.append(CancelOrder(ticker, o.order_id))
    if config.pricing == "cross":
        if same is not None:
            intents.append(CancelOrder(ticker, same.order_id))
        intents.append(PlaceOrder(ticker, side, price, size, False, "immediate_or_cancel"))
        return intents
    if same is None:
        intents.append(PlaceOrder(ticker, side, price, size, config.post_only))
    elif same.price != price:
        intents.append(AmendOrder(ticker, same.order_id, side, price, same.filled + size))
    elif same.remaining > size:
        intents.append(AmendOrder(ticker, same.order_id, side, price, same.filled + size))
    return intents
