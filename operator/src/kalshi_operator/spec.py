"""A ``KalshiActor`` spec: defaults, validation, and the actor's configuration it stands for.

The CRD's OpenAPI schema (``crds/kalshiactor.yaml``) defaults and validates on a real API
server; the operator checks the same rules again here (:func:`parse_spec`), because an
invalid spec must never reach a running actor whatever admitted it (an older CRD, a server
without CEL, an emulator). A bad spec raises :class:`SpecError` naming every bad field by
its CR path (``spec.risk.maxExposure``).

Hot and cold
------------
:data:`HOT_FIELDS` (camelCase) change a running actor in place: the operator pushes them to
the pod's admin endpoint. Every other field is cold: its change gives the pod template a new
``restart-hash`` and the Deployment rolls the pod (``Recreate``).

Units: money is given in dollars and contracts in contracts, as strings or numbers
(``"12.50"``, ``100``); the actor's config file takes the same inputs.

Types are strict: a boolean is never a number nor a number a boolean, and a value of the
wrong type is refused, not taken as unset (``modelId: false`` is not "the latest").

Each risk limit has the actor's maximum (:data:`RISK_MAXIMA`): ``maxPosition`` 1,000,000
contracts; ``maxExposure``, ``maxLossSession`` and ``maxLossDaily`` $10,000,000 each;
``maxOrdersPerMinute`` 60,000. The CRD says the same with ``maximum`` (the number form) and
``pattern`` (the string form).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

__all__ = ["DEFAULT_RISK", "HOT_FIELDS", "RISK_MAXIMA", "ActorSpec", "SpecError", "parse_spec"]

HOT_FIELDS = ("modelId", "marketMode", "marketTickers", "marketLimit", "tickInterval", "risk", "paused")
"""Spec fields pushed to the running pod (the actor's hot fields, in the CR's spelling)."""

# spec (camelCase) -> the actor's field (RL_ACTOR_* / config file key)
_ACTOR_NAMES = {"modelId": "model_id", "marketMode": "market_mode", "marketTickers": "market_tickers",
                "marketLimit": "market_limit", "tickInterval": "tick_interval", "risk": "risk", "paused": "paused"}
_RISK_NAMES = {"maxPosition": "max_position", "maxExposure": "max_exposure",
               "maxOrdersPerMinute": "max_orders_per_minute", "maxLossSession": "max_loss_session",
               "maxLossDaily": "max_loss_daily"}
DEFAULT_RISK: dict[str, Any] = {"maxPosition": "100", "maxExposure": "1000", "maxOrdersPerMinute": 600,
                                "maxLossSession": "200", "maxLossDaily": "500"}
"""The actor's own defaults (``RiskLimits``), in the CR's units."""
RISK_MAXIMA: dict[str, int] = {"maxPosition": 1_000_000, "maxExposure": 10_000_000, "maxOrdersPerMinute": 60_000,
                               "maxLossSession": 10_000_000, "maxLossDaily": 10_000_000}
"""The actor's maxima (``MAX_CONTRACTS``, ``MAX_DOLLARS``, ``MAX_ORDERS_PER_MINUTE``), in the CR's units."""

DEFAULT_RESOURCES: dict[str, Any] = {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"memory": "2Gi"}}

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")  # a DNS-1123 label (Secret, PVC names)
_KEY = re.compile(r"[-._a-zA-Z0-9]{1,253}")  # a Secret data key
_DECIMAL = re.compile(r"[0-9]+(\.[0-9]+)?")  # the CRD's pattern's syntax (the actor parses it too; not "1e3")
_QUANTITY = re.compile(r"^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$")
_KNOWN = {"modelId", "marketMode", "marketTickers", "marketLimit", "tickInterval", "environment", "allowProduction",
          "exchange", "credentialsSecretRef", "initialCash", "risk", "paused", "registry", "image", "resources"}


class SpecError(ValueError):
    """An invalid spec. ``problems`` maps a CR path (``spec.marketLimit``) to what is wrong."""

    def __init__(self, problems: Mapping[str, str]) -> None:
        self.problems = dict(problems)
        super().__init__("; ".join(f"{path}: {why}" for path, why in self.problems.items()))


@dataclass(frozen=True)
class Credentials:
    secret: str
    key_id_key: str = "api-key-id"
    private_key_key: str = "private-key"


@dataclass(frozen=True)
class Registry:
    claim: str
    path: str = ""


@dataclass(frozen=True)
class ActorSpec:
    """A validated spec with its defaults applied (see the CRD for each field's meaning)."""

    name: str
    model_id: str = ""
    market_mode: str = "discovery"
    market_tickers: tuple[str, ...] = ()
    market_limit: int = 100
    tick_interval: float = 1.0
    environment: str = "sim"
    allow_production: bool = False
    rest_url: str | None = None
    ws_url: str | None = None
    credentials: Credentials | None = None
    initial_cash: str = "10000"
    risk: Mapping[str, Any] = field(default_factory=lambda: dict(DEFAULT_RISK))
    paused: bool = False
    registry: Registry | None = None
    image: str | None = None
    resources: Mapping[str, Any] = field(default_factory=lambda: dict(DEFAULT_RESOURCES))

    @property
    def builtin_simulator(self) -> bool:
        """``sim`` with no exchange URL: the pod runs the built-in simulator beside the actor (a fresh key)."""
        return self.environment == "sim" and self.rest_url is None

    def hot_config(self) -> dict[str, Any]:
        """The hot fields as the actor's config takes them (what the operator pushes and confirms)."""
        return {
            "model_id": self.model_id, "market_mode": self.market_mode, "market_tickers": list(self.market_tickers),
            "market_limit": self.market_limit, "tick_interval": self.tick_interval, "paused": self.paused,
            "risk": {_RISK_NAMES[key]: value for key, value in self.risk.items()},
        }

    def cold_config(self) -> dict[str, Any]:
        """The actor's cold settings that live in the config file (a change rolls the pod)."""
        cold: dict[str, Any] = {"name": self.name, "environment": self.environment,
                                "allow_production": self.allow_production, "initial_cash": self.initial_cash,
                                "log_format": "json"}
        if self.rest_url is not None:
            cold["rest_url"] = self.rest_url
            cold["ws_url"] = self.ws_url
        return cold


def actor_field(spec_field: str) -> str:
    """``"modelId"`` -> ``"model_id"`` (hot fields only)."""
    return _ACTOR_NAMES[spec_field]


def parse_spec(name: str, spec: Mapping[str, Any] | None) -> ActorSpec:
    """Apply the defaults and check every rule; raise :class:`SpecError` listing every problem."""
    spec = dict(spec or {})
    problems: dict[str, str] = {}
    out: dict[str, Any] = {"name": name}

    def bad(path: str, why: str) -> None:
        problems.setdefault(f"spec.{path}", why)

    for key in sorted(set(spec) - _KNOWN):
        bad(key, "unknown field")

    model_id = _get(spec, "modelId", "")
    if not isinstance(model_id, str) or (model_id and not _ID.fullmatch(model_id)):
        bad("modelId", f"not a registry model id: {str(model_id)[:64]!r}")
    out["model_id"] = model_id if isinstance(model_id, str) else ""

    mode = spec.get("marketMode", "discovery")
    if mode not in ("discovery", "tickers"):
        bad("marketMode", f"must be 'discovery' or 'tickers', got {mode!r}")
    out["market_mode"] = mode
    tickers = _get(spec, "marketTickers", [])
    if not isinstance(tickers, list) or not all(isinstance(t, str) and _ID.fullmatch(t) for t in tickers):
        bad("marketTickers", "must be a list of market tickers")
        tickers = []
    elif len(tickers) > 1000:
        bad("marketTickers", "at most 1000 markets")
    out["market_tickers"] = tuple(dict.fromkeys(tickers))
    if mode == "tickers" and not tickers:
        bad("marketTickers", "marketMode 'tickers' needs at least one ticker")

    out["market_limit"] = _int(spec.get("marketLimit", 100), 1, 1000, "marketLimit", bad)
    interval = spec.get("tickInterval", 1.0)
    if not _is_number(interval) or not 0 <= interval <= 3600:
        bad("tickInterval", f"seconds between 0 and 3600, got {interval!r}")
        interval = 1.0
    out["tick_interval"] = float(interval)

    env = spec.get("environment", "sim")
    if env not in ("sim", "demo", "production"):
        bad("environment", f"must be 'sim', 'demo' or 'production', got {env!r}")
    out["environment"] = env
    allow = spec.get("allowProduction", False)
    if not isinstance(allow, bool):
        bad("allowProduction", "must be true or false")
        allow = False
    out["allow_production"] = allow
    if env == "production" and not allow:
        bad("environment", "production trades real money: set allowProduction: true to allow it")

    exchange = _get(spec, "exchange", {})
    if not isinstance(exchange, Mapping):
        bad("exchange", "must be an object with restUrl and wsUrl")
        exchange = {}
    rest_url, ws_url = exchange.get("restUrl"), exchange.get("wsUrl")
    if (rest_url is None) != (ws_url is None):
        bad("exchange", "give both restUrl and wsUrl, or neither")
    for key, value, schemes in (("restUrl", rest_url, ("http://", "https://")), ("wsUrl", ws_url, ("ws://", "wss://"))):
        if value is not None and not (isinstance(value, str) and value.startswith(schemes) and len(value) > 8):
            bad(f"exchange.{key}", f"expected a {' or '.join(schemes)} URL, got {str(value)[:100]!r}")
    out["rest_url"], out["ws_url"] = rest_url, ws_url

    creds = spec.get("credentialsSecretRef")
    if creds is not None:
        if not isinstance(creds, Mapping) or not isinstance(creds.get("name"), str) or not _NAME.fullmatch(
                creds.get("name", "")):
            bad("credentialsSecretRef.name", "the name of a Secret in the actor's namespace")
        else:
            keys = {k: creds.get(k, default) for k, default in (("keyIdKey", "api-key-id"),
                                                               ("privateKeyKey", "private-key"))}
            for key, value in keys.items():
                if not isinstance(value, str) or not _KEY.fullmatch(value):
                    bad(f"credentialsSecretRef.{key}", "a Secret data key")
            out["credentials"] = Credentials(creds["name"], keys["keyIdKey"], keys["privateKeyKey"])
    needs_key = env != "sim" or rest_url is not None
    if needs_key and "credentials" not in out and "spec.credentialsSecretRef.name" not in problems:
        bad("credentialsSecretRef", f"environment {env!r} with an exchange needs the API key's Secret"
            if env == "sim" else f"environment {env!r} needs the API key's Secret")

    out["initial_cash"] = _amount(spec.get("initialCash", "10000"), "initialCash", bad, positive=False)
    risk = _get(spec, "risk", {})
    if not isinstance(risk, Mapping):
        bad("risk", "must be an object")
        risk = {}
    limits = dict(DEFAULT_RISK)
    for key, value in risk.items():
        if key not in DEFAULT_RISK:
            bad(f"risk.{key}", "unknown field")
        elif key == "maxOrdersPerMinute":
            limits[key] = _int(value, 1, RISK_MAXIMA[key], f"risk.{key}", bad)
        else:
            limits[key] = _amount(value, f"risk.{key}", bad, positive=True, maximum=RISK_MAXIMA[key],
                                  decimals=2 if key == "maxPosition" else 6)
    out["risk"] = limits

    paused = spec.get("paused", False)
    if not isinstance(paused, bool):
        bad("paused", "must be true or false")
        paused = False
    out["paused"] = paused

    registry = spec.get("registry")
    if registry is not None:
        claim = registry.get("claimName") if isinstance(registry, Mapping) else None
        path = (registry.get("path") or "") if isinstance(registry, Mapping) else ""
        if not isinstance(claim, str) or not _NAME.fullmatch(claim):
            bad("registry.claimName", "the name of a PersistentVolumeClaim in the actor's namespace")
        elif not isinstance(path, str) or path.startswith("/") or ".." in path.split("/"):
            bad("registry.path", "a relative path inside the volume")
        else:
            out["registry"] = Registry(claim, path.strip("/"))

    image = spec.get("image")
    if image is not None and (not isinstance(image, str) or not image.strip() or any(c.isspace() for c in image)):
        bad("image", "an image reference such as ghcr.io/org/kalshi-actor:0.1.0")
    out["image"] = image
    resources = spec.get("resources")
    if resources is not None:
        out["resources"] = _resources(resources, bad)
    if problems:
        raise SpecError(problems)
    return ActorSpec(**out)


def _get(spec: Mapping[str, Any], key: str, default: Any) -> Any:
    """``spec[key]``, the default when absent or null; a falsy value of another type stays, to be refused."""
    value = spec.get(key)
    return default if value is None else value


def _is_number(value: Any) -> bool:
    """An int or a float, never a bool (``True`` is an int to Python, not a number to the CRD)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _int(value: Any, low: int, high: int, path: str, bad) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        bad(path, f"an integer from {low} to {high}, got {value!r}")
        return low
    return value


def _amount(value: Any, path: str, bad, *, positive: bool, decimals: int = 6, maximum: int | None = None) -> str:
    """A dollar or contract amount as exact, plain decimal text (``12.5`` -> ``"12.5"``), as the CRD's pattern
    and the actor take it (not ``"1e3"``)."""
    if not _is_number(value) and not isinstance(value, str):
        bad(path, f"a number, got {value!r}")
        return "1"
    text = format(Decimal(repr(value)), "f") if isinstance(value, float) else str(value).strip()
    if not _DECIMAL.fullmatch(text) or len(text.partition(".")[2]) > decimals or (positive and Decimal(text) == 0):
        bad(path, f"a {'positive' if positive else 'non-negative'} number with at most {decimals} decimals, "
                  f"got {text[:40]!r}")
        return "1"
    if maximum is not None and Decimal(text) > maximum:
        bad(path, f"at most {maximum:,}, got {text[:40]!r}")
        return "1"
    return text


def _resources(value: Any, bad) -> dict[str, Any]:
    if not isinstance(value, Mapping) or set(value) - {"requests", "limits"}:
        bad("resources", "an object with requests and limits")
        return dict(DEFAULT_RESOURCES)
    for part, quantities in value.items():
        if not isinstance(quantities, Mapping):
            bad(f"resources.{part}", "a map of resource names to quantities")
            continue
        for name, quantity in quantities.items():
            if isinstance(quantity, bool) or not _QUANTITY.match(str(quantity)):
                bad(f"resources.{part}.{name}", f"not a quantity: {quantity!r}")
    return {part: dict(quantities) for part, quantities in value.items() if isinstance(quantities, Mapping)}
