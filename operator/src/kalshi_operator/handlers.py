"""The kopf handlers: thin glue between KalshiActor events and the pure parts.

- create / update / resume -> :func:`reconcile`: validate the spec, apply the children
  (the tokens' Secret, ConfigMap, NetworkPolicy when enabled (before the pod exists),
  Deployment, Service, PodMonitor when the Prometheus Operator is installed), then, when the
  pod was not rolled, push the hot fields that differ from what the pod reports to its admin
  endpoint and confirm them through its health. The ConfigMap's ``model_id`` is the model the
  pod last served (``status.lastGoodModelId``) until the pod confirms the new one, so a pod that
  restarts never comes back with a model it refused; until then the handler retries.
- the watch -> :func:`track` starts one status refresher per actor (:func:`refresh_status`, every
  ``KALSHI_OPERATOR_STATUS_INTERVAL`` seconds, default 10; an Event per transition): the pod's
  health, and when it does not answer its Pod and Events, to say why.
- Deletion: no handler and no kopf timer or daemon, so no finalizer (kopf removes the one an
  earlier version added): deleting an actor never waits for the operator. The children carry
  owner references and the garbage collector removes them; the pod cancels its orders on SIGTERM.

Settings (environment): ``KALSHI_OPERATOR_ACTOR_IMAGE`` (the actor image when a spec names
none), ``KALSHI_OPERATOR_STATUS_INTERVAL``, ``KALSHI_OPERATOR_METRICS_PORT`` (0 = no
``/metrics``), ``KALSHI_OPERATOR_ENDPOINTS`` (see :mod:`.actor_client`), the NetworkPolicy's
``KALSHI_OPERATOR_NETWORK_POLICY``, ``_NAMESPACE``, ``_POD_LABELS``, ``_HTTP_PEERS`` (see
:meth:`.builders.Access.from_env`; read once at startup, which fails on a bad value).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import secrets
import time
from collections.abc import Mapping
from typing import Any

import kopf

from . import builders, metrics
from . import status as status_
from .actor_client import ActorClient, ActorUnreachable, resolve, same_config
from .apply import apply
from .kube import ApiError, KubeClient, collection_path, object_path
from .spec import ActorSpec, SpecError, parse_spec

__all__ = ["reconcile", "refresh_status"]

log = logging.getLogger(__name__)

GROUP, VERSION, PLURAL = builders.GROUP, builders.VERSION, builders.PLURAL
DEFAULT_IMAGE = "ghcr.io/kalshiflow/kalshi-actor:0.1.0"


def _status_interval() -> float:
    """``KALSHI_OPERATOR_STATUS_INTERVAL`` (seconds, default 10), read when the operator starts."""
    return float(os.environ.get("KALSHI_OPERATOR_STATUS_INTERVAL", "10"))


class _State:
    """The operator's process-wide state: the API client from kopf's login, the actors' access settings, the refreshers."""

    def __init__(self) -> None:
        self.info: kopf.ConnectionInfo | None = None
        self.kube: KubeClient | None = None
        self.access: builders.Access | None = None
        self.refreshers: dict[tuple[str, str], asyncio.Task[None]] = {}  # (namespace, name) -> its status refresher
        self.interval = _status_interval()

    def client(self) -> KubeClient:
        if self.kube is None:
            if self.info is None:
                raise kopf.TemporaryError("not logged in to the API server yet", delay=1)
            self.kube = KubeClient(self.info)
        return self.kube


_state = _State()


@kopf.on.login()
def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
    """The service account in a pod, else the kubeconfig; the children's client uses the same."""
    info = kopf.login_with_service_account(**kwargs) or kopf.login_with_kubeconfig(**kwargs)
    if info is not None:
        _state.info, _state.kube = info, None
    return info


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    settings.scanning.disabled = True  # the CRD is installed before the operator: no CRD watch (less RBAC)
    settings.posting.level = logging.INFO  # Events for transitions (Normal) and errors (Warning)
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix="kopf.trading.kalshiflow.io")
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix="kopf.trading.kalshiflow.io")
    try:
        _state.access = builders.Access.from_env(os.environ)
    except ValueError as exc:  # stop here: reconciling would lock the operator out of the actors, or open them
        raise kopf.PermanentError(f"invalid NetworkPolicy settings: {exc}") from None
    _state.interval = _status_interval()
    port = int(os.environ.get("KALSHI_OPERATOR_METRICS_PORT", "0") or 0)
    if port:
        metrics.serve(port)


@kopf.on.cleanup()
async def close(**_: Any) -> None:
    for key in list(_state.refreshers):
        _stop_refresher(key)
    if _state.kube is not None:
        await _state.kube.close()
        _state.kube = None


