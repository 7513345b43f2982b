"""Fees and portfolio accounting: hand-worked cases, accounting invariants, and equality with the engine."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kalshi_actor.books.book import Book
from kalshi_actor.sim.engine import Engine, EngineError
from kalshi_actor.sim.types import Filled, Market, PriceRange, TimeInForce
from kalshi_actor.trading.fees import FeeSchedule
from kalshi_actor.trading.portfolio import Portfolio, book_fill, mark_price, mark_value, settle
from kalshi_actor.trading.types import FillEvent, WorkingOrder
from kalshi_actor.units import ONE_DOLLAR, parse_count, parse_money, parse_price

P = parse_price
C = parse_count
M = parse_money
T = "KXTEST-T1"
START = M("1000")

# --- fees ---


@pytest.mark.parametrize(("fee_type", "multiplier", "price", "count", "taker", "maker"), [
    # 0.07 * 10 * 0.5 * 0.5 = 0.175 -> 0.18; 0.0175 * 10 * 0.25 = 0.04375 -> 0.05
    ("quadratic_with_maker_fees", 1.0, "0.50", "10", "0.18", "0.05"),
    # 0.07 * 1 * 0.01 * 0.99 = 0.000693 -> 0.01 (rounded UP to the cent)
    ("quadratic_with_maker_fees", 1.0, "0.01", "1", "0.01", "0.01"),
    # 0.07 * 100 * 0.3 * 0.7 * 0.5 = 0.735 -> 0.74; combo makers 0.035 * 100 * 0.21 * 0.5 = 0.3675 -> 0.37
    ("quadratic_with_combo_maker_fees", 0.5, "0.30", "100", "0.74", "0.37"),
    # a quadratic series charges no maker fee; 0.07 * 3 * 0.4 * 0.6 = 0.0504 -> 0.06
    ("quadratic", 1.0, "0.40", "3", "0.06", "0"),
    # fractional counts and deci-cent prices: 0.07 * 0.5 * 0.955 * 0.045 = 0.00150412... -> 0.01
    ("flat", 1.0, "0.955", "0.50", "0.01", "0"),
    # exactly on a cent stays there: 0.07 * 20 * 0.5 * 0.5 = 0.35
    ("quadratic", 1.0, "0.50", "20", "0.35", "0"),
    # multiplier 0: no fee at all
    ("quadratic_with_maker_fees", 0.0, "0.50", "10", "0", "0"),
])
def test_fee_formula(fee_type, multiplier, price, count, taker, maker):
    schedule = FeeSchedule(fee_type, multiplier)
    assert schedule.taker_fee(P(price), C(count)) == M(taker)
    assert schedule.maker_fee(P(price), C(count)) == M(maker)
    assert schedule.fill_fee(P(price), C(count), True) == M(taker)


def test_fee_schedule_is_exact_and_shared():
    # 0.1 as a float is not 1/10; the multiplier is read as the decimal it was written as
    assert FeeSchedule("quadratic", 0.1).taker == FeeSchedule("quadratic", Fraction(1, 10)).taker
    assert FeeSchedule.of("quadratic", 0.5) is FeeSchedule.of("quadratic", 0.5)
    assert FeeSchedule.of().charges_makers is False
    assert FeeSchedule.of("quadratic_with_maker_fees").charges_makers is True
    with pytest.raises(ValueError):
        FeeSchedule("quadratic", -1.0)


def test_hold_is_cost_plus_maximal_maker_fee():
    assert FeeSchedule.of("quadratic_with_maker_fees").hold(P("0.50"), C("10")) == M("5.05")
    assert FeeSchedule.of().hold(P("0.50"), C("10")) == M("5.00")


def test_engine_fees_are_the_shared_ones():
    market = Market(T, "E", "S", "t", "m", 0, 1, "linear_cent", [PriceRange(0, ONE_DOLLAR, 100)],
                    fee_type="quadratic_with_maker_fees", fee_multiplier=0.5)
    schedule = FeeSchedule.of("quadratic_with_maker_fees", 0.5)
    for price in range(100, ONE_DOLLAR, 700):
        assert Engine.taker_fee(market, price, C("7")) == schedule.taker_fee(price, C("7"))
        assert Engine.maker_fee(market, price, C("7")) == schedule.maker_fee(price, C("7"))


# --- position arithmetic, by hand ---


def fill(side, price, count, fee="0", ticker=T, is_taker=True):
    return FillEvent(ticker, "o", side, P(price), C(count), M(fee), is_taker, 0)


def test_buy_then_buy_the_other_side_nets_pairs_at_one_dollar():
    pf = Portfolio(START)
    pf.apply_fill(fill("yes", "0.40", "10", "0.17"))
    assert pf.cash == START - M("4.17")
    pos = pf.apply_fill(fill("no", "0.45", "4", "0.07"))  # "sell" 4 YES at 0.55
    # paid 0.45 * 4 = 1.80, got $1.00 back per closed pair = 4.00; fee 0.07
    assert pf.cash == START - M("4.17") - M("1.80") + M("4.00") - M("0.07")
    assert (pos.count, pos.cost_basis) == (C("6"), M("2.40"))  # 6/10 of the 4.00 basis stays
    assert pos.realized_pnl == M("0.60")  # (1 - 0.45 - 0.40) * 4
    assert pos.fees_paid == pf.fees_paid == M("0.24")


def test_selling_from_flat_opens_the_other_side_and_costs_money():
    pf = Portfolio(START)
    pos = pf.apply_fill(fill("no", "0.30", "5", "0.08"))  # "sell YES at 0.70" from flat
    assert pos.count == -C("5") and pos.cost_basis == M("1.50")
    assert pf.cash == START - M("1.50") - M("0.08")  # never more cash than before
    assert pf.realized_pnl == 0


def test_crossing_through_flat_closes_then_opens():
    after, cost, closed, realized = book_fill(C("3"), M("1.20"), "no", P("0.50"), C("5"))
    assert (after, cost, closed, realized) == (-C("2"), M("1.00"), C("3"), M("0.30"))
    # pro rata cost removal rounds down (the engine's rule); the last contract takes the rest
    after, cost, closed, realized = book_fill(C("3"), 100, "no", P("0.50"), C("1"))
    assert (after, cost, closed) == (C("2"), 100 - 100 * 100 // 300, C("1"))


def test_settlement_pays_a_dollar_per_winning_contract():
    assert settle(C("4"), M("1.60"), "yes") == (M("4.00"), M("2.40"))
    assert settle(C("4"), M("1.60"), "no") == (0, -M("1.60"))
    assert settle(-C("4"), M("2.40"), "no") == (M("4.00"), M("1.60"))
    pf = Portfolio(START)
    pf.apply_fill(fill("no", "0.60", "4", "0.07"))
    assert pf.settle(T, "no") == M("4.00")
    assert pf.cash == START - M("2.40") - M("0.07") + M("4.00")
    assert pf.position(T).count == 0 and pf.position(T).cost_basis == 0
    assert pf.realized_pnl == M("1.60")
    assert pf.settle(T, "no") == 0  # nothing left to pay


def test_marks_bid_and_mid():
    book = Book(T)
    book.apply_snapshot([(P("0.40"), C("5"))], [(P("0.55"), C("3"))])  # YES 0.40 / 0.45, NO 0.55 / 0.60
    assert mark_price(book, "yes", "bid") == P("0.40")
    assert mark_price(book, "yes", "mid") == P("0.425")
    assert mark_price(book, "no", "mid") == P("0.575")
    pf = Portfolio(START)
    pf.apply_fill(fill("yes", "0.45", "10"))
    assert mark_value(C("10"), book, "bid") == M("4.00")
    assert pf.unrealized_pnl({T: book}) == M("4.00") - M("4.50")
    assert pf.unrealized_pnl({T: book}, "mid") == M("4.25") - M("4.50")
    assert pf.equity({T: book}, "mid") == START - M("4.50") + M("4.25")
    book.apply_snapshot([(P("0.40"), C("5"))], [(P("0.55"), C("3")), (P("0.5505"), C("1"))])  # a half-pip mid
    assert mark_value(C("1"), book, "mid") == (C("1") * (P("0.40") + P("0.4495"))) // 2
    book.apply_snapshot([], [(P("0.55"), C("3"))])  # no YES bid: a YES position cannot be closed
    assert mark_value(C("10"), book, "bid") == 0 and mark_value(C("10"), book, "mid") == 0
    assert mark_value(-C("10"), book, "mid") == M("5.50")  # mid falls back to the bid
    with pytest.raises(ValueError):
        mark_value(C("1"), book, "last")  # type: ignore[arg-type]


def test_holds_of_resting_orders():
    pf = Portfolio(START, fees={T: FeeSchedule.of("quadratic_with_maker_fees")})
    order = WorkingOrder("o1", "c1", T, "yes", P("0.50"), C("10"), 0)
    assert pf.set_orders(T, [order]) == M("5.05")
    assert pf.available == START - M("5.05") and pf.cash == START
    order.remaining = C("4")
    pf.set_orders(T, [order])
    assert pf.held == M("2.02")  # 2.00 + ceil(0.0175 * 4 * 0.25) = 0.02
    pf.set_orders(T, [])
    assert pf.held == 0 and pf.available == START
    pf.set_orders(T, [order])
    pf.settle(T, "yes")  # the exchange cancels resting orders when the market closes
    assert pf.held == 0 and pf.available == START


def test_a_fill_needs_a_positive_count():
    with pytest.raises(ValueError):
        Portfolio(START).apply_fill(fill("yes", "0.50", "0"))


# --- invariants (property-based) ---

prices = st.integers(1, 99).map(lambda c: c * 100)
counts = st.integers(1, 5_000)  # hundredths: fractional contracts included
sides = st.sampled_from(["yes", "no"])
schedules = st.sampled_from([FeeSchedule.of(), FeeSchedule.of("quadratic_with_maker_fees"),
                             FeeSchedule.of("quadratic", 0.5)])
flows = st.lists(st.tuples(sides, prices, counts, st.booleans()), min_size=1, max_size=30)


def run(flow, schedule, ticker=T):
    pf = Portfolio(START)
    for side, price, count, taker in flow:
        pf.apply_fill(FillEvent(ticker, "o", side, price, count, schedule.fill_fee(price, count, taker), taker, 0))
    return pf


def mirror(flow):
    return [("no" if side == "yes" else "yes", price, count, taker) for side, price, count, taker in flow]


@given(side=sides, price=prices, count=counts, schedule=schedules)
def test_round_trip_at_the_same_price_loses_exactly_the_fees(side, price, count, schedule):
    other = "no" if side == "yes" else "yes"
    pf = run([(side, price, count, True), (other, ONE_DOLLAR - price, count, True)], schedule)
    assert pf.cash == START - pf.fees_paid
    assert pf.fees_paid == schedule.taker_fee(price, count) + schedule.taker_fee(ONE_DOLLAR - price, count)
    assert pf.position(T).count == 0 and pf.position(T).cost_basis == 0 and pf.realized_pnl == 0


@given(side=sides, buy=prices, sell=prices, count=counts, schedule=schedules)
def test_round_trip_pnl_is_the_price_difference_minus_fees(side, buy, sell, count, schedule):
    other = "no" if side == "yes" else "yes"
    # buy `side` at `buy`, then sell it at `sell` = buy the other side at 1 - sell
    pf = run([(side, buy, count, True), (other, ONE_DOLLAR - sell, count, False)], schedule)
    assert pf.realized_pnl == (sell - buy) * count
    assert pf.cash - START == (sell - buy) * count - pf.fees_paid
    assert pf.exposure == 0


@given(flow=flows, schedule=schedules, outcome=sides)
def test_no_cash_from_nothing(flow, schedule, outcome):
    """Whatever the flow, each contract bought pays its outcome value and nothing else."""
    pf = run(flow, schedule)
    fees = sum(schedule.fill_fee(p, c, t) for _, p, c, t in flow)
    assert pf.fees_paid == fees
    # before settlement: cash is what was paid, plus $1.00 per netted YES+NO pair
    yes = sum(c for s, _, c, _ in flow if s == "yes")
    no = sum(c for s, _, c, _ in flow if s == "no")
    paid = sum(p * c for _, p, c, _ in flow)
    assert pf.cash == START - paid - fees + ONE_DOLLAR * min(yes, no)
    assert pf.position(T).count == yes - no
    pf.settle(T, outcome)
    won = yes if outcome == "yes" else no
    assert pf.cash == START + ONE_DOLLAR * won - paid - fees
    assert pf.cash - START == pf.realized_pnl - pf.fees_paid
    assert pf.position(T).count == 0 and pf.exposure == 0


@given(flow=flows, schedule=schedules, yes_bid=prices, no_bid=prices)
def test_equity_is_start_plus_realized_plus_unrealized_minus_fees(flow, schedule, yes_bid, no_bid):
    pf = run(flow, schedule)
    book = Book(T)
    book.apply_snapshot([(yes_bid, 100)], [(no_bid, 100)])
    for mark in ("bid", "mid"):
        assert pf.equity({T: book}, mark) - START == pf.net_pnl({T: book}, mark)
        assert pf.net_pnl({T: book}, mark) == pf.realized_pnl + pf.unrealized_pnl({T: book}, mark) - pf.fees_paid
    assert pf.exposure == pf.position(T).cost_basis >= 0


@given(flow=flows, schedule=schedules, outcome=sides, yes_bid=prices, no_bid=prices)
def test_yes_no_symmetry(flow, schedule, outcome, yes_bid, no_bid):
    """Swapping YES and NO everywhere (sides, books, outcome) mirrors every figure."""
    pf, mirrored = run(flow, schedule), run(mirror(flow), schedule)
    a, b = pf.position(T), mirrored.position(T)
    assert b.count == -a.count
    assert (b.cost_basis, b.realized_pnl, b.fees_paid, mirrored.cash) == (a.cost_basis, a.realized_pnl, a.fees_paid,
                                                                          pf.cash)
    book, mirror_book = Book(T), Book(T)
    book.apply_snapshot([(yes_bid, 100)], [(no_bid, 100)])
    mirror_book.apply_snapshot([(no_bid, 100)], [(yes_bid, 100)])
    for mark in ("bid", "mid"):
        assert mirrored.unrealized_pnl({T: mirror_book}, mark) == pf.unrealized_pnl({T: book}, mark)
    pf.settle(T, outcome)
    mirrored.settle(T, "no" if outcome == "yes" else "yes")
    assert (mirrored.cash, mirrored.realized_pnl) == (pf.cash, pf.realized_pnl)


# --- the portfolio and the exchange agree ---


def engine_fill(e: Filled) -> FillEvent:
    """The engine's fill (YES price) as a FillEvent (own-side price), as the live fill channel gives it."""
    price = e.yes_price if e.side == "yes" else ONE_DOLLAR - e.yes_price
    return FillEvent(e.ticker, e.order_id, e.side, price, e.count, e.fee, e.is_taker, e.ts_ms, e.trade_id)


