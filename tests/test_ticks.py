"""Decision ticks on the exchange clock (the rule the env and the live actor share)."""

from __future__ import annotations

import pytest

from kalshi_actor.trading.ticks import DecisionTicks


def test_a_tick_fires_after_the_frame_that_crosses_the_boundary() -> None:
    ticks = DecisionTicks(1000)
    assert ticks.on_frame(["A"], None) is None, "no clock yet: nothing is due"
    assert ticks.on_frame(["B"], 10_200) is None, "the first clock only places the next boundary (11,000)"
    assert ticks.on_frame(["A"], 10_999) is None
    assert ticks.on_frame(["C"], 11_000) == {"A", "B", "C"}, "the crossing frame is part of the tick"
    assert ticks.on_frame([], 11_500) is None
    assert ticks.on_frame([], 12_000) == set(), "a tick with nothing marked decides nothing"
    assert ticks.on_frame(["A"], 15_300) == {"A"}
    assert ticks.quiet_ticks == 2, "13 s and 14 s passed with no frame; 15 s fired"
    assert ticks.ticks == 3
    assert ticks.next_tick_ms == 16_000


def test_interval_zero_decides_after_every_marking_frame() -> None:
    ticks = DecisionTicks(0)
    assert ticks.on_frame(["A", "B"], None) == {"A", "B"}
    assert ticks.on_frame([], 5) is None


def test_a_new_interval_restarts_from_the_next_clock() -> None:
    ticks = DecisionTicks(1000)
    ticks.on_frame(["A"], 500)
    ticks.set_interval(5000)
    assert ticks.on_frame(["B"], 1200) is None
    assert ticks.next_tick_ms == 5000
    assert ticks.on_frame([], 5000) == {"A", "B"}, "what was marked before the change stays due"
    with pytest.raises(ValueError):
        DecisionTicks(-1)
