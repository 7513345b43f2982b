"""Pure builders: an :class:`~.spec.ActorSpec` -> the Kubernetes objects that run it.

No I/O here: each function returns a plain dict (the manifest), so they are tested without a
cluster and the handlers only create or patch what these return.

What the pod gets
-----------------
- the actor's configuration as a file (``/etc/kalshi-actor/config.yaml``, from the ConfigMap;
  hot AND cold fields, so nothing a live change touches is set by an environment variable,
  which would override the file);
- secrets only through the environment and mounted files: the admin and viewer tokens
  (``RL_ACTOR_ADMIN_TOKEN``, ``RL_ACTOR_VIEWER_TOKEN`` from the operator's per-actor Secret) and
  the exchange key (``RL_ACTOR_API_KEY_ID`` from the user's Secret, the private key as a 0400 file);
- the model registry (a PVC, read-only);
- ``restart-hash``: a hash of every cold setting, on the pod template, so a cold change rolls
  the pod and a hot change does not.

Two ports
---------
``http`` (8000) is public: the web view, the event stream (the viewer token), ``/metrics`` and a
health summary. ``admin`` (8081) is the operator's: the full health (admin token), the config
pushes (admin token), ``/metrics``; the kubelet probes it too (it answers whatever load the
public port takes). The :func:`network_policy` admits only the operator's pods to ``admin``.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from .apply import LAST_APPLIED
from .spec import ActorSpec

__all__ = [
    "ADMIN_PORT",
    "ADMIN_TOKEN_KEY",
    "CONFIG_FILE",
    "GROUP",
    "HTTP_PORT",
    "PLURAL",
    "TOKEN_KEYS",
    "VERSION",
    "VIEWER_TOKEN_KEY",
    "Access",
    "admin_secret",
    "admin_secret_upgrade",
    "config_map",
    "config_text",
    "deployment",
    "labels",
    "network_policy",
    "owner_reference",
    "pod_monitor",
    "restart_hash",
    "secret_tokens",
    "selector",
    "service",
]

GROUP, VERSION, PLURAL, KIND = "trading.kalshiflow.io", "v1alpha1", "kalshiactors", "KalshiActor"
HTTP_PORT = 8000  # public: web view, events, /metrics (port name "http")
ADMIN_PORT = 8081  # the operator's: full health, config pushes, /metrics (port name "admin")
CONFIG_DIR = "/etc/kalshi-actor"
CONFIG_FILE = f"{CONFIG_DIR}/config.yaml"
CREDENTIALS_DIR = "/var/run/kalshi-actor/credentials"
PRIVATE_KEY_FILE = f"{CREDENTIALS_DIR}/private-key.pem"
MODELS_DIR = "/var/lib/kalshi-actor/models"
IMAGE_MODELS_DIR = "/app/models"  # the image's own registry (empty unless baked in) when no PVC is given
ADMIN_TOKEN_KEY = "token"
VIEWER_TOKEN_KEY = "viewer-token"
TOKEN_KEYS = (ADMIN_TOKEN_KEY, VIEWER_TOKEN_KEY)
RESTART_HASH = "trading.kalshiflow.io/restart-hash"
GRACE_PERIOD_S = 45  # the actor's SIGTERM budget to cancel its orders is 20 s; leave margin for the exchange
_APP = "kalshi-actor"


def labels(name: str) -> dict[str, str]:
    """The labels of every child of actor ``name`` (the first two select its pod)."""
    return {"app.kubernetes.io/name": _APP, "app.kubernetes.io/instance": name,
            "app.kubernetes.io/component": "actor", "app.kubernetes.io/managed-by": "kalshi-actor-operator"}


def selector(name: str) -> dict[str, str]:
    """The labels that select actor ``name``'s pod (the Deployment's, the Service's, the operator's Pod reads)."""
    return {"app.kubernetes.io/name": _APP, "app.kubernetes.io/instance": name}


def owner_reference(owner: Mapping[str, Any]) -> dict[str, Any]:
    """The owner reference to a KalshiActor (``body``): children are garbage-collected with it."""
    meta = owner["metadata"]
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": KIND, "name": meta["name"], "uid": meta["uid"],
            "controller": True, "blockOwnerDeletion": True}


def _meta(name: str, namespace: str, owner: Mapping[str, Any]) -> dict[str, Any]:
    return {"name": name, "namespace": namespace, "labels": labels(owner["metadata"]["name"]),
            "ownerReferences": [owner_reference(owner)]}


def admin_secret_name(name: str) -> str:
    return f"{name}-admin"


def config_document(spec: ActorSpec) -> dict[str, Any]:
    """The actor's configuration (its config file's keys), hot and cold fields alike."""
    registry = MODELS_DIR if spec.registry is not None else IMAGE_MODELS_DIR
    if spec.registry is not None and spec.registry.path:
        registry = f"{MODELS_DIR}/{spec.registry.path}"
    return {**spec.cold_config(), "registry": registry, **spec.hot_config()}


def config_text(spec: ActorSpec) -> str:
    """The config file's text (YAML, keys sorted: the same spec always gives the same bytes)."""
    return yaml.safe_dump(config_document(spec), sort_keys=True, default_flow_style=False)


