"""The action mapping: config round trip and hash, prices on the grid, order reconciliation, symmetry."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kalshi_actor.books.book import Book
from kalshi_actor.kalshi.grid import TickGrid
from kalshi_actor.trading.actions import ActionConfig, ActionConfigError, intents_for_action
from kalshi_actor.trading.types import Action, AmendOrder, CancelOrder, PlaceOrder, Position, WorkingOrder
from kalshi_actor.units import ONE_DOLLAR, parse_count, parse_price

P = parse_price
C = parse_count
T = "KXTEST-T1"
LINEAR = TickGrid.from_structure("linear_cent")
TAPERED = TickGrid.from_structure("tapered_deci_cent")
JOIN, IMPROVE, CROSS = (ActionConfig(size=C("5"), pricing=p) for p in ("join", "improve", "cross"))


def book(yes=(("0.40", "5"), ("0.38", "7")), no=(("0.55", "3"), ("0.50", "9"))) -> Book:
    """Default: YES bid 0.40 / ask 0.45, NO bid 0.55 / ask 0.60."""
    b = Book(T)
    b.apply_snapshot([(P(p), C(s)) for p, s in yes], [(P(p), C(s)) for p, s in no])
    return b


def order(side, price, remaining, filled="0", order_id=None) -> WorkingOrder:
    return WorkingOrder(order_id or f"{side}-1", "c", T, side, P(price), C(remaining), 0, C(filled))


def act(action, config=JOIN, position=0, orders=(), b=None, grid=LINEAR, **kw):
    return intents_for_action(action, b or book(), grid, position, list(orders), config, **kw)


# --- config ---


def test_config_round_trips_and_has_a_stable_hash():
    config = ActionConfig(size=250, pricing="improve", post_only=False)
    stored = config.to_dict()
    assert stored == {"version": 1, "size": 250, "pricing": "improve", "post_only": False}
    assert ActionConfig.from_dict(stored, expected_hash=config.hash) == config
    assert ActionConfig().hash == "d96a7deddd07cd68"  # a stored model's hash must not drift between releases
    assert len({ActionConfig(size=s, pricing=p).hash for s in (100, 200) for p in ("join", "cross")}) == 4


@pytest.mark.parametrize(("data", "message"), [
    ({"version": 1, "size": 100, "pricing": "join"}, "keys"),
    ({"version": 2, "size": 100, "pricing": "join", "post_only": True}, "version"),
    ({"version": 1, "size": 0, "pricing": "join", "post_only": True}, "size"),
    ({"version": 1, "size": 1.5, "pricing": "join", "post_only": True}, "size"),
    ({"version": 1, "size": 100, "pricing": "market", "post_only": True}, "pricing"),
    ({"version": 1, "size": 100, "pricing": "join", "post_only": "yes"}, "post_only"),
    ([("size", 100)], "mapping"),
])
def test_config_validation(data, message):
    with pytest.raises(ActionConfigError, match=message):
        ActionConfig.from_dict(data)


def test_config_hash_mismatch_is_refused():
    with pytest.raises(ActionConfigError, match="hash"):
        ActionConfig.from_dict(ActionConfig().to_dict(), expected_hash="0" * 16)


# --- prices ---


@pytest.mark.parametrize(("action", "config", "side", "price", "tif"), [
    (Action.BUY_YES_LIMIT, JOIN, "yes", "0.40", "good_till_canceled"),
    (Action.BUY_YES_LIMIT, IMPROVE, "yes", "0.41", "good_till_canceled"),
    (Action.BUY_YES_LIMIT, CROSS, "yes", "0.45", "immediate_or_cancel"),  # the YES ask = 1 - best NO bid
    (Action.BUY_NO_LIMIT, JOIN, "no", "0.55", "good_till_canceled"),
    (Action.BUY_NO_LIMIT, IMPROVE, "no", "0.56", "good_till_canceled"),
    (Action.BUY_NO_LIMIT, CROSS, "no", "0.60", "immediate_or_cancel"),
    (Action.SELL_YES_LIMIT, JOIN, "no", "0.55", "good_till_canceled"),  # selling YES = bidding for NO
    (Action.SELL_NO_LIMIT, CROSS, "yes", "0.45", "immediate_or_cancel"),
])
def test_prices_from_flat(action, config, side, price, tif):
    assert act(action, config) == [PlaceOrder(T, side, P(price), C("5"), tif != "immediate_or_cancel", tif)]


def test_improve_never_reaches_the_ask():
    one_tick = book(yes=(("0.44", "5"),), no=(("0.55", "3"),))  # YES 0.44 / 0.45
    assert act(Action.BUY_YES_LIMIT, IMPROVE, b=one_tick)[0].price == P("0.44")
    assert act(Action.BUY_NO_LIMIT, IMPROVE, b=one_tick)[0].price == P("0.55")


def test_improve_on_a_tapered_grid_moves_one_tick_of_that_band():
    b = book(yes=(("0.050", "5"),), no=(("0.900", "3"),))  # YES 0.050 / 0.100
    assert act(Action.BUY_YES_LIMIT, IMPROVE, b=b, grid=TAPERED)[0].price == P("0.051")
    assert act(Action.BUY_NO_LIMIT, IMPROVE, b=b, grid=TAPERED)[0].price == P("0.901")


def test_undefined_prices_send_nothing():
    no_yes_bids = book(yes=())
    assert act(Action.BUY_YES_LIMIT, JOIN, b=no_yes_bids) == []
    assert act(Action.SELL_NO_LIMIT, IMPROVE, b=no_yes_bids) == []
    assert act(Action.BUY_NO_LIMIT, CROSS, b=no_yes_bids) == []  # nothing to take
    assert act(Action.BUY_NO_LIMIT, JOIN, b=no_yes_bids) == [PlaceOrder(T, "no", P("0.55"), C("5"), True)]
    stale = book()
    stale.mark_stale("gap")
    working = [order("yes", "0.40", "5")]
    for action in Action:
        assert act(action, CROSS, b=stale, orders=working) == []


def test_hold_leaves_everything():
    assert act(Action.HOLD, orders=[order("yes", "0.30", "5"), order("no", "0.20", "1")]) == []


# --- sizes: the five actions mean different things ---


def test_sell_reduces_the_held_side_first():
    assert act(Action.SELL_YES_LIMIT, position=C("3")) == [PlaceOrder(T, "no", P("0.55"), C("3"), True)]
    assert act(Action.SELL_YES_LIMIT, position=Position(T, C("8"))) == [PlaceOrder(T, "no", P("0.55"), C("5"), True)]
    assert act(Action.SELL_YES_LIMIT, position=-C("2")) == [PlaceOrder(T, "no", P("0.55"), C("5"), True)]
    assert act(Action.SELL_NO_LIMIT, position=-C("2")) == [PlaceOrder(T, "yes", P("0.40"), C("2"), True)]
    assert act(Action.BUY_NO_LIMIT, position=C("3")) == [PlaceOrder(T, "no", P("0.55"), C("5"), True)]


def test_no_two_actions_always_agree():
    states = [dict(position=p, orders=o) for p in (0, C("2"), -C("2"))
              for o in ([], [order("yes", "0.40", "5")], [order("no", "0.55", "5")])]
    for config in (JOIN, IMPROVE, CROSS):
        outcomes = {a: [act(a, config, **s) for s in states] for a in Action}
        for a, b in itertools.combinations(Action, 2):
            assert outcomes[a] != outcomes[b], (config.pricing, a, b)


# --- reconciling working orders ---


def test_an_order_already_at_the_target_is_left_alone():
    assert act(Action.BUY_YES_LIMIT, orders=[order("yes", "0.40", "5")]) == []
    # partly filled: fewer than `size` left, same price -> keep the queue position
    assert act(Action.BUY_YES_LIMIT, orders=[order("yes", "0.40", "2", filled="3")]) == []


def test_a_new_price_amends_the_same_side_order():
    working = order("yes", "0.38", "2", filled="3", order_id="w1")
    assert act(Action.BUY_YES_LIMIT, IMPROVE, orders=[working]) == [AmendOrder(T, "w1", "yes", P("0.41"), C("8"))]
    # SELL_NO rests on the same YES book side: it moves the same order, never adds a second one
    assert act(Action.SELL_NO_LIMIT, orders=[working]) == [AmendOrder(T, "w1", "yes", P("0.40"), C("8"))]


def test_a_smaller_target_amends_down_at_the_same_price():
    working = order("no", "0.55", "5", filled="1", order_id="w1")
    assert act(Action.SELL_YES_LIMIT, position=C("2"), orders=[working]) == [
        AmendOrder(T, "w1", "no", P("0.55"), C("3"))]  # count is the new total: 1 filled + 2


def test_cross_cancels_the_same_side_order_and_sends_ioc():
    working = order("yes", "0.40", "5", order_id="w1")
    assert act(Action.BUY_YES_LIMIT, CROSS, orders=[working]) == [
        CancelOrder(T, "w1"), PlaceOrder(T, "yes", P("0.45"), C("5"), False, "immediate_or_cancel")]


def test_our_own_opposite_order_is_cancelled_before_it_would_be_crossed():
    ours = order("no", "0.57", "5", order_id="mine")  # better than the public NO bid 0.55
    assert act(Action.BUY_YES_LIMIT, CROSS, orders=[ours]) == [
        CancelOrder(T, "mine"), PlaceOrder(T, "yes", P("0.45"), C("5"), False, "immediate_or_cancel")]
    assert act(Action.BUY_YES_LIMIT, JOIN, orders=[ours]) == [PlaceOrder(T, "yes", P("0.40"), C("5"), True)]


def test_extra_orders_on_one_side_are_cancelled():
    orders = [order("yes", "0.40", "5", order_id="a"), order("yes", "0.39", "5", order_id="b")]
    assert act(Action.BUY_YES_LIMIT, orders=orders) == [CancelOrder(T, "b")]


def test_a_live_book_with_our_orders_gives_the_same_intents():
    ours = [order("yes", "0.41", "2", order_id="w1"), order("no", "0.55", "1", order_id="w2")]
    live = book(yes=(("0.41", "2"), ("0.40", "5")), no=(("0.55", "4"), ("0.50", "9")))  # + our sizes
    for action, config in itertools.product(Action, (JOIN, IMPROVE, CROSS)):
        assert act(action, config, orders=ours, b=live, book_has_own_orders=True) == act(action, config, orders=ours)


# --- properties ---

grids = st.sampled_from([LINEAR, TAPERED])


@st.composite
def books(draw):
    grid = draw(grids)
    prices = st.sampled_from(grid.prices)
    yes = draw(st.dictionaries(prices, st.integers(1, 1000), max_size=4))
    no_max = ONE_DOLLAR - max(yes) if yes else ONE_DOLLAR  # an uncrossed book
    no = draw(st.dictionaries(prices.filter(lambda p: p < no_max), st.integers(1, 1000), max_size=4))
    b = Book(T)
    b.apply_snapshot(yes.items(), no.items())
    return grid, b


configs = st.builds(ActionConfig, size=st.integers(1, 1000), pricing=st.sampled_from(["join", "improve", "cross"]),
                    post_only=st.booleans())


@given(gb=books(), config=configs, action=st.sampled_from(list(Action)), position=st.integers(-500, 500))
def test_prices_are_on_the_grid_and_passive_orders_never_cross(gb, config, action, position):
    grid, b = gb
    for intent in act(action, config, position, b=b, grid=grid):
        if isinstance(intent, CancelOrder):
            continue
        assert intent.price in grid and 0 < intent.price < ONE_DOLLAR
        assert intent.count > 0
        other = b.best_no_bid_price if intent.side == "yes" else b.best_yes_bid_price
        if config.pricing != "cross" and other is not None:
            assert intent.price + other < ONE_DOLLAR


MIRROR = {Action.HOLD: Action.HOLD, Action.BUY_YES_LIMIT: Action.BUY_NO_LIMIT,
          Action.BUY_NO_LIMIT: Action.BUY_YES_LIMIT, Action.SELL_YES_LIMIT: Action.SELL_NO_LIMIT,
          Action.SELL_NO_LIMIT: Action.SELL_YES_LIMIT}


def _swap(intent):
    if isinstance(intent, CancelOrder):
        return intent
    other = "no" if intent.side == "yes" else "yes"
    return type(intent)(**{**{f: getattr(intent, f) for f in intent.__slots__}, "side": other})


@given(gb=books(), config=configs, action=st.sampled_from(list(Action)), position=st.integers(-500, 500))
def test_yes_no_symmetry(gb, config, action, position):
    """Swapping YES and NO (book sides, position, action) swaps the intents' sides and nothing else."""
    grid, b = gb
    mirrored = Book(T)
    mirrored.apply_snapshot(b.no.items(), b.yes.items())
    direct = act(action, config, position, b=b, grid=grid)
    assert [_swap(i) for i in direct] == act(MIRROR[action], config, -position, b=mirrored, grid=grid)
