"""The matching engine: matching rules, accounting, fees, settlement, and invariants under random flow."""

from __future__ import annotations

from collections import defaultdict

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from kalshi_actor.sim.engine import Engine, EngineError
from kalshi_actor.sim.types import (
    BookChanged,
    Filled,
    Market,
    MarketLifecycle,
    MarketStatus,
    OrderStatus,
    PositionChanged,
    PriceRange,
    SelfTradePrevention,
    TimeInForce,
    Traded,
)
from kalshi_actor.units import ONE_DOLLAR, parse_count, parse_money, parse_price

P = parse_price
C = parse_count
M = parse_money
LINEAR = [PriceRange(0, ONE_DOLLAR, 100)]
TAPERED = [PriceRange(0, 1000, 10), PriceRange(1000, 9000, 100), PriceRange(9000, ONE_DOLLAR, 10)]
RICH = M("1000000")


def make_market(ticker: str = "KXTEST-26NOV24-T1", *, ranges=LINEAR, fee_type: str = "quadratic",
                fee_multiplier: float = 1.0) -> Market:
    return Market(
        ticker=ticker, event_ticker="KXTEST-26NOV24", series_ticker="KXTEST", title="test", market_id="m-1",
        open_time_ms=0, close_time_ms=10**13, price_level_structure="linear_cent", price_ranges=list(ranges),
        fee_type=fee_type, fee_multiplier=fee_multiplier,
    )


class Exchange:
    """An engine with one market, a few rich accounts, and a recorded event stream."""

    def __init__(self, market: Market | None = None, accounts=("a", "b", "c")) -> None:
        self.t = 1_000
        self.engine = Engine(lambda: self.t, seed=7)
        self.events: list = []
        self.engine.listeners.append(self.events.append)
        self.market = market or make_market()
        self.engine.add_market(self.market)
        for name in accounts:
            self.engine.open_account(name, RICH)

    def of(self, kind):
        return [e for e in self.events if isinstance(e, kind)]

    def yes(self):
        return self.engine.book(self.market.ticker, "yes")

    def no(self):
        return self.engine.book(self.market.ticker, "no")

    def place(self, account, side, price, count, **kw):
        return self.engine.place_order(account, self.market.ticker, side, P(price), C(count), **kw)


@pytest.fixture
def ex() -> Exchange:
    return Exchange()


# --- matching ---


def test_resting_orders_build_both_books(ex):
    ex.place("a", "yes", "0.42", "10")
    ex.place("a", "yes", "0.41", "5")
    ex.place("b", "no", "0.55", "3")
    assert ex.yes() == {P("0.41"): C("5"), P("0.42"): C("10")}
    assert list(ex.yes()) == [P("0.41"), P("0.42")]  # ascending, best last
    assert ex.no() == {P("0.55"): C("3")}
    assert ex.engine.best_bids(ex.market.ticker) == (P("0.42"), P("0.55"))
    assert not ex.of(Traded)


def test_no_cross_below_one_dollar(ex):
    ex.place("a", "yes", "0.42", "10")
    order = ex.place("b", "no", "0.57", "10")  # 0.42 + 0.57 = 0.99 < 1.00
    assert order.status is OrderStatus.RESTING and order.filled == 0
    assert not ex.of(Traded)


def test_no_taker_trades_at_resting_yes_price(ex):
    ex.place("a", "yes", "0.42", "10")
    taker = ex.place("b", "no", "0.60", "4")
    (trade,) = ex.of(Traded)
    assert trade.yes_price == P("0.42") and trade.count == C("4") and trade.taker_side == "no"
    assert taker.status is OrderStatus.EXECUTED
    assert taker.fill_cost == P("0.58") * C("4")  # paid 0.58, not its 0.60 limit
    assert ex.yes() == {P("0.42"): C("6")}
    assert ex.no() == {}


def test_yes_taker_trades_at_resting_no_price(ex):
    ex.place("a", "no", "0.55", "10")  # a YES ask at 0.45
    taker = ex.place("b", "yes", "0.50", "10")
    (trade,) = ex.of(Traded)
    assert trade.yes_price == P("0.45") and trade.taker_side == "yes"
    assert taker.fill_cost == P("0.45") * C("10")
    assert ex.engine.accounts["b"].positions[ex.market.ticker] == C("10")
    assert ex.engine.accounts["a"].positions[ex.market.ticker] == -C("10")


