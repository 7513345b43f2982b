"""Create-or-patch a child to its desired manifest (client-side apply with JSON merge patches).

The last manifest the operator applied is kept in an annotation; the patch is the RFC 7386
difference between it and the new one, so a field the operator stopped setting is removed
and fields other parties own (defaults the API server filled in, a HPA, ``kubectl
annotate``) are left alone. Nothing is sent when nothing changed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .kube import KubeClient, collection_path, object_path

__all__ = ["LAST_APPLIED", "Applied", "apply", "merge_diff"]

LAST_APPLIED = "trading.kalshiflow.io/last-applied"


@dataclass(frozen=True)
class Applied:
    """What :func:`apply` did: ``action`` is ``created`` | ``patched`` | ``unchanged``."""

    action: str
    previous: Mapping[str, Any] | None  # the manifest applied before (None when created or unknown)
    live: Mapping[str, Any]


def merge_diff(old: Any, new: Any) -> Any:
    """The JSON merge patch that turns ``old`` into ``new`` (dicts recursively; lists and scalars replaced)."""
    if not isinstance(old, Mapping) or not isinstance(new, Mapping):
        return new
    patch: dict[str, Any] = {key: None for key in old if key not in new}
    for key, value in new.items():
        if key not in old:
            patch[key] = value
        elif old[key] != value:
            patch[key] = merge_diff(old[key], value)
    return patch


def _plural(kind: str) -> str:
    return {"ConfigMap": "configmaps", "Deployment": "deployments", "Service": "services", "Secret": "secrets",
            "PodMonitor": "podmonitors", "NetworkPolicy": "networkpolicies"}[kind]


async def apply(kube: KubeClient, desired: Mapping[str, Any]) -> Applied:
    """Make the live object match ``desired`` (create it, or merge-patch what changed since the last apply)."""
    meta = desired["metadata"]
    plural = _plural(desired["kind"])
    path = object_path(desired["apiVersion"], plural, meta["namespace"], meta["name"])
    record = json.dumps(desired, sort_keys=True, separators=(",", ":"))
    body = {**desired, "metadata": {**meta, "annotations": {**meta.get("annotations", {}), LAST_APPLIED: record}}}
    live = await kube.get(path)
    if live is None:
        created = await kube.create(collection_path(desired["apiVersion"], plural, meta["namespace"]), body)
        return Applied("created", None, created)
    recorded = (live.get("metadata", {}).get("annotations") or {}).get(LAST_APPLIED)
    previous = json.loads(recorded) if recorded else None
    if previous == json.loads(record):
        return Applied("unchanged", previous, live)
    if previous is None:  # made by someone else, or before the annotation: merge over it, delete nothing
        patch: Any = body
    else:
        old_meta = previous.get("metadata", {})
        base = {**previous, "metadata": {**old_meta, "annotations": {**old_meta.get("annotations", {}),
                                                                     LAST_APPLIED: recorded}}}
        patch = merge_diff(base, body)
    patched = await kube.merge_patch(path, patch)
    return Applied("patched", previous, patched)
