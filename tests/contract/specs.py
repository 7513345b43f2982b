"""Kalshi's published specs (the vendored copies in ``spec/``) as JSON Schema validators.

``rest_problems(method, path, status, body)`` checks a REST response body against the
response schema that ``openapi.yaml`` gives that operation and status;
``ws_problems(frame)`` checks a WebSocket frame against the payload schema of the
``asyncapi.yaml`` message whose ``name`` is the frame's ``type``. Both return a list of
readable problems (``"$.market.yes_bid_dollars: 5 is not of type 'string'"``), empty when
the payload conforms.

The only liberties taken with the documents are described in ``spec/README.md``: OpenAPI
3.0's ``nullable`` becomes JSON Schema's ``null`` type, and the ticker pattern is relaxed.
"""

from __future__ import annotations

import copy
import functools
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError, best_match
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SPEC_DIR = Path(__file__).parent / "spec"
OPENAPI_URI = "urn:kalshi:openapi"
ASYNCAPI_URI = "urn:kalshi:asyncapi"

# The one documented quirk: Kalshi's own tickers contain dots ("FED-23DEC-T3.00").
_TICKER_PATTERN = "^[A-Z0-9-]+$"
_RELAXED_TICKER_PATTERN = "^[A-Z0-9.-]+$"

_formats = FormatChecker()  # uuid, date, ipv4, ... need no extra package; date-time does:


@_formats.checks("date-time", raises=ValueError)
def _is_rfc3339(value: object) -> bool:
    if not isinstance(value, str):
        return True
    # RFC 3339 requires a "T" (or "t") separator and an explicit offset (Z or ±hh:mm).
    if len(value) < 20 or value[10] not in "Tt" or not (value[-1] in "Zz" or value[-6] in "+-"):
        raise ValueError(f"{value!r} is not an RFC 3339 date-time")
    datetime.fromisoformat(value[:-1] + "+00:00" if value[-1] in "Zz" else value)
    return True


