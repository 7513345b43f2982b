"""A small Kubernetes API client: get, list, create, merge-patch. Nothing else.

It uses the credentials kopf logged in with (:func:`kopf.login_with_service_account` in a pod,
the kubeconfig elsewhere), so the operator has one login path. Only JSON merge patches are
sent: they mean the same on every API server (no strategic merge, no server-side apply).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any

import aiohttp
import kopf

__all__ = ["ApiError", "KubeClient", "collection_path", "object_path"]

_TIMEOUT = aiohttp.ClientTimeout(total=30, sock_connect=5)


class ApiError(Exception):
    """A non-2xx answer of the API server."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


def collection_path(api_version: str, plural: str, namespace: str) -> str:
    """``("apps/v1", "deployments", "ns")`` -> ``/apis/apps/v1/namespaces/ns/deployments``."""
    root = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
    return f"{root}/namespaces/{namespace}/{plural}"


def object_path(api_version: str, plural: str, namespace: str, name: str) -> str:
    return f"{collection_path(api_version, plural, namespace)}/{name}"


def _field(obj: Mapping[str, Any], dotted: str) -> Any:
    for part in dotted.split("."):
        obj = obj.get(part) if isinstance(obj, Mapping) else None
    return obj


def _matches(item: Mapping[str, Any], labels: Mapping[str, str], fields: Mapping[str, str]) -> bool:
    have = (item.get("metadata") or {}).get("labels") or {}
    return all(have.get(k) == v for k, v in labels.items()) and all(
        str(_field(item, k)) == v for k, v in fields.items())


class KubeClient:
    """One aiohttp session to the API server, built from a :class:`kopf.ConnectionInfo`."""

    def __init__(self, info: kopf.ConnectionInfo) -> None:
        self.server = info.server.rstrip("/")
        self._info = info
        self._session: aiohttp.ClientSession | None = None
        self._lock = asyncio.Lock()

    async def _ensure(self) -> aiohttp.ClientSession:
        async with self._lock:
            if self._session is None or self._session.closed:
                info = self._info
                self._session = aiohttp.ClientSession(
                    connector=aiohttp.TCPConnector(ssl=info.as_ssl_context()),
                    headers={**info.as_http_headers(), "User-Agent": "kalshi-actor-operator"}, timeout=_TIMEOUT)
            return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def request(self, method: str, path: str, body: Any = None, *,
                      content_type: str = "application/json") -> dict[str, Any]:
        session = await self._ensure()
        data = None if body is None else json.dumps(body)
        async with session.request(method, self.server + path, data=data,
                                   headers={"Content-Type": content_type}) as response:
            text = await response.text()
            if response.status >= 400:
                try:
                    message = json.loads(text).get("message") or text
                except (ValueError, AttributeError):
                    message = text
                raise ApiError(response.status, str(message)[:500])
            return json.loads(text) if text else {}

    async def get(self, path: str) -> dict[str, Any] | None:
        """The object, or None when it does not exist."""
        try:
            return await self.request("GET", path)
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise

    async def list(self, path: str, *, labels: Mapping[str, str] | None = None,
                   fields: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
        """The items of a collection, selected by ``labels`` and ``fields`` (asked of the server and checked here
        too: a server that ignores selectors cannot hand another actor's pod over)."""
        query = {key: ",".join(f"{k}={v}" for k, v in selector.items())
                 for key, selector in (("labelSelector", labels), ("fieldSelector", fields)) if selector}
        session = await self._ensure()
        async with session.get(self.server + path, params=query) as response:
            text = await response.text()
            if response.status >= 400:
                raise ApiError(response.status, text[:500])
        items = (json.loads(text) if text else {}).get("items") or []
        return [item for item in items if _matches(item, labels or {}, fields or {})]

    async def create(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        return await self.request("POST", path, body)

    async def merge_patch(self, path: str, patch: Mapping[str, Any]) -> dict[str, Any]:
        return await self.request("PATCH", path, patch, content_type="application/merge-patch+json")

    async def has_resource(self, group_version: str, plural: str) -> bool:
        """Whether the server serves ``plural`` in ``group/version`` (e.g. the Prometheus Operator's CRDs)."""
        try:
            listing = await self.request("GET", f"/apis/{group_version}")
        except ApiError as exc:
            if exc.status in (403, 404):
                return False
            raise
        return any(resource.get("name") == plural for resource in listing.get("resources", []))
