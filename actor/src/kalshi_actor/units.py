"""Exact units for prices, counts and money.

Kalshi sends prices as dollar strings with up to 4 decimals (``"0.5600"``) and
counts as fixed-point strings with 2 decimals (``"10.00"``). Everything in this
project keeps them as plain integers of the smallest unit, so arithmetic is
exact and fast (no floats, no Decimal on hot paths):

=========  ==========================  ===============================
quantity   integer unit                example
=========  ==========================  ===============================
price      1/10,000 dollar ("pip")     ``"0.5600"`` -> ``5600``
count      1/100 contract              ``"10.00"`` -> ``1000``
money      1/1,000,000 dollar (micro)  price x count is exact in micros
=========  ==========================  ===============================

A price in pips times a count in hundredths is a money amount in micros
(1e-4 * 1e-2 = 1e-6), so ``cost = price * count`` needs no rescaling.
"""

from __future__ import annotations

from decimal import Decimal

PRICE_SCALE = 10_000  # pips per dollar
COUNT_SCALE = 100  # hundredths per contract
MONEY_SCALE = 1_000_000  # micros per dollar
ONE_DOLLAR = PRICE_SCALE  # a contract pays $1.00 = 10,000 pips; YES + NO = ONE_DOLLAR
CENT_MICROS = MONEY_SCALE // 100

Price = int
Count = int
Money = int


class UnitError(ValueError):
    """A string is not a valid dollar price, fixed-point count or money amount."""


def _parse_fixed(text: str, decimals: int, what: str) -> int:
    """Parse a decimal string with at most ``decimals`` places into an integer of that scale."""
    if not isinstance(text, str):
        raise UnitError(f"{what} must be a string, got {type(text).__name__}: {text!r}")
    s = text.strip()
    neg = s.startswith("-")
    if neg or s.startswith("+"):
        s = s[1:]
    whole, dot, frac = s.partition(".")
    if (
        not (whole or frac)
        or (whole and not whole.isdigit())
        or (frac and not frac.isdigit())
        or (dot and not frac and not whole)
        or len(frac) > decimals
        or not whole.isascii()
        or not frac.isascii()
    ):
        raise UnitError(f"invalid {what}: {text!r} (expected a decimal with at most {decimals} places)")
    value = int(whole or "0") * 10**decimals + int((frac or "0").ljust(decimals, "0"))
    return -value if neg else value


def _format_fixed(value: int, decimals: int) -> str:
    sign = "-" if value < 0 else ""
    q, r = divmod(abs(value), 10**decimals)
    return f"{sign}{q}.{r:0{decimals}d}"


def parse_price(text: str) -> Price:
    """``"0.5600"`` -> ``5600`` pips. Raises :class:`UnitError` on anything else."""
    return _parse_fixed(text, 4, "dollar price")


def format_price(price: Price) -> str:
    """``5600`` -> ``"0.5600"`` (Kalshi's 4-decimal dollar string)."""
    return _format_fixed(price, 4)


def parse_count(text: str) -> Count:
    """``"10.00"`` -> ``1000`` hundredths; signed (deltas may be negative)."""
    return _parse_fixed(text, 2, "fixed-point count")


def format_count(count: Count) -> str:
    """``1000`` -> ``"10.00"`` (Kalshi's ``_fp`` string)."""
    return _format_fixed(count, 2)


def parse_money(text: str) -> Money:
    """A dollar amount string (up to 6 decimals) -> micros."""
    return _parse_fixed(text, 6, "dollar amount")


def format_money(money: Money, decimals: int = 4) -> str:
    """Micros -> a dollar string. Kalshi reports money with 4 decimals; rounding is half away from zero."""
    if decimals >= 6:
        return _format_fixed(money, 6)
    step = 10 ** (6 - decimals)
    q, r = divmod(abs(money), step)
    if 2 * r >= step:
        q += 1
    return _format_fixed(-q if money < 0 else q, decimals)


def cents_from_money(money: Money) -> int:
    """Micros -> whole cents, rounded toward negative infinity (Kalshi's integer ``balance``)."""
    return money // CENT_MICROS


def ceil_to_cent(money: Money) -> Money:
    """Round micros up to the next whole cent (Kalshi rounds fees up)."""
    return -((-money) // CENT_MICROS) * CENT_MICROS


def to_decimal_dollars(money: Money) -> Decimal:
    """For display and reports only: micros -> Decimal dollars."""
    return Decimal(money).scaleb(-6)


def complement(price: Price) -> Price:
    """The other side's price: a YES bid at p is a NO ask at $1 - p."""
    return ONE_DOLLAR - price