def test_partial_fill_rests_remainder_at_limit(ex):
    ex.place("a", "no", "0.55", "3")
    taker = ex.place("b", "yes", "0.47", "10")
    assert taker.filled == C("3") and taker.remaining == C("7") and taker.status is OrderStatus.RESTING
    assert ex.yes() == {P("0.47"): C("7")}
    assert ex.no() == {}


def test_walks_levels_best_first_and_time_priority_within_a_level(ex):
    first = ex.place("a", "no", "0.55", "2")
    second = ex.place("c", "no", "0.55", "2")
    ex.place("a", "no", "0.57", "1")  # best NO bid = cheapest YES ask (0.43)
    ex.place("a", "no", "0.50", "5")  # does not cross a 0.48 YES bid
    taker = ex.place("b", "yes", "0.48", "4", time_in_force=TimeInForce.IOC)
    trades = ex.of(Traded)
    assert [(t.yes_price, t.count) for t in trades] == [(P("0.43"), C("1")), (P("0.45"), C("2")), (P("0.45"), C("1"))]
    assert first.status is OrderStatus.EXECUTED
    assert second.filled == C("1") and second.remaining == C("1")
    assert taker.filled == C("4")
    assert ex.no() == {P("0.50"): C("5"), P("0.55"): C("1")}


def test_ioc_cancels_the_remainder(ex):
    ex.place("a", "no", "0.55", "3")
    taker = ex.place("b", "yes", "0.45", "10", time_in_force=TimeInForce.IOC)
    assert taker.filled == C("3") and taker.status is OrderStatus.CANCELED
    assert ex.yes() == {} and ex.no() == {}
    assert ex.engine.accounts["b"].resting_order_cost == 0


def test_ioc_without_liquidity_is_cancelled_untouched(ex):
    taker = ex.place("b", "yes", "0.45", "10", time_in_force=TimeInForce.IOC)
    assert taker.status is OrderStatus.CANCELED and taker.filled == 0
    assert ex.engine.accounts["b"].balance == RICH


def test_fok_rejected_when_not_fillable_leaves_no_trace(ex):
    ex.place("a", "no", "0.55", "3")
    before = (ex.yes(), ex.no(), ex.engine.accounts["b"].balance, len(ex.events))
    with pytest.raises(EngineError) as err:
        ex.place("b", "yes", "0.45", "4", time_in_force=TimeInForce.FOK)
    assert err.value.code == "fok_not_filled"
    assert (ex.yes(), ex.no(), ex.engine.accounts["b"].balance, len(ex.events)) == before


def test_fok_fills_in_full(ex):
    ex.place("a", "no", "0.55", "3")
    ex.place("c", "no", "0.54", "3")
    taker = ex.place("b", "yes", "0.46", "5", time_in_force=TimeInForce.FOK)
    assert taker.status is OrderStatus.EXECUTED and taker.filled == C("5")
    assert ex.no() == {P("0.54"): C("1")}


def test_post_only_rejected_when_crossing(ex):
    ex.place("a", "no", "0.55", "3")
    with pytest.raises(EngineError) as err:
        ex.place("b", "yes", "0.45", "1", post_only=True)
    assert err.value.code == "post_only_cross"
    ok = ex.place("b", "yes", "0.44", "1", post_only=True)
    assert ok.status is OrderStatus.RESTING


# --- self-trade prevention ---


def test_stp_taker_at_cross_cancels_the_takers_remainder(ex):
    ex.place("c", "no", "0.56", "1")  # best: filled first
    own = ex.place("a", "no", "0.55", "5")
    ex.place("c", "no", "0.55", "5")  # behind a's own order
    taker = ex.place("a", "yes", "0.45", "4")
    assert taker.filled == C("1") and taker.status is OrderStatus.CANCELED
    assert own.status is OrderStatus.RESTING and own.remaining == C("5")
    assert ex.no() == {P("0.55"): C("10")}
    assert ex.yes() == {}


