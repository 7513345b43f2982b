"""Market regimes: named sets of parameters for the simulator's latent process, traders and market terms.

A :class:`Regime` scales what :class:`~kalshi_actor.sim.world.World` gives one market: the latent
YES probability's random walk (:class:`~kalshi_actor.sim.traders.Latent`), its makers' spreads,
its takers' rates, its fee schedule and its lifetime. ``World(regimes=...)`` picks one per market;
without ``regimes`` every market is in :data:`BASE`, which is the simulator's original behaviour
(the same random draws, so the same frames for a seed).

Units: ``vol`` and ``jump_scale`` in log-odds per sqrt(second) and log-odds, ``jump_rate`` jumps
per second, ``trend`` log-odds per second (its sign drawn per market); ``spread``, ``maker_noise``,
``informed``, ``informed_edge`` and ``noise_flow`` are dimensionless multipliers of the base values
(a rate multiplier of 2 halves the mean time between steps); ``lifetime_ms`` (min, max) from
listing to close, drawn once per event, replaces the world's when set; ``fee_type`` replaces the
series' fee type (an event-level override, as Kalshi allows).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Regime", "REGIMES", "BASE", "DEFAULT_MIX", "regime_cycle"]


@dataclass(frozen=True, slots=True)
class Regime:
    """The parameters of one market regime (defaults: the base simulator)."""

    name: str
    vol: float = 0.02
    jump_rate: float = 1 / 900
    jump_scale: float = 0.5
    trend: float = 0.0
    spread: float = 1.0
    maker_noise: float = 1.0
    informed: float = 1.0
    informed_edge: float = 1.0
    noise_flow: float = 1.0
    fee_type: str | None = None
    lifetime_ms: tuple[int, int] | None = None

    def half_spread(self, base: int) -> int:
        """A maker's half-spread in pips under this regime (``base`` pips in the base simulator)."""
        return base if self.spread == 1.0 else round(base * self.spread)


BASE = Regime("base")
REGIMES: dict[str, Regime] = {r.name: r for r in (
    BASE,
    Regime("quiet", vol=0.006, jump_rate=0.0),
    Regime("trending", trend=0.002),
    Regime("jumpy", jump_rate=1 / 60, jump_scale=0.8),
    Regime("informed", informed=5.0, informed_edge=0.5, maker_noise=2.0),
    Regime("wide", spread=3.0),
    Regime("narrow", spread=0.25),
    Regime("maker_fee", fee_type="quadratic_with_maker_fees"),
    Regime("settling", lifetime_ms=(30_000, 240_000)),
)}
DEFAULT_MIX: tuple[str, ...] = ("quiet", "trending", "jumpy", "informed", "wide", "narrow", "maker_fee", "settling")


def regime_cycle(regimes: str | Sequence[str] | None) -> tuple[Regime, ...] | None:
    """The regimes to cycle over the markets in listing order (None: base behaviour, no regimes named).

    ``regimes`` is one name (every market) or a sequence of names. Unknown names are a ValueError."""
    if regimes is None:
        return None
    names = (regimes,) if isinstance(regimes, str) else tuple(regimes)
    if not names:
        raise ValueError("regimes must name at least one regime")
    unknown = [n for n in names if n not in REGIMES]
    if unknown:
        raise ValueError(f"unknown regime(s) {', '.join(map(repr, unknown))}; known: {', '.join(REGIMES)}")
    return tuple(REGIMES[n] for n in names)
