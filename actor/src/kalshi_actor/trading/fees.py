"""Kalshi's trading fees, exactly, in integers. The ONE implementation (engine, fill model, live portfolio).

Per fill of ``C`` contracts at price ``P`` dollars (the fill's price on the buyer's own side;
``P * (1 - P)`` is the same on both sides)::

    taker fee = ceil_to_cent(0.07   * fee_multiplier * C * P * (1 - P))
    maker fee = ceil_to_cent(0.0175 * fee_multiplier * C * P * (1 - P))   on quadratic_with_maker_fees
                ceil_to_cent(0.035  * fee_multiplier * C * P * (1 - P))   on quadratic_with_combo_maker_fees
                0                                                         otherwise

``fee_type`` and ``fee_multiplier`` are per series (an event may override them). ``flat``
(Kalshi's "Specific Trading Fees Table") and unknown fee types are charged the quadratic
taker fee and no maker fee, as the simulator does.

With a count in hundredths and a price in pips, ``C * P * (1 - P)`` in dollars is
``count * price * (ONE_DOLLAR - price) / 10**10``; the fee in cents is that times the rate
times 100. The rate is kept as an exact fraction ``(numerator, denominator)`` of cents per
``count * price * (ONE_DOLLAR - price)``, so a fee is one integer multiplication and one
ceiling division: no float, no Decimal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from ..units import CENT_MICROS, ONE_DOLLAR, Count, Money, Price

__all__ = ["FeeRate", "FeeSchedule", "fee", "TAKER_RATE", "MAKER_RATES"]

FeeRate = tuple[int, int]
"""Cents per ``count * price * (ONE_DOLLAR - price)`` as an exact (numerator, denominator)."""

TAKER_RATE = Fraction(7, 100)  # 0.07
MAKER_RATES = {
    "quadratic_with_maker_fees": Fraction(7, 400),  # 0.0175
    "quadratic_with_combo_maker_fees": Fraction(7, 200),  # 0.035
}
_SCALE = 10**8  # count (1/100) * price (1/10,000) * (ONE - price) (1/10,000) -> dollars is 1e-10; cents 1e-8


def fee(rate: FeeRate | None, price: Price, count: Count) -> Money:
    """``ceil_to_cent(rate * C * P * (1 - P))`` in micros; 0 when ``rate`` is None (no fee)."""
    if rate is None:
        return 0
    num, den = rate
    return -(-(num * count * price * (ONE_DOLLAR - price)) // den) * CENT_MICROS


def _rate(coefficient: Fraction | None, multiplier: Fraction) -> FeeRate | None:
    if coefficient is None:
        return None
    exact = coefficient * multiplier / _SCALE
    return None if exact == 0 else (exact.numerator, exact.denominator)


def _exact_multiplier(multiplier: float | int | str | Fraction) -> Fraction:
    """A multiplier as the decimal it was written as: ``0.5`` -> 1/2, ``0.1`` -> 1/10 (not the binary float)."""
    if isinstance(multiplier, Fraction):
        return multiplier
    if isinstance(multiplier, bool):
        raise TypeError("fee_multiplier must be a number")
    if isinstance(multiplier, float):
        return Fraction(repr(multiplier))
    return Fraction(multiplier)


@dataclass(frozen=True, slots=True)
class FeeSchedule:
    """The fees of one market: its series' ``fee_type`` and ``fee_multiplier``.

    >>> s = FeeSchedule.of("quadratic_with_maker_fees")
    >>> s.taker_fee(5000, 1000), s.maker_fee(5000, 1000)  # 10 contracts at $0.50: $0.18 and $0.05
    (180000, 50000)
    """

    fee_type: str = "quadratic"
    fee_multiplier: float | int | str | Fraction = 1.0
    taker: FeeRate | None = field(init=False, compare=False)
    maker: FeeRate | None = field(init=False, compare=False)

    def __post_init__(self) -> None:
        multiplier = _exact_multiplier(self.fee_multiplier)
        if multiplier < 0:
            raise ValueError(f"fee_multiplier must be >= 0, got {self.fee_multiplier!r}")
        object.__setattr__(self, "taker", _rate(TAKER_RATE, multiplier))
        object.__setattr__(self, "maker", _rate(MAKER_RATES.get(self.fee_type), multiplier))

    @classmethod
    def of(cls, fee_type: str = "quadratic", fee_multiplier: float | int | str | Fraction = 1.0) -> FeeSchedule:
        """A shared (cached) schedule: markets of one series reuse one object."""
        key = (fee_type, fee_multiplier)
        found = _SCHEDULES.get(key)
        if found is None:
            found = _SCHEDULES[key] = cls(fee_type, fee_multiplier)
        return found

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready ``{"fee_type", "fee_multiplier"}``, as Kalshi's series give them (the multiplier a number;
        one given as an exact string or fraction stays a string, ``"1/3"``); ``FeeSchedule.of(**d)`` reads it."""
        multiplier = self.fee_multiplier
        if isinstance(multiplier, bool) or not isinstance(multiplier, (int, float)):
            multiplier = str(multiplier)
        return {"fee_type": self.fee_type, "fee_multiplier": multiplier}

    @property
    def charges_makers(self) -> bool:
        return self.maker is not None

    def taker_fee(self, price: Price, count: Count) -> Money:
        """Fee of one taker fill of ``count`` hundredths at ``price`` pips, in micros."""
        return fee(self.taker, price, count)

    def maker_fee(self, price: Price, count: Count) -> Money:
        """Fee of one maker (resting) fill, in micros; 0 where the series does not charge makers."""
        return fee(self.maker, price, count)

    def fill_fee(self, price: Price, count: Count, is_taker: bool) -> Money:
        return fee(self.taker if is_taker else self.maker, price, count)

    def hold(self, price: Price, remaining: Count) -> Money:
        """Money a resting order of ``remaining`` at ``price`` holds out of the balance: cost + maximal maker fee."""
        return price * remaining + fee(self.maker, price, remaining)


_SCHEDULES: dict[tuple[str, object], FeeSchedule] = {}