def _event(body: Mapping[str, Any], kind: str, reason: str, message: str) -> None:
    metrics.EVENTS.labels(kind).inc()
    (kopf.info if kind == "Normal" else kopf.warn)(dict(body), reason=reason, message=message[:1000])


# --- reconcile -------------------------------------------------------------------------------------


@kopf.on.create(GROUP, VERSION, PLURAL)
@kopf.on.update(GROUP, VERSION, PLURAL)
@kopf.on.resume(GROUP, VERSION, PLURAL)
async def reconcile(body: kopf.Body, spec: kopf.Spec, meta: kopf.Meta, status: kopf.Status, name: str,
                    namespace: str, patch: kopf.Patch, retry: int = 0, **_: Any) -> None:
    started = time.perf_counter()
    try:
        result = await _reconcile(body, spec, meta, status, name, namespace, patch, retry)
    except kopf.TemporaryError:
        metrics.RECONCILES.labels("waiting").inc()
        raise
    except ApiError as exc:
        metrics.RECONCILES.labels("error").inc()
        _event(body, "Warning", "ReconcileFailed", f"the API server refused a change: {exc}")
        raise kopf.TemporaryError(f"reconcile failed: {exc}", delay=5) from exc
    finally:
        metrics.RECONCILE_SECONDS.observe(time.perf_counter() - started)
    metrics.RECONCILES.labels(result).inc()


async def _reconcile(body: kopf.Body, spec: Mapping[str, Any], meta: Mapping[str, Any], status: Mapping[str, Any],
                     name: str, namespace: str, patch: kopf.Patch, retry: int) -> str:
    generation = meta.get("generation")
    try:
        actor = parse_spec(name, spec)
    except SpecError as exc:
        # nothing running changes: the children keep the last valid spec
        _invalid(patch, status, str(exc), generation)
        _event(body, "Warning", "InvalidSpec", f"{exc}; nothing was changed")
        return "invalid"
    kube = _state.client()
    token = await _admin_token(kube, body, name, namespace)
    image = os.environ.get("KALSHI_OPERATOR_ACTOR_IMAGE") or DEFAULT_IMAGE
    # the ConfigMap is what a restarted pod serves: it keeps the last good model until the pod confirms the new one
    last_good = status.get("lastGoodModelId")
    kept = last_good is not None and last_good != actor.model_id
    await apply(kube, builders.config_map(dataclasses.replace(actor, model_id=last_good) if kept else actor,
                                          namespace, body))
    if _state.access is not None:
        await apply(kube, builders.network_policy(name, namespace, body, _state.access))
    rollout = await apply(kube, builders.deployment(actor, namespace, body, default_image=image))
    await apply(kube, builders.service(name, namespace, body))
    if await kube.has_resource("monitoring.coreos.com/v1", "podmonitors"):
        await apply(kube, builders.pod_monitor(name, namespace, body))
    rolled = rollout.action == "created" or (rollout.action == "patched" and (rollout.previous or {}).get(
        "spec", {}).get("template") != rollout.live.get("spec", {}).get("template"))
    conditions = status_.set_condition(status.get("conditions"), "SpecValid", True, "Valid", "")
    patch.status.update({"observedGeneration": generation, "targetModelId": actor.model_id or "latest",
                         "conditions": conditions})
    pending: Mapping[str, Any] | None = None  # None: the pod did not answer (or is being replaced)
    if rollout.action == "created":
        _event(body, "Normal", "Created", f"created the actor's Deployment, Service and ConfigMap ({image if not actor.image else actor.image})")
    elif rolled:
        _event(body, "Normal", "Rolling", "a field that needs a new pod changed: the pod is being replaced")
    else:
        pending = await _push(body, actor, name, namespace, token, patch, status, quiet=retry > 0)
    if kept and pending is not None and "model_id" not in pending:  # confirmed by the pod: now it is the good one
        await apply(kube, builders.config_map(actor, namespace, body))
        patch.status["lastGoodModelId"] = actor.model_id
    elif kept and pending is None:  # kopf retries the handler until the pod answers
        raise kopf.TemporaryError(f"modelId {actor.model_id or 'latest'} waits for the pod; the ConfigMap keeps "
                                  f"{last_good or 'latest'}", delay=max(_state.interval, 5.0))
    return "ok"


def _invalid(patch: kopf.Patch, status: Mapping[str, Any], message: str, generation: Any) -> None:
    conditions = status_.set_condition(status.get("conditions"), "SpecValid", False, "InvalidSpec", message)
    patch.status.update({"phase": "Invalid", "message": f"invalid spec (nothing was changed): {message}"[:1000],
                         "conditions": conditions, "observedGeneration": generation})


