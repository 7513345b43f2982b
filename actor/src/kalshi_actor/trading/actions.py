"""The action space: a discrete action id -> order intents on the market's tick grid.

ONE mapping, used unchanged by the training environment and the live actor; its
:class:`ActionConfig` is stored with every model (:meth:`ActionConfig.to_dict`, checked
on load by :meth:`ActionConfig.from_dict` and :attr:`ActionConfig.hash`).

Two action SPACES (``ActionConfig.space``): ``"seed"``, the five single-order actions
below (the default: every model trained before the maker space existed is a seed model,
and its stored config and hash are unchanged), and ``"maker"``, a market maker's actions,
which may move BOTH book sides in one decision (see "The maker space"). A stored config
names its space (a seed config by having no ``space`` key), so a model of one space never
loads as the other. :attr:`ActionConfig.n_actions` and :attr:`ActionConfig.action_names`
describe either space; :func:`intents_for_action` carries out an action of either;
:func:`action_mask` says which actions mean something now (sb3-contrib's convention).

Kalshi's book is unified: there are only bids, YES bids and NO bids. Buying YES and
"selling NO" both rest a YES bid; buying NO and "selling YES" both rest a NO bid (a NO
bid at ``q`` is an offer of YES at ``ONE_DOLLAR - q``). Selling from flat is therefore
buying the other side, and costs money like any purchase.

The seed space (see :class:`~kalshi_actor.trading.types.Action`)
----------------------------------------------------------------
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

The maker space (``space="maker"``, ``sizes`` in hundredths, e.g. ``(100, 300)``)
----------------------------------------------------------------------------------
A quote names an OFFSET in ticks of the grid from the join price (the best bid of
others) for each book side: ``+1`` improves by one tick, ``0`` joins, ``-k`` rests ``k``
ticks behind; ``--`` means no order on that side (a working one is cancelled). Passive
prices are capped one tick below the ask as in the seed space, and a pair never crosses
itself (YES bid ``p`` + NO bid ``q`` < ``ONE_DOLLAR``: improved sides fall back to the
join price when both improved would meet). Ids, for ``sizes = (s_1, .., s_n)``
(``n <= 2``; ``3 + 7 n`` actions; names end in the size, ``_1c`` = 1 contract, ``_150h``
= 150 hundredths):

===  ===========================  ========  ========  ===================================
id   name                         YES bid   NO bid    meaning
===  ===========================  ========  ========  ===================================
0    ``hold``                     --        --        nothing changes (quotes keep working)
1+   ``quote_join_<s>``           0         0         both sides at the touch
     ``quote_improve_<s>``        +1        +1        both sides one tick inside
     ``quote_wide_<s>``           -2        -2        both sides two ticks behind
     ``quote_skew_long_<s>``      -1        +1        shifted DOWN a tick: sells YES (for a
                                                      long YES position)
     ``quote_skew_short_<s>``     +1        -1        shifted UP a tick: buys YES back (for
                                                      a long NO position)
     ``quote_yes_<s>``            0         --        YES bid only (NO orders cancelled)
     ``quote_no_<s>``             --        0         NO bid only (YES orders cancelled)
n-2  ``pull``                     --        --        cancel every working order
n-1  ``flatten``                  IOC       IOC       close the whole position at the touch
===  ===========================  ========  ========  ===================================

The seven quotes repeat for each size (ids ``1 .. 7`` for ``s_1``, ``8 .. 14`` for
``s_2``). Every quoted side is ``s`` contracts-hundredths on its side, whatever the
position (the risk layer clips what would exceed its limit; :func:`action_mask` forbids
it). ``flatten`` cancels every working order and sends, on the side that reduces the
position (a NO bid when long YES), an immediate-or-cancel order for ``|position|`` at the
ask of that side (as the seed space's ``"cross"``); flat, or with nobody to take from, it
does nothing. ``post_only`` applies to every passive quote.

A quoted side whose price is undefined (that side of the book is empty) leaves that side's
orders as they are; when NO quoted side has a price the action does nothing at all (like
``HOLD``, cancels included). A stale book: no intents, whatever the action.

Masks (:func:`action_mask`, bool ``[n_actions]``, True = allowed)
-----------------------------------------------------------------
``HOLD`` is always allowed. Any other action is allowed when it would do something: a
price is defined for it on this book (not stale; a cross needs a bid on the other side;
``pull`` needs a working order; ``flatten`` a position), and, with a ``max_position``
(hundredths, the live risk layer's per-market limit), none of its orders could take the
position beyond it: an order of ``s`` on side ``S`` needs ``own(S) + s <= max_position``,
``own`` being the position on that side (``P`` for YES, ``-P`` for NO; we keep one order
per side, so ``s`` is all that rests there once it is placed). This is the rule of the
env's and the risk layer's position check: an allowed action is never clipped.

Orders (at most one working order per market and book side; both spaces)
--------------------------------------------------------------------------
For each target ``(side, price, size)`` of an action:

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

Intents are returned in the order to send them: cancels, then amends that LOWER a price,
then the other amends and new orders, then IOC orders; so no intermediate state of a
two-sided requote crosses our own pair.

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
from functools import lru_cache
from typing import Any, Literal

import numpy as np

from ..books.book import Book
from ..kalshi.grid import TickGrid
from ..units import ONE_DOLLAR, Count, Price
from .types import Action, AmendOrder, BookSide, CancelOrder, OrderIntent, PlaceOrder, Position, WorkingOrder

__all__ = ["ActionConfig", "ActionConfigError", "MakerAction", "Pricing", "PRICINGS", "QUOTE_SHAPES", "Space",
           "SPACES", "N_ACTIONS", "action_mask", "intents_for_action", "maker_actions"]

Pricing = Literal["join", "improve", "cross"]
PRICINGS: tuple[Pricing, ...] = ("join", "improve", "cross")
Space = Literal["seed", "maker"]
SPACES: tuple[Space, ...] = ("seed", "maker")
N_ACTIONS = len(Action)  # the SEED space's count (back-compat); a config's own is ActionConfig.n_actions
SEMANTICS_VERSION = 1  # bump when the seed mapping's meaning changes: old models then fail the config check
MAKER_SEMANTICS_VERSION = 1  # the same, for the maker space (its stored config also says space="maker")
DEFAULT_MAKER_SIZES: tuple[Count, ...] = (100, 300)
MAX_MAKER_SIZES = 2  # 3 + 7 * 2 = 17 actions

QUOTE_SHAPES: tuple[tuple[str, int | None, int | None], ...] = (
    # name, YES offset, NO offset (ticks from the join price: +1 improve, 0 join, -k behind; None: no order)
    ("quote_join", 0, 0),
    ("quote_improve", 1, 1),
    ("quote_wide", -2, -2),
    ("quote_skew_long", -1, 1),  # shifted down: the NO bid (offering YES) leads, sells a long YES position
    ("quote_skew_short", 1, -1),  # shifted up: the YES bid leads, buys back a short (long NO) position
    ("quote_yes", 0, None),
    ("quote_no", None, 0),
)
"""The maker space's quote shapes, repeated for each size (see the module docstring)."""

