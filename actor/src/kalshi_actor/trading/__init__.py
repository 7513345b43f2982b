"""The venue-neutral trading core shared by training and the live actor.

- :mod:`.types`: the vocabulary (actions, positions, working orders, intents, fills).
- :mod:`.fees`: Kalshi's fee formula, exact (the one implementation).
- :mod:`.portfolio`: cash, positions, P&L, settlement (the exchange's exact rules).
- :mod:`.actions`: action id -> order intents (``from kalshi_actor.trading.actions import ...``;
  not imported here, so the simulator's engine does not pull in the Kalshi adapter).
"""

from .fees import FeeSchedule
from .portfolio import Portfolio
from .types import (
    Action,
    AmendOrder,
    BookSide,
    CancelOrder,
    FillEvent,
    OrderIntent,
    PlaceOrder,
    Position,
    WorkingOrder,
)

__all__ = [
    "Action",
    "AmendOrder",
    "BookSide",
    "CancelOrder",
    "FeeSchedule",
    "FillEvent",
    "OrderIntent",
    "PlaceOrder",
    "Portfolio",
    "Position",
    "WorkingOrder",
]
