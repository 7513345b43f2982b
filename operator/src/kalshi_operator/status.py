"""A KalshiActor's status, from what its pod reports (pure functions).

The status tells the truth from the pod, not from the spec: ``activeModelId`` is the model
the actor serves, ``targetModelId`` the one the spec asks for, ``lastGoodModelId`` the model id
(as configured) a pod last served, which is what the ConfigMap keeps until the pod confirms a
new one; a pod that is up without a model is not Ready. ``reason`` is the one word for why
(``Paused``, ``ImagePullBackOff``, ``OOMKilled``...), a printer column. When the pod does not
answer, :func:`pod_trouble` reads its Pod and Events for the cause. Conditions follow
Kubernetes' convention (``type``, ``status``, ``reason``, ``message``, ``lastTransitionTime``
kept while the status stays the same).
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .actor_client import Health

__all__ = ["PHASES", "PodTrouble", "condition", "from_health", "now", "pod_trouble", "set_condition", "unreachable"]

PHASES = ("Pending", "Starting", "Running", "Paused", "Halted", "Degraded", "Failing", "Invalid")
CONDITIONS = ("Ready", "ModelLoaded", "ExchangeConnected", "TrainingConfigMatched", "SpecValid")


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


def drop_condition(conditions: Sequence[Mapping[str, Any]] | None, kind: str) -> list[dict[str, Any]]:
    return [dict(c) for c in conditions or () if c.get("type") != kind]


def _training(body: Mapping[str, Any]) -> tuple[bool, str, str] | None:
    """Whether the running tick interval and market limit are the ones the active model was trained with
    (None: no model; a model that does not report a field is not compared on it)."""
    model, config = body.get("active_model"), body.get("config") or {}
    if not isinstance(model, Mapping):
        return None
    differences = []
    trained_tick, tick = model.get("tick_interval_s"), config.get("tick_interval")
    if isinstance(trained_tick, (int, float)) and isinstance(tick, (int, float)) and \
            round(trained_tick * 1000) != round(tick * 1000):
        differences.append(("TickIntervalDiffers", f"tickInterval {tick}s, the model {model.get('id')} was trained "
                                                   f"at {float(trained_tick)}s: its observations drift from training"))
    trained_limit, limit = model.get("market_limit"), config.get("market_limit")
    if isinstance(trained_limit, int) and isinstance(limit, int) and trained_limit != limit:
        differences.append(("MarketLimitDiffers", f"marketLimit {limit}, the model {model.get('id')} was trained "
                                                  f"on {trained_limit} markets"))
    if not differences:
        return True, "Matches", f"tickInterval and marketLimit as {model.get('id')} was trained"
    return False, differences[0][0], "; ".join(message for _, message in differences)


def from_health(health: Health, target_model_id: str, previous: Mapping[str, Any] | None) -> dict[str, Any]:
    """The status fields that come from the pod (everything but ``observedGeneration`` and ``SpecValid``)."""
    body = health.body
    previous = previous or {}
    active = health.active_model_id
    reasons = list(body.get("reasons") or [])
    risk = str(body.get("risk_state") or "UNKNOWN")
    paused = bool(body.get("paused", health.config.get("paused")))
    last_reload = body.get("last_reload") or {}
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
    # paused first: the actor's risk layer halts a paused actor (risk HALTED, reasons ['halted', 'paused'])
    if health.ready:
        phase, reason = "Running", "Ready"
    elif paused:
        phase, reason, risk = "Paused", "Paused", "PAUSED"  # not a risk halt, whatever the risk layer says
    elif risk == "HALTED":
        phase, reason = "Halted", "RiskHalted"
    elif active is None:
        phase, reason = "Starting", "NoModel"
    elif not body.get("connected"):
        phase, reason = "Starting", "Disconnected"
    else:
        phase, reason = "Degraded", "NotReady"
    conditions = previous.get("conditions") or []
    conditions = set_condition(conditions, "Ready", health.ready, reason, "; ".join(reasons))
    conditions = set_condition(conditions, "ExchangeConnected", bool(body.get("connected")),
                               "Connected" if body.get("connected") else "Disconnected",
                               "" if body.get("connected") else "not connected to the exchange")
    conditions = set_condition(conditions, "ModelLoaded", *model)
    training = _training(body)
    conditions = set_condition(conditions, "TrainingConfigMatched", *training) if training else \
        drop_condition(conditions, "TrainingConfigMatched")
    status: dict[str, Any] = {
        "phase": phase, "reason": reason, "conditions": conditions, "activeModelId": active,
        "targetModelId": target_model_id or "latest", "markets": len(body.get("markets") or []),
        "riskState": risk, "message": "paused by the spec" if phase == "Paused" else
        "; ".join(reasons) if reasons else "trading", "lastFailure": failure,
    }
    if active is not None:
        status["lastGoodModelId"] = str(health.config.get("model_id", active))
    elif previous.get("lastGoodModelId") is not None:
        status["lastGoodModelId"] = previous["lastGoodModelId"]
    if health.pnl_total is not None:
        status["pnl"] = health.pnl_total
    return status


# --- when the pod does not answer: its Pod and Events say why ---------------------------------------------------

_FAILING = {"ImagePullBackOff", "ErrImagePull", "InvalidImageName", "ErrImageNeverPull", "CreateContainerConfigError",
            "CreateContainerError", "RunContainerError", "CrashLoopBackOff"}
_VOLUME_EVENTS = {"FailedMount", "FailedAttachVolume"}


@dataclass(frozen=True)
class PodTrouble:
    """Why the actor's pod is not answering: a phase, the one-word reason, the detail."""

    phase: str
    reason: str
    message: str


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