def _secret_path(name: str, namespace: str) -> str:
    return object_path("v1", "secrets", namespace, builders.admin_secret_name(name))


async def _admin_token(kube: KubeClient, body: Mapping[str, Any], name: str, namespace: str) -> str:
    """The admin token, from the per-actor Secret: created with random tokens the first time; one made
    by an earlier operator version gets the keys it lacks (the viewer token), its admin token kept."""
    path = _secret_path(name, namespace)
    secret = await kube.get(path)
    tokens = builders.secret_tokens(secret)
    missing = {key: secrets.token_hex(32) for key in builders.TOKEN_KEYS if key not in tokens}
    if secret is None:
        await kube.create(collection_path("v1", "secrets", namespace),
                          builders.admin_secret(name, namespace, body, missing))
    elif missing:
        await kube.merge_patch(path, builders.admin_secret_upgrade(missing))
        _event(body, "Normal", "SecretUpgraded", f"added {', '.join(sorted(missing))} to Secret "
                                                 f"{builders.admin_secret_name(name)}")
    return {**tokens, **missing}[builders.ADMIN_TOKEN_KEY]


async def _current_admin_token(name: str, namespace: str) -> str | None:
    """The admin token as the Secret holds it now (the timer reads; only the reconcile creates)."""
    secret = await _state.client().get(_secret_path(name, namespace))
    return builders.secret_tokens(secret).get(builders.ADMIN_TOKEN_KEY)


async def _push(body: Mapping[str, Any], actor: ActorSpec, name: str, namespace: str, token: str, patch: kopf.Patch,
                status: Mapping[str, Any], *, quiet: bool = False) -> dict[str, Any] | None:
    """Push the hot fields the pod does not have yet, then confirm them through its health.

    Returns the fields the pod still does not have (refused), or None when it did not answer.
    """
    client = ActorClient(resolve(namespace, name), token)
    wanted = actor.hot_config()
    try:
        health = await client.health(with_metrics=False)
        changes = same_config(wanted, health.config)
        if not changes:
            return {}
        result = await client.push(changes)
        confirmed = await client.health()
    except ActorUnreachable as exc:
        metrics.PUSHES.labels("unreachable").inc()
        if not quiet:
            _event(body, "Warning", "PodUnreachable", f"no answer to the push ({exc}); the pod reads the ConfigMap "
                                                     f"(its modelId once the pod confirms it)")
        return None
    pending = same_config(wanted, confirmed.config)
    fields = status_.from_health(confirmed, actor.model_id, {**status, **patch.status})
    if result.refused:
        metrics.PUSHES.labels("refused").inc()
        reason = "ModelLoadFailed" if "model_id" in result.refused else "ConfigRefused"
        message = "; ".join(f"{k}: {v}" for k, v in result.refused.items())[:1000]
        fields["lastFailure"] = {**(fields.get("lastFailure") or {"time": status_.now()}), "reason": reason,
                                 "modelId": actor.model_id, "message": message}
        _event(body, "Warning", reason, message)
    else:
        metrics.PUSHES.labels("applied").inc()
    applied = sorted(set(changes) - set(pending))
    if applied:
        _event(body, "Normal", "ConfigApplied", f"{', '.join(applied)} applied live and confirmed by the pod's "
                                                f"health (serving model {confirmed.active_model_id})")
    _transitions(body, status, fields)
    patch.status.update(fields)
    return pending


# --- status ----------------------------------------------------------------------------------------


@kopf.on.event(GROUP, VERSION, PLURAL)
async def track(event: Mapping[str, Any], body: kopf.Body, name: str, namespace: str, **_: Any) -> None:
    """One status refresher per actor, from the watch: an own task, not a kopf timer (a timer needs a finalizer,
    and a finalizer makes every deletion wait for the operator)."""
    key = (namespace, name)
    if event.get("type") == "DELETED" or body.get("metadata", {}).get("deletionTimestamp"):
        _stop_refresher(key)
        return
    task = _state.refreshers.get(key)
    if task is None or task.done():  # started here, it posts Events through this operator's queue
        _state.refreshers[key] = asyncio.create_task(_refresh_forever(namespace, name), name=f"status {key}")


def _stop_refresher(key: tuple[str, str]) -> None:
    task = _state.refreshers.pop(key, None)
    if task is not None:
        task.cancel()


