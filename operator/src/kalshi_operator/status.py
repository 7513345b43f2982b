"""A KalshiActor's status, from what its pod reports (pure functions).

The status tells the truth from the pod, not from the spec: ``activeModelId`` is the model
the actor serves, ``targetModelId`` the one the spec asks for; a pod that is up without a
model is not Ready. Conditions follow Kubernetes' convention (``type``, ``status``,
``reason``, ``message``, ``lastTransitionTime`` kept while the status stays the same).
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from typing import Any

from .actor_client import Health

__all__ = ["PHASES", "condition", "from_health", "now", "set_condition", "unreachable"]

PHASES = ("Pending", "Starting", "Running", "Paused", "Halted", "Degraded", "Invalid")
CONDITIONS = ("Ready", "ModelLoaded", "ExchangeConnected", "SpecValid")


def now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _time_of_ms(ms: Any) -> str:
    if not isinstance(ms, (int, float)):
        return now()
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def condition(conditions: Sequence[Mapping[str, Any]] | None, kind: str) -> Mapping[str, Any] | None:
    return next((c for c in conditions or () if c.get("type") == kind), None)


def set_condition(conditions: Sequence[Mapping[str, Any]] | None, kind: str, status: bool, reason: str,
                  message: str = "", at: str | None = None) -> list[dict[str, Any]]:
    """``conditions`` with ``kind`` set (its ``lastTransitionTime`` kept when its status did not change)."""
    text = "True" if status else "False"
    old = condition(conditions, kind)
    since = old["lastTransitionTime"] if old is not None and old.get("status") == text and old.get(
        "lastTransitionTime") else (at or now())
    new = {"type": kind, "status": text, "reason": reason, "message": message[:1000], "lastTransitionTime": since}
    out = [dict(c) for c in conditions or () if c.get("type") != kind] + [new]
    return sorted(out, key=lambda c: CONDITIONS.index(c["type"]) if c["type"] in CONDITIONS else len(CONDITIONS))


def from_health(health: Health, target_model_id: str, previous: Mapping[str, Any] | None) -> dict[str, Any]:
    """The status fields that come from the pod (everything but ``observedGeneration`` and ``SpecValid``)."""
    body = health.body
    previous = previous or {}
    active = health.active_model_id
    reasons = list(body.get("reasons") or [])
    risk = str(body.get("risk_state") or "UNKNOWN")
    last_reload = body.get("last_reload") or {}
    conditions = previous.get("conditions") or []
    conditions = set_condition(conditions, "Ready", health.ready, "Ready" if health.ready else "NotReady",
                               "; ".join(reasons))
    conditions = set_condition(conditions, "ExchangeConnected", bool(body.get("connected")),
                               "Connected" if body.get("connected") else "Disconnected",
                               "" if body.get("connected") else "not connected to the exchange")
    failure = previous.get("lastFailure")
    if last_reload and not last_reload.get("ok"):
        reported = {"reason": "ModelLoadFailed", "modelId": str(last_reload.get("model_id") or ""),
                    "message": str(last_reload.get("message") or "")[:1000],
                    "time": _time_of_ms(last_reload.get("ts_ms"))}
        same = failure and (failure.get("modelId"), failure.get("time")) == (reported["modelId"], reported["time"])
        failure = failure if same else reported  # the operator's message (the push reply) says more
    target_served = active is not None and (not target_model_id or active == target_model_id)
    if active is None:
        model = (False, "NoModel", "no model loaded" + (f": {failure['message']}" if failure else ""))
    elif target_served:
        model = (True, "Loaded", f"serving {active}")
    elif failure and failure.get("modelId") == target_model_id:
        model = (False, "ModelLoadFailed", f"{target_model_id} did not load; {active} keeps serving: "
                                           f"{failure['message']}")
    else:
        model = (False, "Loading", f"{target_model_id} requested; {active} serving")
    conditions = set_condition(conditions, "ModelLoaded", *model)
    if health.ready:
        phase = "Running"
    elif risk == "HALTED":
        phase = "Halted"
    elif body.get("paused"):
        phase = "Paused"
    elif active is None or not body.get("connected"):
        phase = "Starting"
    else:
        phase = "Degraded"
    status: dict[str, Any] = {
        "phase": phase, "conditions": conditions, "activeModelId": active,
        "targetModelId": target_model_id or "latest", "markets": len(body.get("markets") or []),
        "riskState": risk, "message": "; ".join(reasons) if reasons else "trading",
        "lastFailure": failure,
    }
    if health.pnl_total is not None:
        status["pnl"] = health.pnl_total
    return status


def unreachable(message: str, target_model_id: str, previous: Mapping[str, Any] | None) -> dict[str, Any]:
    """The pod does not answer: nothing it reported earlier is true any more."""
    previous = previous or {}
    conditions = previous.get("conditions") or []
    conditions = set_condition(conditions, "Ready", False, "PodUnreachable", message)
    conditions = set_condition(conditions, "ExchangeConnected", False, "PodUnreachable", message)
    conditions = set_condition(conditions, "ModelLoaded", False, "PodUnreachable", message)
    return {"phase": "Pending", "conditions": conditions, "activeModelId": None,
            "targetModelId": target_model_id or "latest", "message": message[:1000]}