_ONE = ONE_DOLLAR
_PIP_GRID = TickGrid(((0, ONE_DOLLAR, 1),))  # every price: the mask's stand-in when no grid is given
_NO_INTENTS: list[OrderIntent] = []
_SEED_KEYS = frozenset({"version", "size", "pricing", "post_only"})
_MAKER_KEYS = frozenset({"version", "space", "sizes", "post_only"})
_SEED_NAMES: tuple[str, ...] = tuple(a.name.lower() for a in Action)


class ActionConfigError(ValueError):
    """An action config is malformed, or differs from the one a model was trained with."""


@dataclass(frozen=True, slots=True)
class ActionConfig:
    """How actions become orders. Stored with every model; used unchanged live.

    ``size`` is the seed space's order size in hundredths of a contract (``100`` = 1 contract),
    ``pricing`` its price rule; ``sizes`` the maker space's quote sizes (hundredths, ascending,
    at most :data:`MAX_MAKER_SIZES`). Each space takes only its own fields: the others must
    keep their defaults. ``post_only`` applies to passive pricing (join/improve, every maker
    quote); crossing orders are never post-only.
    """

    size: Count = 100
    pricing: Pricing = "join"
    post_only: bool = True
    space: Space = "seed"
    sizes: tuple[Count, ...] = DEFAULT_MAKER_SIZES

    def __post_init__(self) -> None:
        if type(self.size) is not int or self.size <= 0:
            raise ActionConfigError(f"size must be a positive int of hundredths, got {self.size!r}")
        if self.pricing not in PRICINGS:
            raise ActionConfigError(f"pricing must be one of {PRICINGS}, got {self.pricing!r}")
        if type(self.post_only) is not bool:
            raise ActionConfigError(f"post_only must be a bool, got {self.post_only!r}")
        if self.space not in SPACES:
            raise ActionConfigError(f"space must be one of {SPACES}, got {self.space!r}")
        sizes = self.sizes
        if (type(sizes) is not tuple or not 1 <= len(sizes) <= MAX_MAKER_SIZES
                or any(type(s) is not int or s <= 0 for s in sizes) or list(sizes) != sorted(set(sizes))):
            raise ActionConfigError(f"sizes must be a tuple of 1..{MAX_MAKER_SIZES} ascending positive ints of "
                                    f"hundredths, got {sizes!r}")
        if self.space == "seed" and sizes != DEFAULT_MAKER_SIZES:
            raise ActionConfigError("sizes belong to the maker space: a seed config uses size")
        if self.space == "maker" and (self.size, self.pricing) != (100, "join"):
            raise ActionConfigError("size and pricing belong to the seed space: a maker config uses sizes")

    def to_dict(self) -> dict[str, Any]:
        """The config as stored with a model (JSON-ready), including the semantics version.

        A seed config stores exactly the keys it always has (its hash is unchanged); a maker config
        stores ``space``, ``sizes`` and ``post_only``."""
        if self.space == "seed":
            return {"version": SEMANTICS_VERSION, "size": self.size, "pricing": self.pricing,
                    "post_only": self.post_only}
        return {"version": MAKER_SEMANTICS_VERSION, "space": "maker", "sizes": list(self.sizes),
                "post_only": self.post_only}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, expected_hash: str | None = None) -> ActionConfig:
        """Load and validate a stored config; ``expected_hash`` (stored beside it) must match when given."""
        if not isinstance(data, Mapping):
            raise ActionConfigError(f"an action config is a mapping, got {type(data).__name__}")
        maker = "space" in data  # a seed config never stores its space
        keys, version = (_MAKER_KEYS, MAKER_SEMANTICS_VERSION) if maker else (_SEED_KEYS, SEMANTICS_VERSION)
        if set(data) != keys:
            raise ActionConfigError(f"action config keys must be {sorted(keys)}, got {sorted(data)}")
        if maker and data["space"] != "maker":
            raise ActionConfigError(f"a stored space must be 'maker' (seed configs store none), got {data['space']!r}")
        if data["version"] != version:
            raise ActionConfigError(
                f"action config version {data['version']!r} is not this code's version {version} of the "
                f"{'maker' if maker else 'seed'} space: the model was trained with another action mapping")
        if maker:
            sizes = data["sizes"]
            if not isinstance(sizes, (list, tuple)):
                raise ActionConfigError(f"sizes must be a list of hundredths, got {sizes!r}")
            config = cls(space="maker", sizes=tuple(sizes), post_only=data["post_only"])
        else:
            config = cls(size=data["size"], pricing=data["pricing"], post_only=data["post_only"])
        if expected_hash is not None and config.hash != expected_hash:
            raise ActionConfigError(f"action config hash {config.hash} differs from the stored {expected_hash}")
        return config

    @property
    def hash(self) -> str:
        """A stable 16-hex-digit hash of :meth:`to_dict` (canonical JSON, SHA-256)."""
        canonical = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]

    @property
    def n_actions(self) -> int:
        """How many actions this config's space has (ids ``0 .. n_actions - 1``; 0 is always HOLD)."""
        return N_ACTIONS if self.space == "seed" else len(_maker_table(self.sizes))

    @property
    def action_names(self) -> tuple[str, ...]:
        """Stable snake_case names by id (seed: the :class:`Action` names lowercased)."""
        return _SEED_NAMES if self.space == "seed" else tuple(a.name for a in _maker_table(self.sizes))

    def action_id(self, name: str) -> int:
        """The id of the action called ``name`` (:attr:`action_names`)."""
        try:
            return self.action_names.index(name)
        except ValueError:
            raise ValueError(f"no action {name!r} in the {self.space} space: {self.action_names}") from None

    def quote_id(self, shape: str, size: Count | None = None) -> int:
        """The maker id of quote ``shape`` (a :data:`QUOTE_SHAPES` name) at ``size`` (default: the first size)."""
        return self.action_id(f"{shape}_{_size_label(self.sizes[0] if size is None else size)}")


