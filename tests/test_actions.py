"""The action mapping: config round trip and hash, prices on the grid, order reconciliation, symmetry."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kalshi_actor.books.book import Book
from kalshi_actor.kalshi.grid import TickGrid
from kalshi_actor.trading.actions import (
    N_ACTIONS,
    QUOTE_SHAPES,
    ActionConfig,
    ActionConfigError,
    action_mask,
    intents_for_action,
    maker_actions,
)
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


# --- spaces: the seed space is unchanged, the maker space is its own ---

MAKER = ActionConfig(space="maker", sizes=(C("5"), C("10")))
M = MAKER.action_id
SEED_DICT = {"version": 1, "size": 100, "pricing": "join", "post_only": True}


def test_the_seed_space_keeps_its_stored_form_and_names():
    assert ActionConfig().to_dict() == SEED_DICT and ActionConfig().hash == "d96a7deddd07cd68"
    assert ActionConfig().n_actions == N_ACTIONS == 5
    assert ActionConfig().action_names == ("hold", "buy_yes_limit", "sell_yes_limit", "buy_no_limit",
                                           "sell_no_limit")


def test_the_maker_space_round_trips_and_never_loads_as_the_seed_space():
    config = ActionConfig(space="maker")
    stored = config.to_dict()
    assert stored == {"version": 1, "space": "maker", "sizes": [100, 300], "post_only": True}
    assert ActionConfig.from_dict(stored, expected_hash=config.hash) == config
    assert config.hash != ActionConfig().hash and MAKER.hash != config.hash
    for bad, message in [({**stored, "size": 100}, "keys"), ({**SEED_DICT, "space": "seed"}, "keys"),
                         ({**stored, "space": "seed"}, "space"), ({**stored, "version": 2}, "version"),
                         ({**stored, "sizes": []}, "sizes"), ({**stored, "sizes": [300, 100]}, "sizes"),
                         ({**stored, "sizes": [100, 200, 300]}, "sizes"), ({**stored, "sizes": 100}, "sizes")]:
        with pytest.raises(ActionConfigError, match=message):
            ActionConfig.from_dict(bad)
    with pytest.raises(ActionConfigError, match="seed space"):
        ActionConfig(space="maker", size=200)
    with pytest.raises(ActionConfigError, match="maker space"):
        ActionConfig(sizes=(200,))


def test_the_maker_action_list():
    config = ActionConfig(space="maker")
    shapes = [name for name, _, _ in QUOTE_SHAPES]
    assert config.action_names == ("hold", *(f"{s}_1c" for s in shapes), *(f"{s}_3c" for s in shapes),
                                   "pull", "flatten")
    assert config.n_actions == 17 == len(set(config.action_names))
    assert ActionConfig(space="maker", sizes=(150,)).action_names[1] == "quote_join_150h"
    assert config.quote_id("quote_skew_long") == 4 and config.quote_id("quote_join", 300) == 8
    assert [a.name for a in maker_actions(config)] == list(config.action_names)
    with pytest.raises(ValueError, match="not an action"):
        act(17, config)


# --- the maker space's intents (default book: YES 0.40 / 0.45, NO 0.55 / 0.60) ---


def quote(side, price, size="5"):
    return PlaceOrder(T, side, P(price), C(size), True)


@pytest.mark.parametrize(("name", "yes", "no"), [
    ("quote_join_5c", "0.40", "0.55"),
    ("quote_improve_5c", "0.41", "0.56"),
    ("quote_wide_5c", "0.38", "0.53"),
    ("quote_skew_long_5c", "0.39", "0.56"),  # shifted down: sells YES sooner, buys it later
    ("quote_skew_short_5c", "0.41", "0.54"),
    ("quote_yes_5c", "0.40", None),
    ("quote_no_5c", None, "0.55"),
])
def test_maker_quotes_from_flat(name, yes, no):
    expected = [quote(s, p) for s, p in (("yes", yes), ("no", no)) if p is not None]
    assert act(M(name), MAKER) == expected


def test_a_maker_quote_uses_its_size_whatever_the_position():
    assert act(M("quote_join_10c"), MAKER, position=C("3")) == [quote("yes", "0.40", "10"), quote("no", "0.55", "10")]


def test_improved_quotes_never_meet():
    two_ticks = book(yes=(("0.43", "5"),), no=(("0.55", "3"),))  # YES 0.43 / 0.45: improving both would meet at 0.44
    assert act(M("quote_improve_5c"), MAKER, b=two_ticks) == [quote("yes", "0.43"), quote("no", "0.55")]
    assert act(M("quote_skew_short_5c"), MAKER, b=two_ticks) == [quote("yes", "0.44"), quote("no", "0.54")]
    three_ticks = book(yes=(("0.42", "5"),), no=(("0.55", "3"),))
    assert act(M("quote_improve_5c"), MAKER, b=three_ticks) == [quote("yes", "0.43"), quote("no", "0.56")]


def test_one_sided_quotes_cancel_the_other_side_and_pull_cancels_all():
    working = [order("yes", "0.40", "5", order_id="y"), order("no", "0.50", "5", order_id="n")]
    assert act(M("quote_yes_5c"), MAKER, orders=working) == [CancelOrder(T, "n")]  # the YES bid is already there
    assert act(M("quote_no_5c"), MAKER, orders=working) == [CancelOrder(T, "y"), AmendOrder(T, "n", "no", P("0.55"),
                                                                                             C("5"))]
    assert act(M("pull"), MAKER, orders=working) == [CancelOrder(T, "y"), CancelOrder(T, "n")]
    assert act(M("pull"), MAKER) == [] and act(M("hold"), MAKER, orders=working) == []


def test_a_requote_lowers_prices_before_raising_them():
    working = [order("yes", "0.41", "5", order_id="y"), order("no", "0.53", "5", order_id="n")]
    assert act(M("quote_skew_long_5c"), MAKER, orders=working) == [  # YES 0.41 -> 0.39 first, then NO 0.53 -> 0.56
        AmendOrder(T, "y", "yes", P("0.39"), C("5")), AmendOrder(T, "n", "no", P("0.56"), C("5"))]


def test_flatten_closes_the_whole_position_at_the_touch():
    working = [order("yes", "0.40", "5", order_id="y"), order("no", "0.50", "5", order_id="n")]
    assert act(M("flatten"), MAKER, position=C("7"), orders=working) == [
        CancelOrder(T, "y"), CancelOrder(T, "n"), PlaceOrder(T, "no", P("0.60"), C("7"), False, "immediate_or_cancel")]
    assert act(M("flatten"), MAKER, position=-C("2")) == [
        PlaceOrder(T, "yes", P("0.45"), C("2"), False, "immediate_or_cancel")]
    assert act(M("flatten"), MAKER, orders=working) == []  # flat: nothing to close
    assert act(M("flatten"), MAKER, position=C("7"), b=book(yes=())) == []  # nobody to sell to


def test_maker_undefined_prices_and_stale_books():
    no_yes_bids = book(yes=())
    working = [order("yes", "0.30", "5", order_id="y")]
    # the YES side has no price: its order stays; the NO side is quoted
    assert act(M("quote_join_5c"), MAKER, b=no_yes_bids, orders=working) == [quote("no", "0.55")]
    assert act(M("quote_yes_5c"), MAKER, b=no_yes_bids, orders=working) == []  # nothing priced: nothing at all
    stale = book()
    stale.mark_stale("gap")
    for action in range(MAKER.n_actions):
        assert act(action, MAKER, b=stale, orders=working, position=C("3")) == []


def test_a_maker_live_book_with_our_orders_gives_the_same_intents():
    ours = [order("yes", "0.41", "2", order_id="w1"), order("no", "0.55", "1", order_id="w2")]
    live = book(yes=(("0.41", "2"), ("0.40", "5")), no=(("0.55", "4"), ("0.50", "9")))
    for action in range(MAKER.n_actions):
        assert act(action, MAKER, C("3"), ours, live, book_has_own_orders=True) == act(action, MAKER, C("3"), ours)


# --- masks ---


def mask(config, position=0, orders=(), b=None, limit=None, **kw):
    return {n: bool(ok) for n, ok in zip(config.action_names, action_mask(config, b or book(), position, list(orders),
                                                                        limit, **kw))}


def test_seed_masks():
    assert all(mask(JOIN).values()) and all(mask(CROSS).values())
    m = mask(CROSS, b=book(no=()))  # no NO bid: nothing to buy YES from; NO bids can cross the YES bids
    assert m == {"hold": True, "buy_yes_limit": False, "sell_yes_limit": True, "buy_no_limit": True,
                 "sell_no_limit": False}
    m = mask(JOIN, position=C("8"), limit=C("10"))  # a 5-lot YES bid could take 8 to 13 > 10
    assert not m["buy_yes_limit"] and not m["sell_no_limit"] and m["buy_no_limit"] and m["sell_yes_limit"]
    assert all(mask(JOIN, position=C("5"), limit=C("10")).values())  # exactly at the limit once filled: allowed
    stale = book()
    stale.mark_stale("gap")
    assert list(action_mask(JOIN, stale, 0, [], None)) == [True, False, False, False, False]


def test_maker_masks():
    m = mask(MAKER)
    assert m["hold"] and m["quote_join_10c"] and m["flatten"] is False and m["pull"] is False  # flat, no orders
    working = [order("yes", "0.40", "5")]
    assert mask(MAKER, orders=working)["pull"] and mask(MAKER, position=-C("1"))["flatten"]
    m = mask(MAKER, position=C("8"), limit=C("10"))  # long 8: no YES bid of 5 or 10; NO bids of 10 up to -2 fine
    assert [n for n, ok in m.items() if not ok] == [
        *(f"{s}_5c" for s, _, _ in QUOTE_SHAPES if s != "quote_no"),
        *(f"{s}_10c" for s, _, _ in QUOTE_SHAPES if s != "quote_no"), "pull"]
    m = mask(MAKER, position=-C("10"), limit=C("10"))  # short at the cap: only YES-only quotes (and flatten)
    assert [n for n, ok in m.items() if ok] == ["hold", "quote_yes_5c", "quote_yes_10c", "flatten"]
    m = mask(MAKER, b=book(yes=()), position=C("1"))  # no YES bids: YES-only quotes have no price, nor flatten
    assert not m["quote_yes_5c"] and m["quote_join_5c"] and m["quote_no_5c"] and not m["flatten"]


@given(gb=books(), action=st.integers(0, 16), position=st.integers(-1500, 1500),
       limit=st.sampled_from([None, 500, 1000]))
def test_maker_mask_agrees_with_intents(gb, action, position, limit):
    """An allowed action stays within the limit; a masked one does nothing or could breach it."""
    grid, b = gb
    config = ActionConfig(space="maker")
    working = [order("yes", "0.01", "1", filled="1", order_id="w")] if position % 2 else []
    intents = act(action, config, position, working, b, grid)
    allowed = action_mask(config, b, position, working, limit, grid=grid)[action]
    worst = max(((position if i.side == "yes" else -position) + i.count - (1 if isinstance(i, AmendOrder) else 0)
                 for i in intents if not isinstance(i, CancelOrder)), default=None)
    within = limit is None or worst is None or worst <= limit
    if action == 0:
        assert allowed
    elif allowed:
        assert within
    else:
        assert not intents or not within


@given(gb=books(), action=st.integers(0, 16), position=st.integers(-500, 500))
def test_maker_prices_are_on_the_grid_passive_never_cross_and_pairs_never_self_cross(gb, action, position):
    grid, b = gb
    config = ActionConfig(space="maker")
    placed = {}
    for intent in act(action, config, position, b=b, grid=grid):
        if isinstance(intent, CancelOrder):
            continue
        assert intent.price in grid and 0 < intent.price < ONE_DOLLAR and intent.count > 0
        other = b.best_no_bid_price if intent.side == "yes" else b.best_yes_bid_price
        if isinstance(intent, AmendOrder) or intent.time_in_force == "good_till_canceled":
            assert other is None or intent.price + other < ONE_DOLLAR
        assert intent.side not in placed
        placed[intent.side] = intent.price
    if len(placed) == 2:
        assert placed["yes"] + placed["no"] < ONE_DOLLAR


MAKER_MIRROR = {n: n.replace("yes", "\0").replace("no", "yes").replace("\0", "no")
                .replace("long", "\0").replace("short", "long").replace("\0", "short")
                for n in ActionConfig(space="maker").action_names}


@given(gb=books(), action=st.integers(0, 16), position=st.integers(-500, 500))
def test_maker_yes_no_symmetry(gb, action, position):
    grid, b = gb
    config = ActionConfig(space="maker")
    mirrored = Book(T)
    mirrored.apply_snapshot(b.no.items(), b.yes.items())
    direct = act(action, config, position, b=b, grid=grid)
    mirror = config.action_id(MAKER_MIRROR[config.action_names[action]])
    swapped = act(mirror, config, -position, b=mirrored, grid=grid)
    key = lambda i: (type(i).__name__, getattr(i, "side", ""))  # noqa: E731 (the two sides' order may swap)
    assert sorted(map(_swap, direct), key=key) == sorted(swapped, key=key)