def test_stp_maker_cancels_own_resting_order_and_continues(ex):
    own = ex.place("a", "no", "0.55", "5")
    other = ex.place("c", "no", "0.55", "5")
    taker = ex.place("a", "yes", "0.45", "4", self_trade_prevention=SelfTradePrevention.MAKER)
    assert own.status is OrderStatus.CANCELED
    assert taker.filled == C("4") and taker.status is OrderStatus.EXECUTED
    assert other.remaining == C("1")
    assert ex.no() == {P("0.55"): C("1")}
    assert all(f.account != "a" or f.order_id == taker.order_id for f in ex.of(Filled))


# --- amend / decrease / cancel ---


def test_amend_price_loses_priority(ex):
    first = ex.place("a", "no", "0.55", "2")
    second = ex.place("c", "no", "0.55", "2")
    ex.engine.amend_order("a", first.order_id, price=P("0.54"), count=C("2"))
    ex.engine.amend_order("a", first.order_id, price=P("0.55"), count=C("2"))
    ex.place("b", "yes", "0.45", "2")
    assert second.status is OrderStatus.EXECUTED and first.remaining == C("2")


def test_amend_size_increase_loses_priority_and_decrease_keeps_it(ex):
    first = ex.place("a", "no", "0.55", "2")
    second = ex.place("c", "no", "0.55", "2")
    ex.engine.amend_order("a", first.order_id, price=P("0.55"), count=C("3"))
    assert first.queue_seq > second.queue_seq
    ex.engine.amend_order("c", second.order_id, price=P("0.55"), count=C("1"))
    assert ex.no() == {P("0.55"): C("4")}
    ex.place("b", "yes", "0.45", "1")
    assert second.status is OrderStatus.EXECUTED and first.remaining == C("3")


def test_amend_count_is_the_new_total_including_fills(ex):
    maker = ex.place("a", "no", "0.55", "10")
    ex.place("b", "yes", "0.45", "4")
    ex.engine.amend_order("a", maker.order_id, price=P("0.55"), count=C("8"))
    assert maker.filled == C("4") and maker.remaining == C("4") and maker.initial_count == C("8")
    with pytest.raises(EngineError) as err:
        ex.engine.amend_order("a", maker.order_id, price=P("0.55"), count=C("4"))
    assert err.value.code == "invalid_count"


def test_amend_may_cross_and_execute(ex):
    ex.place("c", "no", "0.55", "3")
    order = ex.place("a", "yes", "0.40", "5")
    ex.engine.amend_order("a", order.order_id, price=P("0.46"), count=C("5"))
    assert [t.yes_price for t in ex.of(Traded)] == [P("0.45")]
    assert order.filled == C("3") and order.remaining == C("2") and order.price == P("0.46")
    assert ex.yes() == {P("0.46"): C("2")} and ex.no() == {}
    acct = ex.engine.accounts["a"]
    assert acct.resting_order_cost == P("0.46") * C("2")


def test_decrease_by_and_to_and_to_zero_cancels(ex):
    order = ex.place("a", "yes", "0.40", "10")
    ex.engine.decrease_order("a", order.order_id, reduce_by=C("3"))
    assert order.remaining == C("7") and ex.yes() == {P("0.40"): C("7")}
    ex.engine.decrease_order("a", order.order_id, reduce_to=C("2.5"))
    assert order.remaining == C("2.5") and ex.yes() == {P("0.40"): C("2.5")}
    ex.engine.decrease_order("a", order.order_id, reduce_to=0)
    assert order.status is OrderStatus.CANCELED and ex.yes() == {}
    with pytest.raises(EngineError) as err:
        ex.engine.decrease_order("a", order.order_id, reduce_by=C("1"))
    assert err.value.code == "order_not_found" and err.value.status == 404


def test_cancel_all_per_ticker():
    ex = Exchange()
    other = make_market("KXTEST-26NOV24-T2")
    ex.engine.add_market(other)
    ex.place("a", "yes", "0.40", "1")
    ex.engine.place_order("a", other.ticker, "yes", P("0.30"), C("1"))
    ex.place("b", "yes", "0.41", "1")
    cancelled = ex.engine.cancel_all("a", ex.market.ticker)
    assert len(cancelled) == 1 and ex.yes() == {P("0.41"): C("1")}
    assert ex.engine.book(other.ticker, "yes") == {P("0.30"): C("1")}
    assert len(ex.engine.cancel_all("a")) == 1
    assert ex.engine.accounts["a"].balance == RICH and ex.engine.accounts["a"].resting_order_cost == 0


