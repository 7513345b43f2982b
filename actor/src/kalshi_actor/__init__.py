"""kalshi-actor: reinforcement-learning trading actors for Kalshi, and a Kalshi-protocol exchange simulator."""

__version__ = "0.1.0"
