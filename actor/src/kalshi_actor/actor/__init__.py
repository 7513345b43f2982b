"""The live actor's service: configuration, events, metrics and the HTTP app the loop plugs into.

- :mod:`.config`: :class:`ActorConfig` (env vars + optional file), :func:`apply_changes` (live changes).
- :mod:`.events`: :class:`EventHub`, the ``/rl/actor/ws`` stream.
- :mod:`.metrics`: :class:`ActorMetrics`, the ``kalshi_actor_*`` Prometheus metrics.
- :mod:`.app`: :func:`create_app` and the interface the loop implements (:class:`ServedActor`, :class:`Health`).
"""

from .app import Health, ServedActor, create_app
from .config import ActorConfig, ConfigChange, ConfigError, RiskLimits, apply_changes, load_config
from .events import EventHub
from .metrics import ActorMetrics

__all__ = [
    "ActorConfig",
    "ActorMetrics",
    "ConfigChange",
    "ConfigError",
    "EventHub",
    "Health",
    "RiskLimits",
    "ServedActor",
    "apply_changes",
    "create_app",
    "load_config",
]