def test_cancel_someone_elses_order_is_not_found(ex):
    order = ex.place("a", "yes", "0.40", "1")
    with pytest.raises(EngineError) as err:
        ex.engine.cancel_order("b", order.order_id)
    assert err.value.code == "order_not_found"


# --- validation ---


@pytest.mark.parametrize("price, ok", [("0.0050", True), ("0.0990", True), ("0.1000", True), ("0.5000", True),
                                       ("0.5050", False), ("0.9010", True), ("0.9990", True), ("0.0005", False),
                                       ("0.0000", False), ("1.0000", False)])
def test_tapered_tick_grid(price, ok):
    ex = Exchange(make_market(ranges=TAPERED))
    if ok:
        assert ex.place("a", "yes", price, "1").status is OrderStatus.RESTING
    else:
        with pytest.raises(EngineError) as err:
            ex.place("a", "yes", price, "1")
        assert err.value.code == "invalid_price"


@pytest.mark.parametrize("price", ["0.0150", "0.0000", "1.0000", "0.0050"])
def test_linear_cent_rejects_off_grid(ex, price):
    with pytest.raises(EngineError) as err:
        ex.place("a", "yes", price, "1")
    assert err.value.code == "invalid_price"


def test_rejections(ex):
    with pytest.raises(EngineError) as err:
        ex.place("a", "yes", "0.40", "0")
    assert err.value.code == "invalid_count"
    ex.place("a", "yes", "0.40", "1", client_order_id="x1")
    with pytest.raises(EngineError) as err:
        ex.place("a", "yes", "0.40", "1", client_order_id="x1")
    assert err.value.code == "duplicate_client_order_id" and err.value.status == 409
    assert ex.place("b", "yes", "0.40", "1", client_order_id="x1").client_order_id == "x1"  # other account
    assert ex.engine.find_order_by_client_id("a", "x1").account == "a"
    with pytest.raises(EngineError) as err:
        ex.engine.place_order("a", "NOPE", "yes", P("0.40"), C("1"))
    assert err.value.code == "market_not_found" and err.value.status == 404
    ex.engine.close_market(ex.market.ticker)
    with pytest.raises(EngineError) as err:
        ex.place("a", "yes", "0.40", "1")
    assert err.value.code == "market_closed"


def test_balance_is_held_by_resting_orders_and_released_on_cancel():
    ex = Exchange()
    ex.engine.open_account("poor", M("10.00"))
    order = ex.place("poor", "yes", "0.40", "20")  # $8.00 held
    acct = ex.engine.accounts["poor"]
    assert acct.balance == M("2.00") and acct.resting_order_cost == M("8.00")
    with pytest.raises(EngineError) as err:
        ex.place("poor", "no", "0.50", "5")  # $2.50 > $2.00
    assert err.value.code == "insufficient_balance"
    ex.engine.cancel_order("poor", order.order_id)
    assert acct.balance == M("10.00") and acct.resting_order_cost == 0


def test_taker_needs_cost_plus_fee():
    ex = Exchange()
    ex.engine.open_account("poor", M("5.00"))
    ex.place("a", "no", "0.50", "100")
    with pytest.raises(EngineError) as err:  # 10 @ 0.50 = $5.00 + $0.18 fee
        ex.place("poor", "yes", "0.50", "10", time_in_force=TimeInForce.IOC)
    assert err.value.code == "insufficient_balance"
    ex.place("poor", "yes", "0.50", "9", time_in_force=TimeInForce.IOC)  # $4.50 + $0.16
    assert ex.engine.accounts["poor"].balance == M("5.00") - M("4.50") - M("0.16")


def test_closing_a_position_needs_no_cash_beyond_the_fee():
    ex = Exchange()
    ex.engine.open_account("d", M("10.00"))
    ex.place("a", "no", "0.60", "10")
    ex.place("d", "yes", "0.40", "10", time_in_force=TimeInForce.IOC)  # $4.00 + $0.17 fee
    acct = ex.engine.accounts["d"]
    assert acct.balance == M("5.83")
    ex.place("b", "yes", "0.10", "10")  # d sells its YES at 0.10 by buying NO at 0.90
    ex.engine.open_account("e", 0)
    ex.place("d", "no", "0.90", "10", time_in_force=TimeInForce.IOC)
    # pays 0.90 * 10 and gets $1.00 per closed pair: +$1.00, fee ceil(0.07*10*0.09) = $0.07
    assert acct.balance == M("5.83") + M("1.00") - M("0.07")
    assert acct.positions[ex.market.ticker] == 0
    assert acct.realized_pnl[ex.market.ticker] == M("1.00") - M("4.00")


