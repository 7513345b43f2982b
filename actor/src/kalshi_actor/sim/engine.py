"""The matching engine: books, price-time matching with YES/NO equivalence, accounts, fees, settlement.

INTERFACE CONTRACT (shared by sim.rest_api, sim.feed, sim.traders and the tests; the
bodies are filled in by the engine work). Signatures below are the contract: extend,
don't break.

Errors raise :class:`EngineError` with a Kalshi-like ``code`` (e.g. ``"market_closed"``,
``"insufficient_balance"``, ``"invalid_price"``, ``"post_only_cross"``, ``"order_not_found"``,
``"fok_not_filled"``, ``"invalid_count"``, ``"duplicate_client_order_id"``) and a message;
the REST layer maps them to 400/404/409 bodies.
"""

from __future__ import annotations

from collections.abc import Callable

from ..units import Count, Money, Price
from .types import (
    Account,
    BookSide,
    EngineEvent,
    Market,
    Order,
    SelfTradePrevention,
    TimeInForce,
)


class EngineError(Exception):
    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status


class Engine:
    """One exchange. Time comes from ``now_ms`` (a real or virtual clock)."""

    def __init__(self, now_ms: Callable[[], int], *, seed: int = 0) -> None:
        self.now_ms = now_ms
        self.markets: dict[str, Market] = {}
        self.accounts: dict[str, Account] = {}
        self.orders: dict[str, Order] = {}
        self.listeners: list[Callable[[EngineEvent], None]] = []
        raise NotImplementedError

    # --- setup ---
    def add_market(self, market: Market) -> None: ...
    def open_account(self, name: str, balance: Money) -> Account: ...

    # --- orders (all prices on the order's own side's scale; side "yes" = buy YES, "no" = buy NO) ---
    def place_order(
        self,
        account: str,
        ticker: str,
        side: BookSide,
        price: Price,
        count: Count,
        *,
        time_in_force: TimeInForce = TimeInForce.GTC,
        client_order_id: str = "",
        post_only: bool = False,
        reduce_only: bool = False,
        self_trade_prevention: SelfTradePrevention = SelfTradePrevention.TAKER_AT_CROSS,
    ) -> Order: ...
    def cancel_order(self, account: str, order_id: str) -> Order: ...
    def cancel_all(self, account: str, ticker: str | None = None) -> list[Order]: ...
    def amend_order(self, account: str, order_id: str, *, price: Price, count: Count) -> Order:
        """``count`` is the new total (filled + remaining); a price change or size increase loses priority."""
    def decrease_order(self, account: str, order_id: str, *, reduce_by: Count | None = None,
                       reduce_to: Count | None = None) -> Order: ...

    # --- reads ---
    def book(self, ticker: str, side: BookSide) -> dict[Price, Count]:
        """The aggregated bid levels of one side (price -> total resting size)."""
    def find_order_by_client_id(self, account: str, client_order_id: str) -> Order | None: ...

    # --- lifecycle ---
    def close_market(self, ticker: str) -> None:
        """Stop trading: cancel resting orders, status closed, emit lifecycle."""
    def settle_market(self, ticker: str, result: BookSide) -> None:
        """Pay $1.00 per winning contract, zero positions, status settled, emit lifecycle."""

    # --- fees ---
    @staticmethod
    def taker_fee(market: Market, price: Price, count: Count) -> Money: ...
    @staticmethod
    def maker_fee(market: Market, price: Price, count: Count) -> Money: ...