def _warnings(pod: Mapping[str, Any], events: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The pod's Warning Events, newest last."""
    meta = _meta(pod)
    mine = [e for e in events if e.get("type") == "Warning" and (e.get("involvedObject") or {}).get("kind") == "Pod"
            and (e.get("involvedObject") or {}).get("name") == meta.get("name")
            and (e.get("involvedObject") or {}).get("uid") in (None, meta.get("uid"))]
    return sorted(mine, key=lambda e: str(e.get("lastTimestamp") or e.get("eventTime") or
                                          _meta(e).get("creationTimestamp") or ""))


def _terminated(terminated: Mapping[str, Any]) -> str:
    code = terminated.get("exitCode")
    return f"{terminated.get('reason') or 'terminated'}" + (f" (exit code {code})" if code is not None else "")


def pod_trouble(pods: Sequence[Mapping[str, Any]], events: Sequence[Mapping[str, Any]]) -> PodTrouble | None:
    """Why the actor's pod (the newest one not being deleted) is down; None when its container runs (the health
    failure is then the pod's own: see the status message)."""
    if not pods:
        return PodTrouble("Pending", "NoPod", "the Deployment has no pod (kubectl describe deployment, replicaset)")
    live = [p for p in pods if not _meta(p).get("deletionTimestamp")]
    if not live:
        return PodTrouble("Pending", "Terminating", "the previous pod is stopping (it cancels its orders first)")
    pod = max(live, key=lambda p: str(_meta(p).get("creationTimestamp") or ""))
    status = pod.get("status") or {}
    warnings = _warnings(pod, events)
    latest = f"; {warnings[-1].get('reason')}: {warnings[-1].get('message')}" if warnings else ""
    name = _meta(pod).get("name")
    for container in [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]:
        state, last = container.get("state") or {}, (container.get("lastState") or {}).get("terminated")
        waiting, terminated = state.get("waiting"), state.get("terminated")
        ended = terminated or last
        where = f"pod {name}, container {container.get('name')}"
        if ended and ended.get("reason") == "OOMKilled" and (waiting or terminated):
            now = f"{waiting.get('reason')}; " if waiting else ""
            return PodTrouble("Failing", "OOMKilled", f"{now}the container was OOMKilled (out of memory: raise "
                                                      f"spec.resources.limits.memory), {_terminated(ended)}, "
                                                      f"{container.get('restartCount', 0)} restarts ({where})")
        if waiting and waiting.get("reason") in _FAILING:
            detail = f": {waiting['message']}" if waiting.get("message") else ""
            before = f"; last terminated: {_terminated(last)}" if last else ""
            return PodTrouble("Failing", waiting["reason"], f"{waiting['reason']}{detail}{before} ({where}){latest}")
        if terminated and status.get("phase") in ("Failed", "Running"):
            return PodTrouble("Failing", terminated.get("reason") or "Terminated",
                              f"the container stopped: {_terminated(terminated)} ({where}){latest}")
    scheduled = next((c for c in status.get("conditions") or [] if c.get("type") == "PodScheduled"), None)
    if scheduled is not None and scheduled.get("status") == "False":
        message = str(scheduled.get("message") or (warnings[-1].get("message") if warnings else "") or "")
        reason = "UnboundPVC" if "persistentvolumeclaim" in message.lower() else \
            str(scheduled.get("reason") or "Unschedulable")
        return PodTrouble("Pending", reason, f"the pod cannot be scheduled: {message} (pod {name})")
    if status.get("phase") == "Failed":
        return PodTrouble("Failing", str(status.get("reason") or "PodFailed"),
                          f"the pod failed: {status.get('message') or ''} (pod {name}){latest}")
    volume = next((e for e in reversed(warnings) if e.get("reason") in _VOLUME_EVENTS), None)
    if volume is not None and status.get("phase") == "Pending":
        return PodTrouble("Pending", str(volume["reason"]), f"{volume['reason']}: {volume.get('message')} (pod {name})")
    for container in status.get("containerStatuses") or []:
        waiting = (container.get("state") or {}).get("waiting")
        if waiting:
            return PodTrouble("Starting", str(waiting.get("reason") or "Waiting"),
                              f"{waiting.get('reason') or 'waiting'} (pod {name}){latest}")
    return None


def unreachable(message: str, target_model_id: str, previous: Mapping[str, Any] | None,
                trouble: PodTrouble | None = None) -> dict[str, Any]:
    """The pod does not answer: nothing it reported earlier is true any more; ``trouble`` says why, when known."""
    previous = previous or {}
    phase, reason = (trouble.phase, trouble.reason) if trouble else ("Pending", "PodUnreachable")
    text = f"{trouble.message}; {message}" if trouble else message
    conditions = previous.get("conditions") or []
    conditions = set_condition(conditions, "Ready", False, reason, text)
    conditions = set_condition(conditions, "ExchangeConnected", False, "PodUnreachable", message)
    conditions = set_condition(conditions, "ModelLoaded", False, "PodUnreachable", message)
    conditions = drop_condition(conditions, "TrainingConfigMatched")
    status = {"phase": phase, "reason": reason, "conditions": conditions, "activeModelId": None,
              "targetModelId": target_model_id or "latest", "message": text[:1000]}
    if previous.get("lastGoodModelId") is not None:
        status["lastGoodModelId"] = previous["lastGoodModelId"]
    return status