def restart_hash(spec: ActorSpec) -> str:
    """A hash of what needs a new pod: the cold settings of the config file (and the builtin simulator).

    Image, resources, credentials and volumes are in the pod template itself, so changing them
    changes the template anyway; the hash adds the cold settings that live only in the ConfigMap.
    """
    document = config_document(spec)
    cold = {key: value for key, value in document.items() if key not in spec.hot_config()}
    cold["builtin_simulator"] = spec.builtin_simulator
    return hashlib.sha256(json.dumps(cold, sort_keys=True).encode()).hexdigest()[:16]


def config_map(spec: ActorSpec, namespace: str, owner: Mapping[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": _meta(spec.name, namespace, owner),
            "data": {"config.yaml": config_text(spec)}}


def _encoded(tokens: Mapping[str, str]) -> dict[str, str]:
    return {key: base64.b64encode(value.encode()).decode() for key, value in tokens.items()}


def admin_secret(name: str, namespace: str, owner: Mapping[str, Any], tokens: Mapping[str, str]) -> dict[str, Any]:
    """The per-actor Secret: the admin token and the viewer token (``tokens``: key -> plain text).

    Created once and never rewritten (the running pod holds these values), so it is created
    directly, not through :mod:`.apply`, whose last-applied annotation would copy the tokens
    where ``kubectl describe secret`` prints them.
    """
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": _meta(admin_secret_name(name), namespace, owner),
            "data": _encoded({key: tokens[key] for key in TOKEN_KEYS})}


def secret_tokens(secret: Mapping[str, Any] | None) -> dict[str, str]:
    """The tokens a live per-actor Secret holds (key -> plain text; keys it lacks are absent)."""
    data = (secret or {}).get("data") or {}
    return {key: base64.b64decode(data[key]).decode() for key in TOKEN_KEYS if data.get(key)}


def admin_secret_upgrade(missing: Mapping[str, str]) -> dict[str, Any]:
    """The merge patch completing a Secret made by an earlier operator version (``missing``: the new keys).

    Only keys are added: the admin token it holds is the one the running pod has. It also drops
    the last-applied annotation those versions wrote (a copy of the admin token in metadata).
    """
    return {"metadata": {"annotations": {LAST_APPLIED: None}}, "data": _encoded(missing)}


