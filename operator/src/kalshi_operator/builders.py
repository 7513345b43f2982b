"""Pure builders: an :class:`~.spec.ActorSpec` -> the Kubernetes objects that run it.

No I/O here: each function returns a plain dict (the manifest), so they are tested without a
cluster and the handlers only create or patch what these return.

What the pod gets
-----------------
- the actor's configuration as a file (``/etc/kalshi-actor/config.yaml``, from the ConfigMap;
  hot AND cold fields, so nothing a live change touches is set by an environment variable,
  which would override the file);
- secrets only through the environment and mounted files: the admin token
  (``RL_ACTOR_ADMIN_TOKEN`` from the operator's per-actor Secret) and the exchange key
  (``RL_ACTOR_API_KEY_ID`` from the user's Secret, the private key as a 0400 file);
- the model registry (a PVC, read-only);
- ``restart-hash``: a hash of every cold setting, on the pod template, so a cold change rolls
  the pod and a hot change does not.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from typing import Any

import yaml

from .spec import ActorSpec

__all__ = [
    "ADMIN_TOKEN_KEY",
    "CONFIG_FILE",
    "GROUP",
    "HTTP_PORT",
    "PLURAL",
    "VERSION",
    "admin_secret",
    "config_map",
    "config_text",
    "deployment",
    "labels",
    "owner_reference",
    "pod_monitor",
    "restart_hash",
    "service",
]

GROUP, VERSION, PLURAL, KIND = "trading.kalshiflow.io", "v1alpha1", "kalshiactors", "KalshiActor"
HTTP_PORT = 8000
CONFIG_DIR = "/etc/kalshi-actor"
CONFIG_FILE = f"{CONFIG_DIR}/config.yaml"
CREDENTIALS_DIR = "/var/run/kalshi-actor/credentials"
PRIVATE_KEY_FILE = f"{CREDENTIALS_DIR}/private-key.pem"
MODELS_DIR = "/var/lib/kalshi-actor/models"
IMAGE_MODELS_DIR = "/app/models"  # the image's own registry (empty unless baked in) when no PVC is given
ADMIN_TOKEN_KEY = "token"
RESTART_HASH = "trading.kalshiflow.io/restart-hash"
GRACE_PERIOD_S = 45  # the actor's SIGTERM budget to cancel its orders is 20 s; leave margin for the exchange
_APP = "kalshi-actor"


def labels(name: str) -> dict[str, str]:
    """The labels of every child of actor ``name`` (the first two select its pod)."""
    return {"app.kubernetes.io/name": _APP, "app.kubernetes.io/instance": name,
            "app.kubernetes.io/component": "actor", "app.kubernetes.io/managed-by": "kalshi-actor-operator"}


def _selector(name: str) -> dict[str, str]:
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


def admin_secret(name: str, namespace: str, owner: Mapping[str, Any], token: str) -> dict[str, Any]:
    """The per-actor Secret with the admin endpoint's bearer token (created once, never rewritten)."""
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": _meta(admin_secret_name(name), namespace, owner),
            "data": {ADMIN_TOKEN_KEY: base64.b64encode(token.encode()).decode()}}


def deployment(spec: ActorSpec, namespace: str, owner: Mapping[str, Any], *, default_image: str) -> dict[str, Any]:
    """One replica, ``Recreate`` (two pods never trade one account), probes, non-root, read-only root."""
    name = spec.name
    env: list[dict[str, Any]] = [
        {"name": "RL_ACTOR_CONFIG_FILE", "value": CONFIG_FILE},
        {"name": "RL_ACTOR_ADMIN_TOKEN", "valueFrom": {"secretKeyRef": {"name": admin_secret_name(name),
                                                                        "key": ADMIN_TOKEN_KEY}}},
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
    args = ["run", "--host", "0.0.0.0", "--port", str(HTTP_PORT)]
    if spec.builtin_simulator:
        args.append("--sim")

    def probe(path: str, period: int, failures: int) -> dict[str, Any]:
        return {"httpGet": {"path": path, "port": "http"}, "periodSeconds": period, "timeoutSeconds": 3,
                "failureThreshold": failures}

    container = {
        "name": "actor",
        "image": spec.image or default_image,
        "imagePullPolicy": "IfNotPresent",
        "args": args,
        "env": env,
        "ports": [{"name": "http", "containerPort": HTTP_PORT, "protocol": "TCP"}],
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
            "selector": {"matchLabels": _selector(name)},
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
    """HTTP: the web view, ``/rl/actor/ws``, ``/metrics`` and the admin endpoint.

    ``publishNotReadyAddresses``: a paused or halted actor is not ready, but its web view,
    metrics and admin endpoint must stay reachable (the operator pushes ``paused: false``).
    """
    return {"apiVersion": "v1", "kind": "Service", "metadata": _meta(name, namespace, owner),
            "spec": {"type": "ClusterIP", "selector": _selector(name), "publishNotReadyAddresses": True,
                     "ports": [{"name": "http", "port": HTTP_PORT, "targetPort": "http", "protocol": "TCP"}]}}


def pod_monitor(name: str, namespace: str, owner: Mapping[str, Any], interval: str = "15s") -> dict[str, Any]:
    """The Prometheus Operator's scrape of ``/metrics`` (created only when its CRD exists)."""
    return {"apiVersion": "monitoring.coreos.com/v1", "kind": "PodMonitor", "metadata": _meta(name, namespace, owner),
            "spec": {"selector": {"matchLabels": _selector(name)},
                     "podMetricsEndpoints": [{
                         "port": "http", "path": "/metrics", "interval": interval,
                         # the dashboard's "actor" variable: the KalshiActor's name, stable across pod rolls
                         "relabelings": [{"sourceLabels": ["__meta_kubernetes_pod_label_app_kubernetes_io_instance"],
                                          "targetLabel": "actor", "action": "replace"}]}]}}
