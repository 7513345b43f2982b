"""The operator's spec validation against the CRD's schema and the actor: strict types, the risk limits' maxima.

The same rule holds in three places (``spec.py``, the CRD's OpenAPI schema, the actor's config); each test
checks them all, so one cannot drift from the others.
"""

from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest
import yaml

from kalshi_actor.actor import config as actor_config
from kalshi_actor.actor.config import ActorConfig, apply_changes
from kalshi_operator.spec import RISK_MAXIMA, SpecError, parse_spec

CRD = Path(__file__).resolve().parents[1] / "crds" / "kalshiactor.yaml"
ACTOR = ActorConfig.model_validate({"api_key_id": "k-1", "private_key_file": "/key.pem", "environment": "sim",
                                    "rest_url": "http://x/trade-api/v2", "ws_url": "ws://x/ws"})


def _schema() -> dict:
    (version,) = yaml.safe_load(CRD.read_text())["spec"]["versions"]
    return version["schema"]["openAPIV3Schema"]


def _crd_errors(spec: dict) -> list:
    body = {"apiVersion": "trading.kalshiflow.io/v1alpha1", "kind": "KalshiActor", "metadata": {"name": "x"},
            "spec": spec}
    return list(jsonschema.Draft7Validator(_schema()).iter_errors(body))


def _problems(spec: dict) -> dict[str, str]:
    with pytest.raises(SpecError) as info:
        parse_spec("x", spec)
    return info.value.problems


# --- strict types ---


@pytest.mark.parametrize(("spec", "path"), [
    ({"tickInterval": True}, "spec.tickInterval"),
    ({"tickInterval": False}, "spec.tickInterval"),
    ({"marketLimit": True}, "spec.marketLimit"),
    ({"initialCash": True}, "spec.initialCash"),
    ({"risk": {"maxOrdersPerMinute": True}}, "spec.risk.maxOrdersPerMinute"),
    ({"risk": {"maxExposure": True}}, "spec.risk.maxExposure"),
    ({"risk": {"maxPosition": False}}, "spec.risk.maxPosition"),
    ({"paused": 1}, "spec.paused"),
    ({"paused": 0}, "spec.paused"),
    ({"allowProduction": 1}, "spec.allowProduction"),
    # false is not "unset" either: a falsy value of the wrong type is refused, not defaulted
    ({"modelId": False}, "spec.modelId"),
    ({"marketTickers": False}, "spec.marketTickers"),
    ({"risk": False}, "spec.risk"),
    ({"exchange": False}, "spec.exchange"),
], ids=str)
def test_a_boolean_is_never_a_number_nor_a_number_a_boolean(spec: dict, path: str) -> None:
    assert path in _problems(spec)
    assert _crd_errors(spec), f"the CRD admits {spec}"


# --- the risk limits' maxima ---


def test_the_maxima_are_the_actors_and_the_crds() -> None:
    actor = {"maxPosition": actor_config.MAX_CONTRACTS, "maxExposure": actor_config.MAX_DOLLARS,
             "maxOrdersPerMinute": actor_config.MAX_ORDERS_PER_MINUTE, "maxLossSession": actor_config.MAX_DOLLARS,
             "maxLossDaily": actor_config.MAX_DOLLARS}
    assert RISK_MAXIMA == actor
    risk = _schema()["properties"]["spec"]["properties"]["risk"]["properties"]
    assert {key: schema["maximum"] for key, schema in risk.items()} == RISK_MAXIMA
    for key, schema in risk.items():
        assert f"{RISK_MAXIMA[key]:,}" in schema["description"], key


AT_MOST = [
    ("maxPosition", "1000000"), ("maxPosition", "1000000.00"), ("maxPosition", 1_000_000),
    ("maxPosition", "999999.99"), ("maxPosition", "0.01"),
    ("maxExposure", "10000000"), ("maxExposure", "10000000.000000"), ("maxExposure", 10_000_000),
    ("maxExposure", "9999999.999999"),
    ("maxLossSession", "10000000.0"), ("maxLossDaily", 10_000_000),
    ("maxOrdersPerMinute", 60_000),
]
OVER = [
    ("maxPosition", "1000000.01"), ("maxPosition", 1_000_001), ("maxPosition", "1e15"), ("maxPosition", 10**15),
    ("maxPosition", "10000000"),
    ("maxExposure", "10000000.000001"), ("maxExposure", 10_000_001), ("maxExposure", "1e30"), ("maxExposure", 10**30),
    ("maxExposure", "99999999"), ("maxExposure", "10000001"),
    ("maxLossSession", "10000000.1"), ("maxLossDaily", 10_000_001),
    ("maxOrdersPerMinute", 60_001),
]


@pytest.mark.parametrize(("key", "value"), AT_MOST, ids=str)
def test_a_risk_limit_at_its_maximum_is_accepted_everywhere(key: str, value) -> None:
    spec = parse_spec("x", {"risk": {key: value}})
    assert not _crd_errors({"risk": {key: value}})
    assert apply_changes(ACTOR, spec.hot_config()).ok  # and the actor takes what the operator pushes


@pytest.mark.parametrize(("key", "value"), OVER, ids=str)
def test_a_risk_limit_over_its_maximum_is_refused_everywhere(key: str, value) -> None:
    assert f"spec.risk.{key}" in _problems({"risk": {key: value}})
    assert _crd_errors({"risk": {key: value}}), f"the CRD admits {key}: {value!r}"
    name = {"maxPosition": "max_position", "maxExposure": "max_exposure", "maxOrdersPerMinute": "max_orders_per_minute",
            "maxLossSession": "max_loss_session", "maxLossDaily": "max_loss_daily"}[key]
    assert "risk" in apply_changes(ACTOR, {"risk": {name: value}}).refused


def test_the_maximum_is_named() -> None:
    assert _problems({"risk": {"maxExposure": "10000001"}})["spec.risk.maxExposure"].startswith("at most 10,000,000")
    assert _problems({"risk": {"maxPosition": 1e15}})["spec.risk.maxPosition"].startswith("at most 1,000,000")
    assert "to 60000" in _problems({"risk": {"maxOrdersPerMinute": 60_001}})["spec.risk.maxOrdersPerMinute"]


@pytest.mark.parametrize("value", ["1e3", "1E+2", "$5", " ", ".5", "5.", "-1", "NaN", "Infinity"])
def test_an_amount_is_a_plain_decimal_as_the_crd_says(value: str) -> None:
    assert "spec.risk.maxExposure" in _problems({"risk": {"maxExposure": value}})
    assert _crd_errors({"risk": {"maxExposure": value}})
