"""The operator's own Prometheus metrics (prefix ``kalshi_operator_``), in their own registry.

==========================================  =========  ==========================================
name                                        type       labels
==========================================  =========  ==========================================
kalshi_operator_reconciles_total            counter    result = ok | invalid | error
kalshi_operator_reconcile_duration_seconds  histogram  one reconcile (children + push + confirm)
kalshi_operator_config_pushes_total         counter    result = applied | refused | unreachable
kalshi_operator_status_refreshes_total      counter    result = ok | unreachable
kalshi_operator_events_total                counter    type = Normal | Warning (Kubernetes Events)
==========================================  =========  ==========================================
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server

REGISTRY = CollectorRegistry(auto_describe=True)
RECONCILES = Counter("kalshi_operator_reconciles", "Reconciles of a KalshiActor, by result.", ["result"],
                     registry=REGISTRY)
RECONCILE_SECONDS = Histogram("kalshi_operator_reconcile_duration_seconds", "Duration of one reconcile.",
                              buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60), registry=REGISTRY)
PUSHES = Counter("kalshi_operator_config_pushes", "Hot configuration pushes to a pod, by result.", ["result"],
                 registry=REGISTRY)
REFRESHES = Counter("kalshi_operator_status_refreshes", "Status refreshes from a pod's health, by result.",
                    ["result"], registry=REGISTRY)
EVENTS = Counter("kalshi_operator_events", "Kubernetes Events posted, by type.", ["type"], registry=REGISTRY)

for _result in ("ok", "invalid", "error"):
    RECONCILES.labels(_result)
for _result in ("applied", "refused", "unreachable"):
    PUSHES.labels(_result)
for _result in ("ok", "unreachable"):
    REFRESHES.labels(_result)


def serve(port: int, host: str = "0.0.0.0") -> None:
    """Serve ``/metrics`` on ``host:port`` in a background thread."""
    start_http_server(port, addr=host, registry=REGISTRY)