# --- fees ---


@pytest.mark.parametrize("price, count, multiplier, taker, maker", [
    ("0.5000", "100", 1.0, "1.75", "0.44"),  # 0.07*100*.25 = 1.75; 0.0175*100*.25 = 0.4375 -> 0.44
    ("0.5000", "1", 1.0, "0.02", "0.01"),  # 0.0175 -> 0.02; 0.004375 -> 0.01
    ("0.1000", "10", 1.0, "0.07", "0.02"),  # 0.063 -> 0.07; 0.01575 -> 0.02
    ("0.4200", "0.50", 1.0, "0.01", "0.01"),  # 0.008526 -> 0.01
    ("0.5000", "100", 0.5, "0.88", "0.22"),  # 0.875 -> 0.88; 0.21875 -> 0.22
    ("0.0500", "1000", 1.0, "3.33", "0.84"),  # 0.07*1000*.0475 = 3.325 -> 3.33; 0.83125 -> 0.84
    ("0.9900", "100", 1.0, "0.07", "0.02"),  # 0.0693 -> 0.07; 0.017325 -> 0.02
])
def test_fee_formula_exact(price, count, multiplier, taker, maker):
    with_makers = make_market(fee_type="quadratic_with_maker_fees", fee_multiplier=multiplier)
    assert Engine.taker_fee(with_makers, P(price), C(count)) == M(taker)
    assert Engine.maker_fee(with_makers, P(price), C(count)) == M(maker)
    assert Engine.maker_fee(make_market(fee_multiplier=multiplier), P(price), C(count)) == 0


def test_fees_charged_per_fill_to_both_sides():
    ex = Exchange(make_market(fee_type="quadratic_with_maker_fees"))
    ex.place("a", "yes", "0.50", "100")
    ex.place("b", "no", "0.50", "100")
    fills = {f.account: f for f in ex.of(Filled)}
    assert fills["b"].fee == M("1.75") and fills["b"].is_taker
    assert fills["a"].fee == M("0.44") and not fills["a"].is_taker
    assert ex.engine.fees_collected == M("2.19")
    assert ex.engine.accounts["a"].balance == RICH - M("50.00") - M("0.44")
    assert ex.engine.accounts["b"].fees_paid[ex.market.ticker] == M("1.75")


# --- positions and settlement ---


def test_position_accounting_and_settlement(ex):
    ex.place("a", "yes", "0.42", "10")
    ex.place("b", "no", "0.58", "10")
    a, b = ex.engine.accounts["a"], ex.engine.accounts["b"]
    t = ex.market.ticker
    assert (a.positions[t], a.cost_basis[t]) == (C("10"), M("4.20"))
    assert (b.positions[t], b.cost_basis[t]) == (-C("10"), M("5.80"))
    assert ex.market.volume == C("10") and ex.market.open_interest == C("10") and ex.market.last_price == P("0.42")
    ex.engine.settle_market(t, "yes")
    assert a.balance == RICH - M("4.20") + M("10.00")
    assert b.balance == RICH - M("5.80") - M("0.18")  # the taker fee 0.07*10*.2436 = 0.1705
    assert a.realized_pnl[t] == M("5.80") and b.realized_pnl[t] == -M("5.80")
    assert a.positions[t] == 0 and b.positions[t] == 0
    assert ex.market.status is MarketStatus.SETTLED and ex.market.result == "yes"
    kinds = [e.event_type for e in ex.of(MarketLifecycle)]
    assert kinds == ["created", "activated", "deactivated", "determined", "settled"]