def deployment(spec: ActorSpec, namespace: str, owner: Mapping[str, Any], *, default_image: str) -> dict[str, Any]:
    """One replica, ``Recreate`` (two pods never trade one account), probes, non-root, read-only root."""
    name = spec.name
    env: list[dict[str, Any]] = [
        {"name": "RL_ACTOR_CONFIG_FILE", "value": CONFIG_FILE},
        {"name": "RL_ACTOR_ADMIN_TOKEN", "valueFrom": {"secretKeyRef": {"name": admin_secret_name(name),
                                                                        "key": ADMIN_TOKEN_KEY}}},
        {"name": "RL_ACTOR_VIEWER_TOKEN", "valueFrom": {"secretKeyRef": {"name": admin_secret_name(name),
                                                                         "key": VIEWER_TOKEN_KEY}}},
        {"name": "HOME", "value": "/tmp"},
    ]
    mounts: list[dict[str, Any]] = [{"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
                                    {"name": "tmp", "mountPath": "/tmp"}]
    volumes: list[dict[str, Any]] = [
        {"name": "config", "configMap": {"name": name, "items": [{"key": "config.yaml", "path": "config.yaml"}]}},
        {"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}},
    ]
    if spec.credentials is not None:
        creds = spec.credentials
        env.append({"name": "RL_ACTOR_API_KEY_ID", "valueFrom": {"secretKeyRef": {"name": creds.secret,
                                                                                 "key": creds.key_id_key}}})
        env.append({"name": "RL_ACTOR_PRIVATE_KEY_FILE", "value": PRIVATE_KEY_FILE})
        mounts.append({"name": "credentials", "mountPath": CREDENTIALS_DIR, "readOnly": True})
        volumes.append({"name": "credentials", "secret": {
            "secretName": creds.secret, "defaultMode": 0o400,
            "items": [{"key": creds.private_key_key, "path": "private-key.pem"}]}})
    if spec.registry is not None:
        mounts.append({"name": "models", "mountPath": MODELS_DIR, "readOnly": True})
        volumes.append({"name": "models", "persistentVolumeClaim": {"claimName": spec.registry.claim,
                                                                    "readOnly": True}})
    args = ["run", "--host", "0.0.0.0", "--port", str(HTTP_PORT),
            "--admin-host", "0.0.0.0", "--admin-port", str(ADMIN_PORT)]
    if spec.builtin_simulator:
        args.append("--sim")

    def probe(path: str, period: int, failures: int) -> dict[str, Any]:
        # the admin port: served on its own thread, a busy web view cannot fail the probes (no token needed)
        return {"httpGet": {"path": path, "port": "admin"}, "periodSeconds": period, "timeoutSeconds": 3,
                "failureThreshold": failures}

    container = {
        "name": "actor",
        "image": spec.image or default_image,
        "imagePullPolicy": "IfNotPresent",
        "args": args,
        "env": env,
        "ports": [{"name": "http", "containerPort": HTTP_PORT, "protocol": "TCP"},
                  {"name": "admin", "containerPort": ADMIN_PORT, "protocol": "TCP"}],
        "readinessProbe": probe("/rl/actor/health", 5, 3),
        "livenessProbe": probe("/rl/actor/health?probe=live", 10, 6),
        "startupProbe": probe("/rl/actor/health?probe=live", 2, 60),
        "resources": dict(spec.resources),
        "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                            "runAsNonRoot": True, "capabilities": {"drop": ["ALL"]}},
        "volumeMounts": mounts,
    }
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": _meta(name, namespace, owner),
        "spec": {
            "replicas": 1,
            "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": selector(name)},
            "template": {
                "metadata": {"labels": labels(name), "annotations": {RESTART_HASH: restart_hash(spec)}},
                "spec": {
                    "automountServiceAccountToken": False,  # the actor never calls the Kubernetes API
                    "terminationGracePeriodSeconds": GRACE_PERIOD_S,
                    "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "runAsGroup": 10001,
                                        "fsGroup": 10001, "seccompProfile": {"type": "RuntimeDefault"}},
                    "containers": [container],
                    "volumes": volumes,
                },
            },
        },
    }


def service(name: str, namespace: str, owner: Mapping[str, Any]) -> dict[str, Any]:
    """``http`` (the web view, ``/rl/actor/ws``, ``/metrics``) and ``admin`` (the operator's).

    ``publishNotReadyAddresses``: a paused or halted actor is not ready, but its web view,
    metrics and admin endpoint must stay reachable (the operator pushes ``paused: false``).
    """
    return {"apiVersion": "v1", "kind": "Service", "metadata": _meta(name, namespace, owner),
            "spec": {"type": "ClusterIP", "selector": selector(name), "publishNotReadyAddresses": True,
                     "ports": [{"name": port, "port": number, "targetPort": port, "protocol": "TCP"}
                               for port, number in (("http", HTTP_PORT), ("admin", ADMIN_PORT))]}}


