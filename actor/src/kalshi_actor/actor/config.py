"""The actor's configuration: environment variables, an optional config file, validation, live changes.

Sources and precedence
----------------------
Every field has an environment variable ``RL_ACTOR_<FIELD>`` (the risk limits
``RL_ACTOR_RISK_<LIMIT>``, see :data:`ENV_VARS`). ``RL_ACTOR_CONFIG_FILE`` names an optional
YAML or JSON file (a mounted ConfigMap) whose keys are the field names (``risk`` a mapping).

**Environment variables override the file**, which overrides the defaults (the usual order:
the most specific, per-process setting wins). An empty variable counts as unset. A
deployment that wants to change fields live through the file therefore leaves them out
of the environment: a file change to a field that a variable also sets is refused with
``"set by RL_ACTOR_..., which overrides the file"``. Unknown ``RL_ACTOR_*`` variables and
unknown file keys are errors (a typo must not silently fall back to a default).

Units
-----
Inputs are human units; attributes are exact integers (:mod:`kalshi_actor.units`):
money in dollars (``"1000"``, ``"12.50"``, ``12.5``) is held in micros, contract counts
(``"10"``, ``2.5``) in hundredths. Dumps (:meth:`ActorConfig.public_dict`) give human units
again, so a dump validates back to the same config.

Types are strict whatever the source: a boolean is never a number (a JSON ``false`` for
``tick_interval`` is not 0) and a number never a boolean (``paused: 1`` is refused). Strings
still parse, as the environment gives nothing else: ``"1.5"``, ``"100"``, and for booleans
``true``/``false``, ``yes``/``no``, ``on``/``off``, ``1``/``0`` (any case).

Every risk limit has a maximum, far above any sane setting and low enough that a slip
(``1e30``, a few zeros too many) is refused instead of silently disabling the limit:
``max_position`` 1,000,000 contracts; ``max_exposure``, ``max_loss_session`` and
``max_loss_daily`` $10,000,000 each; ``max_orders_per_minute`` 60,000 (about Kalshi's highest
API tier). The operator's CRD and spec validation enforce the same maxima.

Validation
----------
:func:`load_config` validates everything at start and raises one :class:`ConfigError`
that lists every bad field with its variable. Production is refused unless
``allow_production`` is true. Secrets (``private_key``, ``admin_token``, ``viewer_token``) are
:class:`~pydantic.SecretStr`: never in ``repr``, dumps, logs or error messages. Tokens are
stripped once, at load (a Secret made with ``kubectl create secret --from-file`` ends in a newline).

Live changes
------------
:data:`HOT_FIELDS` change while the actor runs; every other field is cold (a change is
refused with ``"needs a restart"``). :func:`apply_changes` is the one function that
decides a change, used by the admin endpoint and by :class:`ConfigFileWatcher` alike.
"""

from __future__ import annotations

import asyncio
import difflib
import hashlib
import json
import logging
import math
import os
import re
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import orjson
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from ..kalshi import rest, ws
from ..kalshi.auth import KeyLoadError, load_private_key
from ..registry import default_root
from ..units import (
    COUNT_SCALE,
    MONEY_SCALE,
    Money,
    UnitError,
    format_count,
    format_money,
    parse_count,
    parse_money,
)

log = logging.getLogger(__name__)

__all__ = [
    "CONFIG_FILE_ENV",
    "ENV_PREFIX",
    "ENV_VARS",
    "HOT_FIELDS",
    "MAX_CONTRACTS",
    "MAX_DOLLARS",
    "MAX_ORDERS_PER_MINUTE",
    "ActorConfig",
    "ConfigChange",
    "ConfigError",
    "ConfigFileWatcher",
    "RiskLimits",
    "apply_changes",
    "configure_logging",
    "load_config",
    "read_config_file",
    "unknown_fields",
]

ENV_PREFIX = "RL_ACTOR_"
CONFIG_FILE_ENV = "RL_ACTOR_CONFIG_FILE"

HOT_FIELDS = frozenset({"model_id", "market_mode", "market_tickers", "market_limit", "tick_interval", "risk",
                        "paused"})
"""Fields that change in a running actor; ``market_mode`` is hot because switching modes is the
same operation as changing the tickers (subscribe/unsubscribe the difference)."""

_SECRET_FIELDS = frozenset({"private_key", "admin_token", "viewer_token"})
_RESTART = "needs a restart (cold field)"