@dataclass(frozen=True, slots=True)
class MakerAction:
    """One action of the maker space: ``yes``/``no`` are tick offsets from the join price (None: no order)."""

    name: str
    kind: Literal["hold", "quote", "pull", "flatten"]
    yes: int | None = None
    no: int | None = None
    size: Count = 0


def maker_actions(config: ActionConfig) -> tuple[MakerAction, ...]:
    """The maker space's actions by id (a maker config's table; ValueError for a seed config)."""
    if config.space != "maker":
        raise ValueError("a seed config has no maker actions")
    return _maker_table(config.sizes)


def _size_label(size: Count) -> str:
    return f"{size // 100}c" if size % 100 == 0 else f"{size}h"


@lru_cache(maxsize=None)
def _maker_table(sizes: tuple[Count, ...]) -> tuple[MakerAction, ...]:
    quotes = [MakerAction(f"{name}_{_size_label(size)}", "quote", yes, no, size)
              for size in sizes for name, yes, no in QUOTE_SHAPES]
    return (MakerAction("hold", "hold"), *quotes, MakerAction("pull", "pull"), MakerAction("flatten", "flatten"))


# --- targets: what an action wants on each book side ---

_CANCEL = "cancel"  # no order on this side: cancel what works there


@dataclass(frozen=True, slots=True)
class _Target:
    price: Price
    size: Count
    ioc: bool = False