@dataclass(frozen=True)
class Access:
    """Who may connect to an actor's pod (its :func:`network_policy`; from the chart, see :meth:`from_env`).

    ``operator_namespace`` and ``operator_labels`` select the operator's own pods (the only
    clients of ``admin``); ``http_peers`` are NetworkPolicy peers admitted to ``http`` (empty:
    nobody, only ``kubectl port-forward``).
    """

    operator_namespace: str
    operator_labels: Mapping[str, str]
    http_peers: Sequence[Mapping[str, Any]] = ()

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Access | None:
        """The chart's settings: ``KALSHI_OPERATOR_NETWORK_POLICY`` (``true``; unset: no policy),
        ``KALSHI_OPERATOR_NAMESPACE`` (the Downward API), ``KALSHI_OPERATOR_POD_LABELS`` (JSON
        object) and ``KALSHI_OPERATOR_HTTP_PEERS`` (JSON list of peers; unset: none).

        Raises ValueError when the policy is on but the operator's pods cannot be named: a
        policy admitting nobody to ``admin`` would lock the operator out of every actor.
        """
        switch = environ.get("KALSHI_OPERATOR_NETWORK_POLICY", "false").strip().lower()
        if switch not in ("true", "false"):
            raise ValueError(f"KALSHI_OPERATOR_NETWORK_POLICY is 'true' or 'false', not {switch!r}")
        if switch == "false":
            return None
        namespace = environ.get("KALSHI_OPERATOR_NAMESPACE", "").strip()
        pod_labels = _json_env(environ, "KALSHI_OPERATOR_POD_LABELS", "{}")
        peers = _json_env(environ, "KALSHI_OPERATOR_HTTP_PEERS", "[]")
        if not namespace:
            raise ValueError("KALSHI_OPERATOR_NAMESPACE (the operator's namespace) is needed for the NetworkPolicy")
        if not (isinstance(pod_labels, dict) and pod_labels and all(
                isinstance(value, str) for value in pod_labels.values())):
            raise ValueError("KALSHI_OPERATOR_POD_LABELS must be a non-empty JSON object of the operator pods' labels")
        if not (isinstance(peers, list) and all(isinstance(peer, dict) and peer for peer in peers)):
            raise ValueError("KALSHI_OPERATOR_HTTP_PEERS must be a JSON list of NetworkPolicy peers (objects)")
        return cls(namespace, pod_labels, tuple(peers))


def _json_env(environ: Mapping[str, str], name: str, default: str) -> Any:
    try:
        return json.loads(environ.get(name) or default)
    except ValueError as exc:
        raise ValueError(f"{name} is not valid JSON: {exc}") from None


def network_policy(name: str, namespace: str, owner: Mapping[str, Any], access: Access) -> dict[str, Any]:
    """Ingress to the actor's pod: ``admin`` from the operator's pods only, ``http`` from ``access.http_peers``.

    Not subject to it (Kubernetes always admits traffic from the pod's own node, and
    port-forward enters the pod's network namespace): the kubelet's probes and
    ``kubectl port-forward``, the way a person opens the web view.
    """
    operator = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": access.operator_namespace}},
                "podSelector": {"matchLabels": dict(access.operator_labels)}}
    ingress: list[dict[str, Any]] = [{"from": [operator], "ports": [{"port": "admin", "protocol": "TCP"}]}]
    if access.http_peers:  # a rule without peers would admit everyone: no peers, no rule
        ingress.append({"from": [dict(peer) for peer in access.http_peers],
                        "ports": [{"port": "http", "protocol": "TCP"}]})
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": _meta(name, namespace, owner),
            "spec": {"podSelector": {"matchLabels": selector(name)}, "policyTypes": ["Ingress"],
                     "ingress": ingress}}


def pod_monitor(name: str, namespace: str, owner: Mapping[str, Any], interval: str = "15s") -> dict[str, Any]:
    """The Prometheus Operator's scrape of ``/metrics`` (created only when its CRD exists)."""
    return {"apiVersion": "monitoring.coreos.com/v1", "kind": "PodMonitor", "metadata": _meta(name, namespace, owner),
            "spec": {"selector": {"matchLabels": selector(name)},
                     "podMetricsEndpoints": [{
                         "port": "http", "path": "/metrics", "interval": interval,
                         # the dashboard's "actor" variable: the KalshiActor's name, stable across pod rolls
                         "relabelings": [{"sourceLabels": ["__meta_kubernetes_pod_label_app_kubernetes_io_instance"],
                                          "targetLabel": "actor", "action": "replace"}]}]}}