def test_buying_the_other_side_closes_and_realizes(ex):
    t = ex.market.ticker
    ex.place("b", "no", "0.60", "10")
    ex.place("a", "yes", "0.40", "10")  # a: +10 YES at 0.40
    ex.place("c", "yes", "0.30", "4")
    a = ex.engine.accounts["a"]
    before = a.balance
    ex.place("a", "no", "0.70", "4")  # a sells 4 YES at 0.30
    assert a.positions[t] == C("6") and a.cost_basis[t] == M("2.40")
    assert a.realized_pnl[t] == M("1.20") - M("1.60")
    assert a.balance == before + M("1.20") - M("0.06")  # fee 0.07*4*.21 = 0.0588
    ex.place("c", "yes", "0.30", "10")
    ex.place("a", "no", "0.70", "10")  # closes 6, opens 4 NO at 0.70
    assert a.positions[t] == -C("4") and a.cost_basis[t] == M("2.80")


def test_close_market_cancels_and_releases(ex):
    ex.place("a", "yes", "0.40", "10")
    ex.place("b", "no", "0.40", "10")
    ex.engine.close_market(ex.market.ticker)
    assert ex.yes() == {} and ex.no() == {}
    assert all(acct.balance == RICH and acct.resting_order_cost == 0 for acct in ex.engine.accounts.values())


def test_book_changed_events_carry_the_owner(ex):
    ex.place("a", "yes", "0.40", "10", client_order_id="mine")
    ex.place("b", "no", "0.60", "4", client_order_id="theirs")
    changes = ex.of(BookChanged)
    assert [(c.side, c.price, c.delta, c.size, c.account, c.client_order_id) for c in changes] == [
        ("yes", P("0.40"), C("10"), C("10"), "a", "mine"),
        ("yes", P("0.40"), -C("4"), C("6"), "a", "mine"),
    ]


def test_reduce_only_caps_at_the_position(ex):
    t = ex.market.ticker
    ex.place("b", "no", "0.60", "10")
    ex.place("a", "yes", "0.40", "3", time_in_force=TimeInForce.IOC)
    ex.place("c", "yes", "0.35", "10")
    order = ex.place("a", "no", "0.65", "10", time_in_force=TimeInForce.IOC, reduce_only=True)
    assert order.filled == C("3") and ex.engine.accounts["a"].positions[t] == 0
    with pytest.raises(EngineError):
        ex.place("a", "no", "0.65", "1", reduce_only=True)


# --- invariants under random order flow ---

ACCOUNTS = ("a", "b", "c", "d")
PRICES = (1000, 1010, 1100, 4400, 4500, 4600, 5000, 5400, 5500, 5600, 8900, 9000, 9050)


def _random_ops(rng, n: int) -> list[tuple]:
    """A mixed order flow: mostly places around the middle, plus cancels, amends and decreases."""
    ops: list[tuple] = []
    for _ in range(n):
        kind = rng.choices(("place", "cancel", "amend", "decrease"), (6, 2, 2, 1))[0]
        account = rng.choice(ACCOUNTS)
        if kind == "place":
            ops.append((kind, account, rng.choice(("yes", "no")), rng.choice(PRICES), rng.randint(1, 3000),
                        rng.choice(list(TimeInForce)), rng.random() < 0.2, rng.choice(list(SelfTradePrevention))))
        elif kind == "amend":
            ops.append((kind, account, rng.randrange(50), rng.choice(PRICES), rng.randint(1, 3000)))
        else:
            ops.append((kind, account, rng.randrange(50), rng.randint(1, 2000)))
    return ops


def _value(engine: Engine, outcome: str, ticker: str) -> int:
    total = 0
    for acct in engine.accounts.values():
        total += acct.balance + acct.resting_order_cost
        pos = acct.positions.get(ticker, 0)
        if (outcome == "yes" and pos > 0) or (outcome == "no" and pos < 0):
            total += abs(pos) * ONE_DOLLAR
    return total