_Plan = dict  # BookSide -> _Target | _CANCEL; a side absent from the plan keeps its orders


def _plan(action: int, book: Book, grid: TickGrid, held: Count, orders: Sequence[WorkingOrder],
          config: ActionConfig, book_has_own_orders: bool) -> _Plan | None:
    """What ``action`` wants per book side, or None when it does nothing (HOLD, stale book, undefined price)."""
    n = config.n_actions
    if not 0 <= action < n:
        raise ValueError(f"{action!r} is not an action (0 .. {n - 1})")
    if action == 0 or book.stale:
        return None
    best_yes, best_no = _touch(book, orders, book_has_own_orders)
    if config.space == "seed":
        return _seed_plan(Action(action), grid, held, config, best_yes, best_no)
    return _maker_plan(_maker_table(config.sizes)[action], grid, held, best_yes, best_no)


def _touch(book: Book, orders: Sequence[WorkingOrder], book_has_own_orders: bool) -> tuple[Price | None, Price | None]:
    """The best YES and NO bids of OTHERS (our own resting sizes taken out of a live book)."""
    yes_best, no_best = book.best_yes_bid_price, book.best_no_bid_price
    if book_has_own_orders and orders:
        yes_best = _best_without(yes_best, book.yes, [o for o in orders if o.side == "yes"])
        no_best = _best_without(no_best, book.no, [o for o in orders if o.side == "no"])
    return yes_best, no_best