def _nullable_to_json_schema(node: Any) -> Any:
    """OpenAPI 3.0 ``nullable: true`` -> ``anyOf: [<schema>, {"type": "null"}]`` (recursively)."""
    if isinstance(node, list):
        return [_nullable_to_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {key: _nullable_to_json_schema(value) for key, value in node.items()}
    if converted.pop("nullable", False) is True:
        return {"anyOf": [converted, {"type": "null"}]}
    return converted


@functools.cache
def openapi() -> dict[str, Any]:
    """``openapi.yaml`` as loaded (the raw document, for listing operations)."""
    with open(SPEC_DIR / "openapi.yaml", encoding="utf-8") as f:
        return yaml.safe_load(f)


@functools.cache
def asyncapi() -> dict[str, Any]:
    with open(SPEC_DIR / "asyncapi.yaml", encoding="utf-8") as f:
        return yaml.safe_load(f)


@functools.cache
def _registry() -> Registry:
    rest = _nullable_to_json_schema(copy.deepcopy(openapi()))
    ws = copy.deepcopy(asyncapi())
    ticker = ws["components"]["schemas"]["marketTicker"]
    assert ticker["pattern"] == _TICKER_PATTERN, "the ticker quirk changed: update spec/README.md"
    ticker["pattern"] = _RELAXED_TICKER_PATTERN
    return Registry().with_resources([
        (OPENAPI_URI, Resource.from_contents(rest, default_specification=DRAFT202012)),
        (ASYNCAPI_URI, Resource.from_contents(ws, default_specification=DRAFT202012)),
    ])


@functools.cache
def _validator(ref: str) -> Draft202012Validator:
    return Draft202012Validator({"$ref": ref}, registry=_registry(), format_checker=_formats)


def _json_path(error: ValidationError) -> str:
    path = "$"
    for part in error.absolute_path:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def _explain(error: ValidationError) -> ValidationError:
    """For ``anyOf`` (a nullable field, mostly), the reason of the closest alternative, not "not valid under any"."""
    while error.validator in ("anyOf", "oneOf") and error.context:
        reasons = [e for e in error.context if e.validator_value != "null"] or error.context
        error = best_match(reasons)
    return error


def _problems(ref: str, instance: Any) -> list[str]:
    errors = sorted(map(_explain, _validator(ref).iter_errors(instance)),
                    key=lambda e: list(map(str, e.absolute_path)))
    return [f"{_json_path(e)}: {e.message}" for e in errors]


# --- REST ---


def _deref(document: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = functools.reduce(lambda n, key: n[key], node["$ref"].removeprefix("#/").split("/"), document)
    return node


def rest_schema_ref(method: str, path: str, status: int) -> str:
    """The JSON pointer of the response schema for ``METHOD path`` (a spec path template) and status."""
    document = openapi()
    operation = document["paths"][path][method.lower()]
    response = operation["responses"].get(str(status))
    if response is None:
        raise KeyError(f"the spec lists no {status} response for {method.upper()} {path}")
    response = _deref(document, response)
    schema = response.get("content", {}).get("application/json", {}).get("schema")
    if schema is None:
        raise KeyError(f"the spec's {status} response for {method.upper()} {path} has no JSON body")
    if "$ref" in schema:
        return OPENAPI_URI + schema["$ref"]
    raise KeyError(f"the {status} response schema of {method.upper()} {path} is inline")  # none is, today


def rest_problems(method: str, path: str, status: int, body: Any) -> list[str]:
    """Where ``body`` breaks the spec's response schema of ``METHOD path`` at ``status``."""
    return _problems(rest_schema_ref(method, path, status), body)


def rest_request_problems(method: str, path: str, body: Any) -> list[str]:
    """Where a request ``body`` breaks the spec's request schema of ``METHOD path``."""
    document = openapi()
    request = _deref(document, document["paths"][path][method.lower()]["requestBody"])
    return _problems(OPENAPI_URI + request["content"]["application/json"]["schema"]["$ref"], body)


def rest_schema_problems(schema_name: str, body: Any) -> list[str]:
    """Where ``body`` breaks the named schema of ``components/schemas``."""
    return _problems(f"{OPENAPI_URI}#/components/schemas/{schema_name}", body)


# --- WebSocket ---


def _resolve(document: dict[str, Any], ref: str) -> dict[str, Any]:
    return _deref(document, {"$ref": ref})


@functools.cache
def _ws_payload_refs(action: str, discriminator: str) -> dict[str, tuple[str, ...]]:
    """``type`` (server frames: ``send`` operations) or ``cmd`` (client commands: ``receive``
    operations) -> the payload schemas of every message with that value.

    Several messages share a type (``ok`` answers ``update_subscription``,
    ``list_subscriptions``, and the index/underlying subscriptions; ``market_lifecycle_v2``
    also carries ``metadata_updated``), so each value maps to its candidates.
    """
    document = asyncapi()
    refs: dict[str, list[str]] = {}
    for operation in document["operations"].values():
        if operation["action"] != action:
            continue
        for message_ref in operation["messages"]:
            message = _resolve(document, message_ref["$ref"])
            payload_ref = message["payload"].get("$ref")
            if payload_ref is None:  # ping/pong: control frames, not JSON
                continue
            value = _resolve(document, payload_ref)["properties"][discriminator]["const"]
            refs.setdefault(value, []).append(ASYNCAPI_URI + payload_ref)
    return {value: tuple(dict.fromkeys(candidates)) for value, candidates in refs.items()}


def _closest(candidates: tuple[str, ...], instance: Any) -> list[str]:
    """Passes if any candidate accepts; else the problems of the one that came closest."""
    return min((_problems(ref, instance) for ref in candidates), key=len)


def ws_problems(frame: dict[str, Any]) -> list[str]:
    """Where a server ``frame`` breaks the payload schema of the asyncapi message of its ``type``."""
    candidates = _ws_payload_refs("send", "type").get(frame.get("type"))  # type: ignore[arg-type]
    if not candidates:
        return [f"$.type: the spec has no server message of type {frame.get('type')!r}"]
    return _closest(candidates, frame)


def ws_command_problems(command: dict[str, Any]) -> list[str]:
    """Where a client ``command`` breaks the payload schema of the asyncapi command of its ``cmd``."""
    candidates = _ws_payload_refs("receive", "cmd").get(command.get("cmd"))  # type: ignore[arg-type]
    if not candidates:
        return [f"$.cmd: the spec has no command {command.get('cmd')!r}"]
    return _closest(candidates, command)