class ConfigError(ValueError):
    """Invalid configuration. ``problems`` maps a field (``"risk.max_exposure"``) to what is wrong.

    The message lists every problem with the field's environment variable; it never contains a secret.
    """

    def __init__(self, problems: Mapping[str, str], *, title: str = "invalid actor configuration") -> None:
        self.problems = dict(problems)
        lines = [f"  {name}: {why}" if name.startswith(ENV_PREFIX) else f"  {name} ({_env_name(name)}): {why}"
                 for name, why in self.problems.items()]
        count = len(self.problems)
        super().__init__(f"{title} ({count} problem{'s' if count != 1 else ''}):\n" + "\n".join(lines))


# --- exact units at the edge -------------------------------------------------------------------


def _decimal_text(value: Any, what: str) -> str:
    """A number as typed (``12.5`` -> ``"12.5"``); floats via ``repr``, the shortest exact form, written out."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
        raise ValueError(f"expected {what}, got {type(value).__name__}")  # noqa: TRY004 - pydantic reports ValueErrors
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"expected {what}, got {value!r}")
        return format(Decimal(repr(value)), "f")  # 1e+30 -> 1000...0, so the message names the maximum
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value).strip()


def _to_micros(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        return value * MONEY_SCALE
    text = _decimal_text(value, "a dollar amount").removeprefix("$")
    try:
        return parse_money(text)
    except UnitError:
        raise ValueError(f"expected a dollar amount with at most 6 decimals, got {text!r}") from None


def _to_hundredths(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        return value * COUNT_SCALE
    text = _decimal_text(value, "a number of contracts")
    try:
        return parse_count(text)
    except UnitError:
        raise ValueError(f"expected a number of contracts with at most 2 decimals, got {text!r}") from None


def _dollars(money: Money) -> str:
    """Micros -> the shortest exact dollar string with at least 2 decimals (``"1000.00"``, ``"0.125"``)."""
    text = format_money(money, 6)
    whole, frac = text.split(".")
    return f"{whole}.{frac.rstrip('0').ljust(2, '0')}"


Dollars = Annotated[int, BeforeValidator(_to_micros), PlainSerializer(_dollars, return_type=str)]
"""Money: given in dollars, held in micros, dumped in dollars."""
Contracts = Annotated[int, BeforeValidator(_to_hundredths), PlainSerializer(format_count, return_type=str)]
"""A count: given in contracts, held in hundredths, dumped in contracts."""


def _not_a_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError(f"expected a number, got {str(value).lower()}")  # noqa: TRY004 - pydantic reports ValueErrors
    return value


_N = TypeVar("_N", int, float)
Number = Annotated[_N, BeforeValidator(_not_a_bool)]
"""``Number[int]``, ``Number[float]``: a number that is not a bool (pydantic's lax mode takes ``true`` as 1);
strings still parse (the environment's ``"1.5"``)."""

_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0"})


def _to_flag(value: Any) -> Any:
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE | _FALSE:
            return word in _TRUE
        raise ValueError(f"expected true or false, got {value[:40]!r}")
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {_short(value)}")
    return value


Flag = Annotated[bool, BeforeValidator(_to_flag)]
"""A boolean: ``true``/``false``, or a string such as the environment's ``"true"``; never a number (``1``)."""


def _at_most(limit: int, shown: str) -> AfterValidator:
    """An upper bound on a value held in exact units, named in human ones (``"at most $10,000,000"``)."""

    def check(value: int) -> int:
        if value > limit:
            raise ValueError(f"at most {shown}")
        return value

    return AfterValidator(check)


MAX_CONTRACTS = 1_000_000
"""The highest ``max_position``, contracts."""
MAX_DOLLARS = 10_000_000
"""The highest ``max_exposure``, ``max_loss_session`` and ``max_loss_daily``, dollars."""
MAX_ORDERS_PER_MINUTE = 60_000
"""The highest ``max_orders_per_minute``: about Kalshi's highest API tier."""

_LimitContracts = Annotated[Contracts, _at_most(MAX_CONTRACTS * COUNT_SCALE, f"{MAX_CONTRACTS:,} contracts")]
_LimitDollars = Annotated[Dollars, _at_most(MAX_DOLLARS * MONEY_SCALE, f"${MAX_DOLLARS:,}")]
_LimitOrders = Annotated[Number[int], _at_most(MAX_ORDERS_PER_MINUTE, f"{MAX_ORDERS_PER_MINUTE:,}")]


def _split_list(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


_TICKER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_MODEL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")  # the registry's id syntax
_PREFIX = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,31}")
_TOKEN_CHARS = re.compile(r"[A-Za-z0-9._~-]+")  # RFC 6455 subprotocols are tokens; these are safe in any header
_LABEL = r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?"
_ORIGIN = re.compile(rf"(https?)://({_LABEL}(?:\.{_LABEL})*|\[[0-9a-f:.]+\])(?::([0-9]{{1,5}}))?/?")
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _bearer_token(value: SecretStr | None) -> SecretStr | None:
    """Stripped once, here: a Secret from a file ends in a newline, and the HTTP header never does."""
    if value is None:
        return None
    token = value.get_secret_value().strip()
    if len(token) < 16:
        raise ValueError("too short: use at least 16 random characters (e.g. `openssl rand -hex 32`)")
    return SecretStr(token)


def _origin(text: str) -> str | None:
    """``"https://Dash.Example:443/"`` -> ``"https://dash.example"`` (as a browser's Origin header says it); None if
    it is not an origin."""
    match = _ORIGIN.fullmatch(text.strip().lower())
    if match is None:
        return None
    scheme, host, port = match.groups()
    if port is None or int(port) == _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{int(port)}" if 0 < int(port) < 65536 else None


# --- the model ---------------------------------------------------------------------------------


class RiskLimits(BaseModel):
    """Risk limits. Given in contracts and dollars; attributes in hundredths and micros."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)

    # defaults are inputs (contracts, dollars), validated like any other value
    max_position: _LimitContracts = Field(100, gt=0, description="per market, contracts (either side); "
                                                                 f"at most {MAX_CONTRACTS:,}")
    max_exposure: _LimitDollars = Field(1_000, gt=0, description="total cost of open positions and resting orders, "
                                                                 f"dollars; at most {MAX_DOLLARS:,}")
    max_orders_per_minute: _LimitOrders = Field(600, ge=1, description="order creates, amends and cancels; "
                                                                       f"at most {MAX_ORDERS_PER_MINUTE:,}")
    max_loss_session: _LimitDollars = Field(200, gt=0, description="net P&L drop since the actor started, dollars; "
                                                                   f"at most {MAX_DOLLARS:,}")
    max_loss_daily: _LimitDollars = Field(500, gt=0, description="net P&L drop since 00:00 UTC, dollars; "
                                                                 f"at most {MAX_DOLLARS:,}")


class ActorConfig(BaseModel):
    """The whole configuration of one actor (immutable: a change makes a new object).

    Money attributes are int micros and counts int hundredths (inputs are dollars and
    contracts). ``rest_url``/``ws_url`` default to Kalshi's hosts for ``demo`` and
    ``production``; ``sim`` has no default. Construct with :func:`load_config` (env + file)
    or ``ActorConfig.model_validate(mapping)``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)

    name: str = Field("kalshi-actor", min_length=1, max_length=63)
    model_id: str = Field("", description="registry model id; empty = the registry's latest")
    market_mode: Literal["discovery", "tickers"] = "discovery"
    market_tickers: Annotated[tuple[str, ...], BeforeValidator(_split_list)] = ()
    market_limit: Number[int] = Field(100, ge=1, le=1000)
    tick_interval: Number[float] = Field(1.0, ge=0.0, le=3600.0, allow_inf_nan=False,
                                         description="seconds between decisions; 0 = decide on every book change")
    initial_cash: Dollars = Field(10_000, ge=0, description="the simulator account's cash, dollars")
    environment: Literal["sim", "demo", "production"] = "sim"
    allow_production: Flag = False
    rest_url: str | None = None
    ws_url: str | None = None
    api_key_id: str = ""
    private_key: SecretStr | None = Field(None, description="PEM text")
    private_key_file: Path | None = None
    risk: RiskLimits = Field(default_factory=RiskLimits)
    paused: Flag = False
    registry: Path = Field(default_factory=default_root, description="the model registry's directory")
    admin_token: SecretStr | None = Field(None, description="bearer token of POST /rl/actor/config; none = "
                                                            "the endpoint is disabled")
    viewer_token: SecretStr | None = Field(None, description="bearer token of the web view and the event stream "
                                                             "(letters, digits, '-', '_', '.', '~')")
    allowed_origins: Annotated[tuple[str, ...], BeforeValidator(_split_list)] = Field(
        (), description="browser origins (http(s)://host[:port]) allowed to open the event stream besides the "
                        "page's own")
    client_order_prefix: str = "ka-"
    log_format: Literal["text", "json"] = "text"
    config_file: Path | None = Field(None, description="the file this config was read from (watched for changes); "
                                                        "only from RL_ACTOR_CONFIG_FILE")

    # --- per-field checks (messages never repeat a secret) ---

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?", value):
            raise ValueError("letters, digits, '.', '_' and '-' only, starting and ending with a letter or digit")
        return value

    @field_validator("model_id")
    @classmethod
    def _model_id(cls, value: str) -> str:
        value = value.strip()
        if value and not _MODEL_ID.fullmatch(value):
            raise ValueError(f"not a registry model id: {value[:64]!r}")
        return value

    @field_validator("market_tickers")
    @classmethod
    def _tickers(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [t for t in value if not _TICKER.fullmatch(t)]
        if bad:
            raise ValueError(f"not market tickers: {', '.join(repr(t[:64]) for t in bad[:5])}")
        return tuple(dict.fromkeys(value))  # de-duplicated, order kept

    @field_validator("rest_url", "ws_url", mode="before")
    @classmethod
    def _blank_url(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("rest_url")
    @classmethod
    def _rest_url(cls, value: str | None) -> str | None:
        return _check_url(value, ("http", "https"))

    @field_validator("ws_url")
    @classmethod
    def _ws_url(cls, value: str | None) -> str | None:
        return _check_url(value, ("ws", "wss"))

    @field_validator("api_key_id")
    @classmethod
    def _key_id(cls, value: str) -> str:
        value = value.strip()
        if value and not re.fullmatch(r"[A-Za-z0-9._-]{1,128}", value):
            raise ValueError("not an API key id (letters, digits, '.', '_', '-')")
        return value

    @field_validator("private_key", mode="before")
    @classmethod
    def _pem_text(cls, value: Any) -> Any:
        if isinstance(value, str):
            if "\\n" in value and "\n" not in value:  # a PEM flattened into one line with literal \n
                value = value.replace("\\n", "\n")
            return value.strip() or None
        return value

    @field_validator("admin_token")
    @classmethod
    def _admin_token(cls, value: SecretStr | None) -> SecretStr | None:
        return _bearer_token(value)

    @field_validator("viewer_token")
    @classmethod
    def _viewer_token(cls, value: SecretStr | None) -> SecretStr | None:
        value = _bearer_token(value)
        if value is not None and not _TOKEN_CHARS.fullmatch(value.get_secret_value()):
            raise ValueError("letters, digits, '-', '_', '.' and '~' only (it travels in a WebSocket subprotocol)")
        return value

    @field_validator("allowed_origins")
    @classmethod
    def _origins(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        origins = [_origin(text) for text in value]
        bad = [text for text, origin in zip(value, origins) if origin is None]
        if bad:
            raise ValueError("expected origins as http(s)://host[:port] with no path, got "
                             + ", ".join(repr(text[:100]) for text in bad[:5]))
        return tuple(dict.fromkeys(origins))  # de-duplicated, order kept

    @field_validator("client_order_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if not _PREFIX.fullmatch(value):
            raise ValueError("1-32 characters: letters, digits, '_' and '-', starting with a letter or digit")
        return value

    @model_validator(mode="before")
    @classmethod
    def _default_hosts(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            env = data.get("environment", "sim")
            hosts = {"demo": (rest.DEMO_URL, ws.DEMO_URL), "production": (rest.PRODUCTION_URL, ws.PRODUCTION_URL)}
            if env in hosts:
                data = dict(data)
                for key, url in zip(("rest_url", "ws_url"), hosts[env]):
                    if not (isinstance(data.get(key), str) and data[key].strip()):
                        data[key] = url
        return data

    @model_validator(mode="after")
    def _cross_checks(self) -> ActorConfig:
        problems = _cross_problems(self)
        if problems:
            raise _CrossCheckFailed(problems)
        return self

    # --- views ---

    def public_dict(self) -> dict[str, Any]:
        """JSON-able, human units, secrets masked (``"**********"`` when set, None when not)."""
        return self.model_dump(mode="json")

    def hot_dict(self) -> dict[str, Any]:
        """The hot fields, as :meth:`public_dict` (what an operator confirms after a change)."""
        dump = self.public_dict()
        return {name: dump[name] for name in sorted(HOT_FIELDS)}

    def private_key_pem(self) -> str | None:
        """The private key's PEM text (from ``private_key`` or read from ``private_key_file``)."""
        if self.private_key is not None:
            return self.private_key.get_secret_value()
        if self.private_key_file is not None:
            return self.private_key_file.read_text()
        return None


class _CrossCheckFailed(Exception):
    """Cross-field problems by field name. Not a ValueError, so pydantic lets it through unwrapped
    (it would fold a ValueError into one field-less error); :func:`_validate` turns it into a ConfigError."""

    def __init__(self, problems: dict[str, str]) -> None:
        super().__init__("cross-field problems")
        self.problems = problems


def _cross_problems(config: ActorConfig) -> dict[str, str]:
    problems: dict[str, str] = {}
    if config.environment == "production" and not config.allow_production:
        problems["environment"] = ("production trades real money: set allow_production "
                                   f"({_env_name('allow_production')}=true) to confirm")
    if config.environment == "sim":
        for key, example in (("rest_url", "http://127.0.0.1:8001/trade-api/v2"),
                             ("ws_url", "ws://127.0.0.1:8001/trade-api/ws/v2")):
            if getattr(config, key) is None:
                problems[key] = f"required for the simulator (its address, e.g. {example})"
    if config.market_mode == "tickers":
        if not config.market_tickers:
            problems["market_tickers"] = "required when market_mode is 'tickers' (a comma-separated list)"
        elif len(config.market_tickers) > config.market_limit:
            problems["market_tickers"] = (f"{len(config.market_tickers)} tickers but market_limit is "
                                          f"{config.market_limit}")
    if not config.api_key_id:
        problems["api_key_id"] = "required (the exchange API key id; each key id is an account in the simulator)"
    if config.private_key is None and config.private_key_file is None:
        problems["private_key"] = f"required: the PEM text, or a file in {_env_name('private_key_file')}"
    elif config.private_key is not None and config.private_key_file is not None:
        problems["private_key"] = f"give the key once: either the PEM text or {_env_name('private_key_file')}"
    return problems


def _check_url(value: str | None, schemes: tuple[str, ...]) -> str | None:
    if value is None:
        return None
    value = value.strip()
    scheme, sep, rest_ = value.partition("://")
    if not sep or scheme.lower() not in schemes or not rest_ or rest_.startswith("/"):
        raise ValueError(f"expected a {' or '.join(s + '://' for s in schemes)} URL, got {value[:200]!r}")
    return value.rstrip("/")


# --- names and environment variables ------------------------------------------------------------


def _field_names() -> list[str]:
    return [*ActorConfig.model_fields, *(f"risk.{name}" for name in RiskLimits.model_fields)]


def _env_name(name: str) -> str:
    """``"risk.max_exposure"`` -> ``"RL_ACTOR_RISK_MAX_EXPOSURE"``."""
    return ENV_PREFIX + name.replace(".", "_").upper()


ENV_VARS: dict[str, str] = {name: _env_name(name) for name in _field_names() if name != "risk"}
"""Field (dotted for risk limits) -> its environment variable."""
_FIELD_OF_ENV = {env: name for name, env in ENV_VARS.items()}


def _from_env(environ: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """The settings given by ``RL_ACTOR_*`` variables (nested for risk), and problems (unknown variables)."""
    data: dict[str, Any] = {}
    problems: dict[str, str] = {}
    for env, value in environ.items():
        if not env.startswith(ENV_PREFIX) or env == CONFIG_FILE_ENV:
            continue
        name = _FIELD_OF_ENV.get(env)
        if name is None:
            close = difflib.get_close_matches(env, [*_FIELD_OF_ENV, CONFIG_FILE_ENV], n=1)
            problems[env] = "unknown setting" + (f" (did you mean {close[0]}?)" if close else "")
            continue
        if value.strip() == "":
            continue  # an empty variable counts as unset
        if name.startswith("risk."):
            data.setdefault("risk", {})[name[5:]] = value
        else:
            data[name] = value
    return data, problems


# --- building a config from raw data, with every problem named ------------------------------------


def _validate(data: Mapping[str, Any]) -> ActorConfig:
    """Validate raw settings; raise one ConfigError naming every bad field."""
    try:
        return ActorConfig.model_validate(dict(data))
    except _CrossCheckFailed as exc:
        raise ConfigError(exc.problems) from None
    except ValidationError as exc:
        problems = _pydantic_problems(exc, data)
    # The cross-field rules, checked over what did validate (bad fields fall back to their defaults),
    # so one error lists everything; a rule about a field already reported adds nothing.
    top_bad = {name.split(".")[0] for name in problems}
    try:
        ActorConfig.model_validate({k: v for k, v in data.items() if k not in top_bad})
    except _CrossCheckFailed as exc:
        problems.update({k: v for k, v in exc.problems.items() if k.split(".")[0] not in top_bad})
    except ValidationError:
        pass
    raise ConfigError(problems) from None


def _pydantic_problems(exc: ValidationError, data: Mapping[str, Any]) -> dict[str, str]:
    problems: dict[str, str] = {}
    for error in exc.errors(include_url=False, include_input=False):
        loc = [str(part) for part in error["loc"]]
        name = ".".join(loc[:2]) if loc[:1] == ["risk"] and len(loc) > 1 else (loc[0] if loc else "config")
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown field"
        elif name.split(".")[0] not in _SECRET_FIELDS and error["type"] not in ("model_type", "dict_type"):
            value = _lookup(data, name)
            if value is not _MISSING and "got " not in message:
                message = f"{message} (got {_short(value)})"
        problems.setdefault(name, message)
    return problems


_MISSING = object()


def _lookup(data: Mapping[str, Any], name: str) -> Any:
    head, _, tail = name.partition(".")
    value = data.get(head, _MISSING) if isinstance(data, Mapping) else _MISSING
    if tail:
        return value.get(tail, _MISSING) if isinstance(value, Mapping) else _MISSING
    return value


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def read_config_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Parse a config file: JSON for ``.json``, YAML otherwise (JSON is valid YAML too). Top level: a mapping.

    Raises :class:`ConfigError` (field ``config_file``) when it cannot be read or parsed.
    """
    path = Path(path)
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise ConfigError({"config_file": f"cannot read {path}: {exc.strerror or exc}"}) from None
    return _parse_config_text(text, path)


def _parse_config_text(text: bytes, path: Path) -> dict[str, Any]:
    try:
        if path.suffix.lower() == ".json":
            data = orjson.loads(text) if text.strip() else {}
        else:
            import yaml  # lazily: only YAML files need PyYAML

            data = yaml.safe_load(text) or {}
    except Exception as exc:  # noqa: BLE001 - any parse error is the file's problem, reported as such
        raise ConfigError({"config_file": f"cannot parse {path}: {_first_line(exc)}"}) from None
    if not isinstance(data, dict):
        raise ConfigError({"config_file": f"{path}: expected a mapping of field names, got {type(data).__name__}"})
    if "config_file" in data:
        raise ConfigError({"config_file": f"{path}: a config file cannot name another config file"})
    return data


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]


def load_config(environ: Mapping[str, str] | None = None) -> ActorConfig:
    """The configuration from the environment and ``RL_ACTOR_CONFIG_FILE`` (environment wins).

    Checks also what needs I/O: the config file parses and the private key loads. Raises one
    :class:`ConfigError` listing every problem.
    """
    environ = os.environ if environ is None else environ
    env_data, problems = _from_env(environ)
    file_data: dict[str, Any] = {}
    file_name = (environ.get(CONFIG_FILE_ENV) or "").strip()
    if file_name:
        try:
            file_data = read_config_file(file_name)
        except ConfigError as exc:
            problems.update(exc.problems)
    data = _merge(file_data, env_data)
    if file_name:
        data["config_file"] = file_name
    try:
        config = _validate(data)
    except ConfigError as exc:
        raise ConfigError({**problems, **exc.problems}) from None
    if problems:
        raise ConfigError(problems)
    _check_private_key(config)
    return config


def _merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """``over`` wins; ``risk`` merges key by key."""
    merged = dict(base)
    for key, value in over.items():
        if key == "risk" and isinstance(value, Mapping) and isinstance(merged.get("risk"), Mapping):
            merged["risk"] = {**merged["risk"], **value}
        else:
            merged[key] = value
    return merged


def _check_private_key(config: ActorConfig) -> None:
    name = "private_key" if config.private_key is not None else "private_key_file"
    try:
        pem = config.private_key_pem()
    except OSError as exc:
        raise ConfigError({name: f"cannot read {config.private_key_file}: {exc.strerror or exc}"}) from None
    try:
        load_private_key(pem or "")
    except KeyLoadError as exc:  # its message never contains key material
        raise ConfigError({name: str(exc)}) from None


# --- live changes --------------------------------------------------------------------------------


def unknown_fields(changes: Mapping[str, Any]) -> list[str]:
    """Names in ``changes`` that are not configuration fields (``risk.*`` checked too)."""
    unknown = [key for key in changes if key not in ActorConfig.model_fields or key == "config_file"]
    risk = changes.get("risk")
    if isinstance(risk, Mapping):
        unknown += [f"risk.{key}" for key in risk if key not in RiskLimits.model_fields]
    return unknown


@dataclass(frozen=True)
class ConfigChange:
    """The outcome of :func:`apply_changes`: the new config, what changed and what was refused.

    ``applied`` maps each changed field to its new value (public JSON form); ``refused`` maps
    a field to why it was not changed. A field given with its current value is in neither.
    """

    config: ActorConfig
    applied: dict[str, Any] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)
    previous: ActorConfig | None = None

    @property
    def ok(self) -> bool:
        return not self.refused

    def refuse(self, name: str, reason: str) -> ConfigChange:
        """Undo one applied field (e.g. the model failed to load): its previous value comes back."""
        if name not in self.applied or self.previous is None:
            return ConfigChange(self.config, dict(self.applied), {**self.refused, name: reason}, self.previous)
        config = self.config.model_copy(update={name: getattr(self.previous, name)})  # both validated
        applied = {k: v for k, v in self.applied.items() if k != name}
        return ConfigChange(config, applied, {**self.refused, name: reason}, self.previous)

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "applied": self.applied, "refused": self.refused}


def apply_changes(current: ActorConfig, changes: Mapping[str, Any]) -> ConfigChange:
    """Decide a change of configuration: hot fields that validate are applied, the rest refused.

    ``changes`` maps field names to raw values (as in the file or a JSON body); ``risk`` may
    be partial (it merges into the current limits). Cold fields whose value differs are
    refused with ``"needs a restart"``. Values are validated together (``market_mode`` with
    ``market_tickers``); a field whose value is invalid is refused with the reason and the
    others still apply. Raises :class:`ConfigError` when a name is not a field at all.
    Pure: the caller swaps the config in (the actor, after its side effects such as a
    model reload, which may still :meth:`ConfigChange.refuse` a field).
    """
    unknown = unknown_fields(changes)
    if unknown:
        raise ConfigError({name: "unknown field" for name in unknown}, title="unknown configuration fields")
    base = _input_of(current)
    refused: dict[str, str] = {}
    pending: dict[str, Any] = {}
    for name, value in changes.items():
        if name == "risk" and isinstance(value, Mapping):
            value = {**base["risk"], **value}
        if name in HOT_FIELDS:
            pending[name] = value
            continue
        try:  # a cold field given with its current value is not a change
            same = getattr(_validate({**base, name: value}), name) == getattr(current, name)
        except ConfigError:
            same = False
        if not same:
            refused[name] = _RESTART
    new = current
    while pending:
        try:
            new = _validate({**base, **pending})
            break
        except ConfigError as exc:
            bad = {key.split(".")[0] for key in exc.problems}
            everything = "; ".join(f"{key}: {why}" for key, why in exc.problems.items())
            for name in [name for name in pending if name in bad] or list(pending):
                reasons = [why if key == name else f"{key}: {why}"
                           for key, why in exc.problems.items() if key.split(".")[0] == name]
                refused[name] = "; ".join(reasons) or everything
                del pending[name]
    public = new.public_dict()
    applied = {name: public[name] for name in pending if getattr(new, name) != getattr(current, name)}
    return ConfigChange(new, applied, refused, current)


def _input_of(config: ActorConfig) -> dict[str, Any]:
    """A config as validatable input (secrets in clear: internal use only, never logged)."""
    data = config.model_dump(mode="json")
    for name in _SECRET_FIELDS:
        secret = getattr(config, name)
        data[name] = secret.get_secret_value() if secret is not None else None
    return data


# --- the config file watcher ---------------------------------------------------------------------


Apply = Callable[[dict[str, Any]], Awaitable[ConfigChange]]


class ConfigFileWatcher:
    """Polls a config file (every ``interval`` seconds) and applies what changed in it.

    Compares the file's bytes (sha256), so a ConfigMap update (kubelet swaps a symlink) and
    an in-place edit are both seen. Only the fields whose value differs from the previous
    version of the file are passed to ``apply`` (the actor's own apply, the same path as the
    admin endpoint), so a change made through the admin endpoint is not undone by an
    unrelated edit. A key removed from the file goes back to its default. Fields that an
    environment variable sets are refused (the variable overrides the file). A file that
    cannot be parsed, or names unknown fields, changes nothing and is reported.

    ``last`` holds the outcome of the latest change (``None`` until one); ``last_error`` the
    latest problem with the file, cleared by the next good version.
    """

    def __init__(self, path: str | os.PathLike[str], apply: Apply, *, environ: Mapping[str, str] | None = None,
                 interval: float = 1.0) -> None:
        self.path = Path(path)
        self.interval = interval
        self.last: ConfigChange | None = None
        self.last_error: str | None = None
        self._apply = apply
        self._env, _ = _from_env(os.environ if environ is None else environ)
        self._digest: str | None = None
        self._data: dict[str, Any] = {}
        self._task: asyncio.Task[None] | None = None
        self._prime()

    def _prime(self) -> None:
        """Remember the file as it is now (the actor started with it)."""
        try:
            raw = self.path.read_bytes()
            self._data = _parse_config_text(raw, self.path)
            self._digest = hashlib.sha256(raw).hexdigest()
        except (OSError, ConfigError):
            self._digest = None  # the first readable version will be compared with an empty file

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="config-file-watcher")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.check()
            except Exception:
                log.exception("config file watcher: checking %s failed", self.path)

    async def check(self) -> ConfigChange | None:
        """Poll once; apply and return the change when the file's content changed, else None."""
        try:
            raw = await asyncio.to_thread(self.path.read_bytes)
        except FileNotFoundError:
            return None  # between a ConfigMap's symlink swaps, or deleted: keep what runs
        except OSError as exc:
            self._problem(f"cannot read {self.path}: {exc.strerror or exc}")
            return None
        digest = hashlib.sha256(raw).hexdigest()
        if digest == self._digest:
            return None
        self._digest = digest
        try:
            data = _parse_config_text(raw, self.path)
            unknown = unknown_fields(data)
            if unknown:
                raise ConfigError({name: "unknown field" for name in unknown})
        except ConfigError as exc:
            self._problem("; ".join(f"{k}: {v}" for k, v in exc.problems.items()))
            return None
        changes, shadowed = self._diff(self._data, data)
        self._data = data
        self.last_error = None
        if not changes and not shadowed:
            return None
        change = await self._apply(changes)  # even when empty: the reply carries the running config
        change = ConfigChange(change.config, change.applied, {**change.refused, **shadowed}, change.previous)
        self.last = change
        log.info("config file %s changed: applied %s, refused %s", self.path, sorted(change.applied),
                 change.refused or "nothing")
        return change

    def _problem(self, message: str) -> None:
        self.last_error = message
        log.error("config file %s not applied: %s", self.path, message)

    def _diff(self, old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
        """The changed keys (removed keys -> defaults), minus those an environment variable overrides."""
        changes: dict[str, Any] = {}
        shadowed: dict[str, str] = {}
        for name in sorted(set(old) | set(new)):
            if name == "risk":
                continue
            before, after = old.get(name, _MISSING), new.get(name, _MISSING)
            if before == after:
                continue
            if name in self._env:
                shadowed[name] = f"set by {_env_name(name)}, which overrides the file"
            else:
                changes[name] = _default_input(name) if after is _MISSING else after
        old_risk, new_risk = old.get("risk") or {}, new.get("risk") or {}
        if not isinstance(new_risk, Mapping):
            changes["risk"] = new_risk  # refused by validation with the reason
        elif isinstance(old_risk, Mapping):
            env_risk = self._env.get("risk", {})
            risk: dict[str, Any] = {}
            for key in sorted(set(old_risk) | set(new_risk)):
                before, after = old_risk.get(key, _MISSING), new_risk.get(key, _MISSING)
                if before == after:
                    continue
                if key in env_risk:
                    shadowed[f"risk.{key}"] = f"set by {_env_name('risk.' + key)}, which overrides the file"
                else:
                    risk[key] = _default_risk_input(key) if after is _MISSING else after
            if risk:
                changes["risk"] = risk
        return changes, shadowed


def _default_input(name: str) -> Any:
    info = ActorConfig.model_fields[name]
    value = info.get_default(call_default_factory=True)
    if name == "risk":
        return value.model_dump(mode="json")
    return str(value) if isinstance(value, Path) else value


def _default_risk_input(name: str) -> Any:
    return RiskLimits().model_dump(mode="json")[name]


# --- logging -------------------------------------------------------------------------------------


class _JsonFormatter(logging.Formatter):
    """One JSON object per line: ts (ISO 8601 UTC), level, logger, message, and any ``extra`` fields."""

    _STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in self._STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(log_format: Literal["text", "json"] = "text", level: int | str = logging.INFO) -> None:
    """Root logging to stderr: one line per event, plain text or JSON (``log_format``)."""
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request drowns the actor's own events