def _seed_plan(action: Action, grid: TickGrid, held: Count, config: ActionConfig, best_yes: Price | None,
               best_no: Price | None) -> _Plan | None:
    size = config.size
    if action == Action.BUY_YES_LIMIT:
        side: BookSide = "yes"
    elif action == Action.BUY_NO_LIMIT:
        side = "no"
    elif action == Action.SELL_YES_LIMIT:
        side = "no"
        if held > 0:
            size = min(size, held)
    else:  # SELL_NO_LIMIT
        side = "yes"
        if held < 0:
            size = min(size, -held)
    best_own, best_other = (best_yes, best_no) if side == "yes" else (best_no, best_yes)
    price = _price(config.pricing, grid, best_own, best_other)
    if price is None:
        return None
    return {side: _Target(price, size, config.pricing == "cross")}


def _maker_plan(a: MakerAction, grid: TickGrid, held: Count, best_yes: Price | None,
                best_no: Price | None) -> _Plan | None:
    if a.kind == "pull":
        return {"yes": _CANCEL, "no": _CANCEL}
    if a.kind == "flatten":
        if held == 0:
            return None
        side: BookSide = "no" if held > 0 else "yes"
        best_own, best_other = (best_yes, best_no) if side == "yes" else (best_no, best_yes)
        price = _price("cross", grid, best_own, best_other)
        if price is None:
            return None
        other: BookSide = "yes" if side == "no" else "no"
        return {other: _CANCEL, side: _Target(price, abs(held), True)}
    yes, no = _quote_pair(grid, a.yes, a.no, best_yes, best_no)
    if yes is None and no is None:
        return None  # no quoted side has a price: the action does nothing
    plan: _Plan = {}
    for side, offset, price in (("yes", a.yes, yes), ("no", a.no, no)):
        if offset is None:
            plan[side] = _CANCEL
        elif price is not None:
            plan[side] = _Target(price, a.size)
    return plan


def _quote_pair(grid: TickGrid, yes_offset: int | None, no_offset: int | None, best_yes: Price | None,
                best_no: Price | None) -> tuple[Price | None, Price | None]:
    """The two quote prices (None: no quote, or undefined), improved sides falling back to the join if they meet."""
    def prices(cap: int) -> tuple[Price | None, Price | None]:
        yes = None if yes_offset is None else _passive_price(grid, min(yes_offset, cap), best_yes, best_no)
        no = None if no_offset is None else _passive_price(grid, min(no_offset, cap), best_no, best_yes)
        return yes, no

    yes, no = prices(1 << 30)
    if yes is not None and no is not None and yes + no >= _ONE:
        yes, no = prices(0)
        if yes is not None and no is not None and yes + no >= _ONE:  # only on a crossed book: quote nothing
            return None, None
    return yes, no


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
    """The seed target price on the grid, or None when the book does not define one."""
    if pricing == "cross":
        if best_other is None:
            return None
        price = grid.round(_ONE - best_other, "up")
        return price if 0 < price < _ONE else None
    return _passive_price(grid, 1 if pricing == "improve" else 0, best_own, best_other)


def _passive_price(grid: TickGrid, offset: int, best_own: Price | None, best_other: Price | None) -> Price | None:
    """``offset`` ticks from the join price (``+1`` improves; a step past the grid's top stays put, one past its
    bottom is undefined), capped one tick below the ask; None when undefined."""
    if best_own is None:
        return None
    price: Price | None = grid.round(best_own, "down")
    for _ in range(offset):
        up = grid.next_up(price)
        if up is None:
            break
        price = up
    for _ in range(-offset):
        price = grid.next_down(price)
        if price is None:
            return None
    if best_other is not None:  # stay strictly below the ask: a passive order must not cross
        below = grid.next_down(_ONE - best_other)
        if below is None:
            return None
        if price > below:
            price = below
    return price if 0 < price < _ONE else None


# --- the entry points ---