async def _refresh_forever(namespace: str, name: str) -> None:
    await asyncio.sleep(min(_state.interval, 2.0))
    while True:
        try:
            if not await refresh_status(namespace, name):
                _state.refreshers.pop((namespace, name), None)
                return
        except asyncio.CancelledError:
            raise
        except Exception:  # the next round tries again; one failure must not end the refresher
            metrics.REFRESHES.labels("error").inc()
            log.exception("status refresh of %s/%s failed", namespace, name)
        await asyncio.sleep(_state.interval)


def _actor_path(namespace: str, name: str) -> str:
    return object_path(f"{GROUP}/{VERSION}", PLURAL, namespace, name)


async def refresh_status(namespace: str, name: str) -> bool:
    """The status from the pod's health and metrics (or its Pod and Events); an Event for every transition.
    False when the actor is gone (or going)."""
    kube = _state.client()
    body = await kube.get(_actor_path(namespace, name))
    if body is None or body.get("metadata", {}).get("deletionTimestamp"):
        return False
    spec, status = body.get("spec") or {}, body.get("status") or {}
    try:
        target = parse_spec(name, spec).model_id
        spec_error = None
    except SpecError as exc:
        target, spec_error = str(spec.get("modelId") or ""), str(exc)
    try:
        health = await ActorClient(resolve(namespace, name), await _current_admin_token(name, namespace)).health()
    except ActorUnreachable as exc:
        metrics.REFRESHES.labels("unreachable").inc()
        fields = status_.unreachable(f"the pod does not answer: {exc}", target, status,
                                     await _pod_trouble(kube, namespace, name))
    else:
        metrics.REFRESHES.labels("ok").inc()
        fields = status_.from_health(health, target, status)
    if spec_error is not None:
        fields["phase"], fields["reason"] = "Invalid", "InvalidSpec"
        fields["message"] = f"invalid spec (nothing was changed): {spec_error}"[:1000]
    # conditions are one list (a merge patch replaces it whole): say SpecValid here too, from the spec this
    # refresh saw, or a refresh racing the reconcile would bring back the previous spec's verdict
    fields["conditions"] = status_.set_condition(fields.get("conditions", status.get("conditions")), "SpecValid",
                                                 spec_error is None, "Valid" if spec_error is None else "InvalidSpec",
                                                 spec_error or "")
    _transitions(body, status, fields)
    await kube.merge_patch(_actor_path(namespace, name) + "/status", {"status": fields})
    return True


async def _pod_trouble(kube: KubeClient, namespace: str, name: str) -> status_.PodTrouble | None:
    """Why the actor's pod does not answer, from its Pods (the Deployment's selector) and their Events."""
    try:
        pods = await kube.list(collection_path("v1", "pods", namespace), labels=builders.selector(name))
        events: list[dict[str, Any]] = []
        for pod in pods:
            events += await kube.list(collection_path("v1", "events", namespace), fields={
                "involvedObject.kind": "Pod", "involvedObject.name": pod["metadata"]["name"]})
    except ApiError as exc:  # e.g. a chart without the pods/events read rules: the status still says "no answer"
        log.warning("cannot read the pods of %s/%s: %s", namespace, name, exc)
        return None
    return status_.pod_trouble(pods, events)


def _transitions(body: Mapping[str, Any], old: Mapping[str, Any], new: Mapping[str, Any]) -> None:
    if (old.get("phase"), old.get("reason")) != (new.get("phase"), new.get("reason")):
        kind = "Normal" if new["phase"] in ("Running", "Paused", "Starting") else "Warning"
        _event(body, kind, new["phase"], f"phase {old.get('phase') or 'none'} -> {new['phase']} "
                                         f"({new.get('reason')}): {new.get('message')}")
    if new.get("activeModelId") and old.get("activeModelId") != new.get("activeModelId"):
        _event(body, "Normal", "ModelActive", f"serving model {new['activeModelId']}")
    failure, before = new.get("lastFailure"), old.get("lastFailure")
    if failure and _failure_key(failure) != _failure_key(before):
        _event(body, "Warning", failure.get("reason", "Failure"), failure.get("message", ""))
    if old.get("riskState") != new.get("riskState") and new.get("riskState") not in (None, "ACTIVE", "UNKNOWN",
                                                                                     "PAUSED"):
        _event(body, "Warning", f"Risk{str(new['riskState']).title()}", f"risk state {new['riskState']}")
    training = status_.condition(new.get("conditions"), "TrainingConfigMatched")
    was = status_.condition(old.get("conditions"), "TrainingConfigMatched")
    if training and training["status"] == "False" and (was or {}).get("message") != training["message"]:
        _event(body, "Warning", "TrainingConfigMismatch", training["message"])


def _failure_key(failure: Mapping[str, Any] | None) -> tuple[Any, ...] | None:
    return None if not failure else (failure.get("reason"), failure.get("modelId"), failure.get("time"))
