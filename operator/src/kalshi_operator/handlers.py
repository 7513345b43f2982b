"""The kopf handlers: thin glue between KalshiActor events and the pure parts.

- create / update / resume -> :func:`reconcile`: validate the spec, apply the children
  (the tokens' Secret, ConfigMap, NetworkPolicy when enabled (before the pod exists),
  Deployment, Service, PodMonitor when the Prometheus Operator is installed), then, when the
  pod was not rolled, push the hot fields that differ from what the pod reports to its admin
  endpoint and confirm them through its health.
- a timer -> :func:`refresh_status`: the status from the pod's health every
  ``KALSHI_OPERATOR_STATUS_INTERVAL`` seconds (default 10), with an Event per transition.
- Deletion: no handler (so no finalizer); the children carry owner references and the
  garbage collector removes them; the pod cancels its orders on SIGTERM.

Settings (environment): ``KALSHI_OPERATOR_ACTOR_IMAGE`` (the actor image when a spec names
none), ``KALSHI_OPERATOR_STATUS_INTERVAL``, ``KALSHI_OPERATOR_METRICS_PORT`` (0 = no
``/metrics``), ``KALSHI_OPERATOR_ENDPOINTS`` (see :mod:`.actor_client`), the NetworkPolicy's
``KALSHI_OPERATOR_NETWORK_POLICY``, ``_NAMESPACE``, ``_POD_LABELS``, ``_HTTP_PEERS`` (see
:meth:`.builders.Access.from_env`; read once at startup, which fails on a bad value).
"""

from __future__ import annotations

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
STATUS_INTERVAL_S = float(os.environ.get("KALSHI_OPERATOR_STATUS_INTERVAL", "10"))


class _State:
    """The operator's process-wide state: the API client made from kopf's login, the actors' access settings."""

    info: kopf.ConnectionInfo | None = None
    kube: KubeClient | None = None
    access: builders.Access | None = None

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
    port = int(os.environ.get("KALSHI_OPERATOR_METRICS_PORT", "0") or 0)
    if port:
        metrics.serve(port)


@kopf.on.cleanup()
async def close(**_: Any) -> None:
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
                    namespace: str, patch: kopf.Patch, **_: Any) -> None:
    started = time.perf_counter()
    try:
        result = await _reconcile(body, spec, meta, status, name, namespace, patch)
    except ApiError as exc:
        metrics.RECONCILES.labels("error").inc()
        _event(body, "Warning", "ReconcileFailed", f"the API server refused a change: {exc}")
        raise kopf.TemporaryError(f"reconcile failed: {exc}", delay=5) from exc
    finally:
        metrics.RECONCILE_SECONDS.observe(time.perf_counter() - started)
    metrics.RECONCILES.labels(result).inc()


async def _reconcile(body: kopf.Body, spec: Mapping[str, Any], meta: Mapping[str, Any], status: Mapping[str, Any],
                     name: str, namespace: str, patch: kopf.Patch) -> str:
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
    await apply(kube, builders.config_map(actor, namespace, body))
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
    if rollout.action == "created":
        _event(body, "Normal", "Created", f"created the actor's Deployment, Service and ConfigMap ({image if not actor.image else actor.image})")
    elif rolled:
        _event(body, "Normal", "Rolling", "a field that needs a new pod changed: the pod is being replaced")
    else:
        await _push(body, actor, name, namespace, token, patch, status)
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
                status: Mapping[str, Any]) -> None:
    """Push the hot fields the pod does not have yet, then confirm them through its health."""
    client = ActorClient(resolve(namespace, name), token)
    wanted = actor.hot_config()
    try:
        health = await client.health(with_metrics=False)
    except ActorUnreachable as exc:
        metrics.PUSHES.labels("unreachable").inc()
        _event(body, "Warning", "PodUnreachable", f"the change is in the ConfigMap; the pod will read it "
                                                 f"(no answer to the push: {exc})")
        return
    changes = same_config(wanted, health.config)
    if not changes:
        return
    try:
        result = await client.push(changes)
        confirmed = await client.health()
    except ActorUnreachable as exc:
        metrics.PUSHES.labels("unreachable").inc()
        _event(body, "Warning", "PodUnreachable", f"pushing {sorted(changes)} failed: {exc}; the ConfigMap has it")
        return
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
    patch.status.update(fields)


# --- status ----------------------------------------------------------------------------------------


@kopf.timer(GROUP, VERSION, PLURAL, interval=STATUS_INTERVAL_S, initial_delay=min(STATUS_INTERVAL_S, 2.0))
async def refresh_status(body: kopf.Body, spec: kopf.Spec, status: kopf.Status, name: str, namespace: str,
                         patch: kopf.Patch, **_: Any) -> None:
    """The status from the pod's health and metrics; an Event for every transition."""
    try:
        target = parse_spec(name, spec).model_id
        spec_error = None
    except SpecError as exc:
        target, spec_error = str(spec.get("modelId") or ""), str(exc)
    try:
        health = await ActorClient(resolve(namespace, name), await _current_admin_token(name, namespace)).health()
    except ActorUnreachable as exc:
        metrics.REFRESHES.labels("unreachable").inc()
        fields = status_.unreachable(f"the pod does not answer: {exc}", target, status)
    else:
        metrics.REFRESHES.labels("ok").inc()
        fields = status_.from_health(health, target, status)
    if spec_error is not None:
        fields["phase"] = "Invalid"
        fields["message"] = f"invalid spec (nothing was changed): {spec_error}"[:1000]
    # conditions are one list (a merge patch replaces it whole): say SpecValid here too, from the spec this
    # timer saw, or a refresh racing the reconcile would bring back the previous spec's verdict
    fields["conditions"] = status_.set_condition(fields.get("conditions", status.get("conditions")), "SpecValid",
                                                 spec_error is None, "Valid" if spec_error is None else "InvalidSpec",
                                                 spec_error or "")
    _transitions(body, status, fields)
    patch.status.update(fields)


def _transitions(body: Mapping[str, Any], old: Mapping[str, Any], new: Mapping[str, Any]) -> None:
    if old.get("phase") != new.get("phase"):
        kind = "Normal" if new["phase"] in ("Running", "Paused", "Starting") else "Warning"
        _event(body, kind, new["phase"], f"phase {old.get('phase') or 'none'} -> {new['phase']}: {new.get('message')}")
    if new.get("activeModelId") and old.get("activeModelId") != new.get("activeModelId"):
        _event(body, "Normal", "ModelActive", f"serving model {new['activeModelId']}")
    failure, before = new.get("lastFailure"), old.get("lastFailure")
    if failure and _failure_key(failure) != _failure_key(before):
        _event(body, "Warning", failure.get("reason", "Failure"), failure.get("message", ""))
    if old.get("riskState") != new.get("riskState") and new.get("riskState") not in (None, "ACTIVE", "UNKNOWN"):
        _event(body, "Warning", f"Risk{str(new['riskState']).title()}", f"risk state {new['riskState']}")


def _failure_key(failure: Mapping[str, Any] | None) -> tuple[Any, ...] | None:
    return None if not failure else (failure.get("reason"), failure.get("modelId"), failure.get("time"))