def intents_for_action(action: int, book: Book, grid: TickGrid, position: Position | Count,
                       orders: Sequence[WorkingOrder], config: ActionConfig, *,
                       book_has_own_orders: bool = False) -> list[OrderIntent]:
    """The order intents that carry out ``action`` in ``book``'s market (see the module docstring).

    ``position`` is the market's signed position (+YES / -NO, hundredths) or its
    :class:`Position`; ``orders`` our working orders in this market. Returns intents
    to send in order (cancels first); an empty list when nothing is to change.
    """
    held = position.count if isinstance(position, Position) else position
    plan = _plan(action, book, grid, held, orders, config, book_has_own_orders)
    if plan is None:
        return _NO_INTENTS
    return _reconcile(book.ticker, plan, orders, config.post_only)


def action_mask(config: ActionConfig, book: Book, position: Position | Count, orders: Sequence[WorkingOrder],
                max_position: Count | None, *, book_has_own_orders: bool = False,
                grid: TickGrid | None = None) -> np.ndarray:
    """Which actions are allowed now: bool ``[config.n_actions]`` (see "Masks" in the module docstring).

    ``max_position`` (hundredths; None: no limit) is the live risk layer's per-market limit.
    ``grid``: the market's tick grid; without it a one-pip grid stands in, which differs only where
    a quote ``k`` ticks behind would fall off the bottom of a coarse grid (pass it when known)."""
    held = position.count if isinstance(position, Position) else position
    mask = np.zeros(config.n_actions, bool)
    mask[0] = True
    if book.stale:
        return mask
    grid = grid or _PIP_GRID
    for action in range(1, config.n_actions):
        plan = _plan(action, book, grid, held, orders, config, book_has_own_orders)
        mask[action] = plan is not None and _meaningful(plan, orders) and _within(plan, held, max_position)
    return mask


def _meaningful(plan: _Plan, orders: Sequence[WorkingOrder]) -> bool:
    """An order to send, or something to cancel."""
    return any(t is not _CANCEL for t in plan.values()) or any(o.side in plan for o in orders)


def _within(plan: _Plan, held: Count, max_position: Count | None) -> bool:
    if max_position is None:
        return True
    for side, t in plan.items():
        if t is not _CANCEL and (held if side == "yes" else -held) + t.size > max_position:
            return False
    return True


def _reconcile(ticker: str, plan: _Plan, orders: Sequence[WorkingOrder], post_only: bool) -> list[OrderIntent]:
    """Intents taking our working orders in this market to the plan: cancels, lowered prices, the rest, IOCs."""
    cancels: list[OrderIntent] = []
    first: dict[BookSide, WorkingOrder] = {}
    for o in orders:
        target = plan.get(o.side)
        other = plan.get("no" if o.side == "yes" else "yes")
        if target is _CANCEL:
            cancels.append(CancelOrder(ticker, o.order_id))
        elif target is not None:
            if o.side in first:  # never more than one per side: cancel extras
                cancels.append(CancelOrder(ticker, o.order_id))
            else:
                first[o.side] = o
        elif isinstance(other, _Target) and o.price + other.price >= _ONE:  # our kept order would be crossed
            cancels.append(CancelOrder(ticker, o.order_id))
    lower: list[OrderIntent] = []
    rest: list[OrderIntent] = []
    ioc: list[OrderIntent] = []
    for side in ("yes", "no"):
        target = plan.get(side)
        if not isinstance(target, _Target):
            continue
        same = first.get(side)
        if target.ioc:
            if same is not None:
                cancels.append(CancelOrder(ticker, same.order_id))
            ioc.append(PlaceOrder(ticker, side, target.price, target.size, False, "immediate_or_cancel"))
        elif same is None:
            rest.append(PlaceOrder(ticker, side, target.price, target.size, post_only))
        elif same.price != target.price or same.remaining > target.size:
            amend = AmendOrder(ticker, same.order_id, side, target.price, same.filled + target.size)
            (lower if target.price < same.price else rest).append(amend)
    return cancels + lower + rest + ioc