orders = st.lists(
    st.tuples(st.sampled_from(["a", "b"]), sides, st.integers(35, 65), st.integers(1, 800),
              st.sampled_from(["gtc", "gtc", "ioc", "cancel"])),
    min_size=20, max_size=80)


@settings(max_examples=60, deadline=None)
@given(flow=orders, fee_type=st.sampled_from(["quadratic", "quadratic_with_maker_fees"]),
       outcome=st.sampled_from(["yes", "no", ""]))
def test_portfolio_equals_the_engines_account_for_its_fills(flow, fee_type, outcome):
    t = [1_000]
    engine = Engine(lambda: t[0], seed=3)
    engine.add_market(Market(T, "E", "S", "t", "m", 0, 10**13, "linear_cent", [PriceRange(0, ONE_DOLLAR, 100)],
                             fee_type=fee_type))
    books = {name: Portfolio(M("500"), fees={T: FeeSchedule.of(fee_type)}) for name in ("a", "b")}
    for name in books:
        engine.open_account(name, M("500"))
    engine.listeners.append(lambda e: type(e) is Filled and books[e.account].apply_fill(engine_fill(e)))
    for account, side, cents, count, kind in flow:
        t[0] += 1
        if kind == "cancel":
            resting = engine.resting_orders(account, T)
            if resting:
                engine.cancel_order(account, resting[0].order_id)
            continue
        tif = TimeInForce.IOC if kind == "ioc" else TimeInForce.GTC
        try:
            engine.place_order(account, T, side, cents * 100, count, time_in_force=tif)
        except EngineError as exc:
            assert exc.code == "insufficient_balance"
    if outcome:
        engine.settle_market(T, outcome)
        for pf in books.values():
            pf.settle(T, outcome)
    for name, pf in books.items():
        acct = engine.accounts[name]
        resting = [WorkingOrder(o.order_id, o.client_order_id, T, o.side, o.price, o.remaining, 0)
                   for o in engine.resting_orders(name, T)]
        pf.set_orders(T, resting)
        pos = pf.position(T)
        assert pf.cash == acct.balance + acct.resting_order_cost
        assert (pf.held, pf.available) == (acct.resting_order_cost, acct.balance)
        assert pos.count == acct.positions.get(T, 0)
        assert pos.cost_basis == acct.cost_basis.get(T, 0)
        assert pos.realized_pnl == acct.realized_pnl.get(T, 0)
        assert pos.fees_paid == acct.fees_paid.get(T, 0)
    assert sum(pf.fees_paid for pf in books.values()) == engine.fees_collected