def _check_invariants(ex: Exchange, initial: int) -> None:
    engine, t = ex.engine, ex.market.ticker
    for outcome in ("yes", "no"):
        assert _value(engine, outcome, t) + engine.fees_collected == initial
    for side in ("yes", "no"):
        expected: dict[int, int] = defaultdict(int)
        for order in engine.orders.values():
            if order.status is OrderStatus.RESTING and order.side == side:
                assert order.remaining > 0
                expected[order.price] += order.remaining
        assert engine.book(t, side) == dict(expected)
    for acct in engine.accounts.values():
        held = sum(o.price * o.remaining + Engine.maker_fee(ex.market, o.price, o.remaining)
                   for o in engine.resting_orders(acct.name))
        assert acct.resting_order_cost == held
        assert acct.cost_basis.get(t, 0) >= 0
        # a maker fee rounds up per fill, so with maker fees a drained account may dip a cent per fill
        assert acct.balance >= (0 if ex.market.fee_type == "quadratic" else -M("0.01") * len(ex.of(Filled)))
    longs = sum(max(a.positions.get(t, 0), 0) for a in engine.accounts.values())
    shorts = sum(max(-a.positions.get(t, 0), 0) for a in engine.accounts.values())
    assert longs == shorts == ex.market.open_interest
    yes, no = engine.best_bids(t)
    assert not (yes and no) or yes + no < ONE_DOLLAR  # a resting book never stays crossed


@settings(max_examples=150, deadline=None)
@given(rng=st.randoms(use_true_random=False), n=st.integers(10, 150), outcome=st.sampled_from(("yes", "no")),
       tapered=st.booleans(), makers=st.booleans())
def test_random_flow_invariants(rng, n, outcome, tapered, makers):
    ops = _random_ops(rng, n)
    market = make_market(ranges=TAPERED if tapered else LINEAR,
                         fee_type="quadratic_with_maker_fees" if makers else "quadratic")
    ex = Exchange(market, accounts=())
    for name in ACCOUNTS:
        ex.engine.open_account(name, M("20"))
    initial = 4 * M("20")
    orders = []
    for step in ops:
        kind, account = step[0], step[1]
        ex.t += 1
        try:
            if kind == "place":
                _, _, side, price, count, tif, post_only, stp = step
                orders.append(ex.engine.place_order(account, market.ticker, side, price, count, time_in_force=tif,
                                                    post_only=post_only, self_trade_prevention=stp))
            elif orders:
                order = orders[step[2] % len(orders)]
                account = order.account  # mostly its owner's own (resting or finished) order
                if kind == "cancel":
                    ex.engine.cancel_order(account, order.order_id)
                elif kind == "amend":
                    ex.engine.amend_order(account, order.order_id, price=step[3], count=order.filled + step[4])
                else:
                    ex.engine.decrease_order(account, order.order_id, reduce_by=step[3])
        except EngineError as err:
            assert err.code in {"insufficient_balance", "post_only_cross", "fok_not_filled", "order_not_found",
                                "invalid_price", "invalid_count"}
            event(f"rejected: {err.code}")
        _check_invariants(ex, initial)

    event(f"trades>0: {bool(ex.of(Traded))}")
    # every trade: one Traded, two Filled (one per side) with equal counts and prices
    fills: dict[str, list[Filled]] = defaultdict(list)
    for f in ex.of(Filled):
        fills[f.trade_id].append(f)
    trades = ex.of(Traded)
    assert len(fills) == len(trades)
    for trade in trades:
        taker, maker = sorted(fills[trade.trade_id], key=lambda f: not f.is_taker)
        assert taker.is_taker and not maker.is_taker and taker.account != maker.account
        assert taker.count == maker.count == trade.count
        assert taker.yes_price == maker.yes_price == trade.yes_price
        assert {taker.side, maker.side} == {"yes", "no"} and taker.side == trade.taker_side
    # the BookChanged stream rebuilds the book
    replica: dict[tuple[str, int], int] = defaultdict(int)
    for change in ex.of(BookChanged):
        replica[(change.side, change.price)] += change.delta
        assert replica[(change.side, change.price)] == change.size >= 0
    for side in ("yes", "no"):
        assert {p: s for (sd, p), s in replica.items() if sd == side and s} == ex.engine.book(market.ticker, side)
    # the last PositionChanged per account is the position
    last = {e.account: e.position for e in ex.of(PositionChanged)}
    for name, position in last.items():
        assert ex.engine.accounts[name].positions[market.ticker] == position

    ex.engine.settle_market(market.ticker, outcome)
    assert sum(a.balance for a in ex.engine.accounts.values()) + ex.engine.fees_collected == initial
    assert all(a.positions.get(market.ticker, 0) == 0 and a.resting_order_cost == 0
               for a in ex.engine.accounts.values())
