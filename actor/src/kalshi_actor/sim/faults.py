"""Fault injection: switchable by command-line flags and at run time through the admin endpoint.

Rates are probabilities per request; one-shot faults (``drop_connections``,
``skip_seq``) are counters consumed by the next occasions. Randomness is seeded, so
a test that sets a fault gets the same sequence of failures every run.
"""

from __future__ import annotations

import random
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Faults(BaseModel):
    """What goes wrong, and how often. Every field can be changed at run time."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    rate_429: float = Field(0.0, ge=0.0, le=1.0, description="share of REST requests answered 429")
    rate_5xx: float = Field(0.0, ge=0.0, le=1.0, description="share of REST requests answered 503")
    create_timeout_rate: float = Field(
        0.0, ge=0.0, le=1.0,
        description="share of order creates accepted by the engine whose reply never comes in time",
    )
    create_timeout_s: float = Field(30.0, ge=0.0, description="how long such a reply is held back")
    ws_delay_ms: int = Field(0, ge=0, description="delay added before every WebSocket frame")
    drop_connections: int = Field(0, ge=0, description="close this many open WebSocket connections now")
    skip_seq: int = Field(0, ge=0, description="skip one seq number on this many upcoming sequenced frames")
    seed: int = 0

    def model_post_init(self, __context: Any) -> None:
        self._rng = random.Random(self.seed)

    def roll(self, rate: float) -> bool:
        return rate > 0.0 and self._rng.random() < rate

    def take(self, name: str) -> bool:
        """Consume one unit of a one-shot counter (``drop_connections`` or ``skip_seq``)."""
        left = getattr(self, name)
        if left <= 0:
            return False
        setattr(self, name, left - 1)
        return True
