"""The operator's pure parts, without any cluster: spec defaults and validation, the builders, status."""

from __future__ import annotations

import importlib.metadata

import pytest
import yaml

from kalshi_actor.actor.config import HOT_FIELDS, ActorConfig, apply_changes
from kalshi_operator import builders
from kalshi_operator.actor_client import Health, same_config
from kalshi_operator.apply import merge_diff
from kalshi_operator.spec import HOT_FIELDS as SPEC_HOT_FIELDS
from kalshi_operator.spec import SpecError, actor_field, parse_spec
from kalshi_operator.status import from_health

OWNER = {"metadata": {"name": "a1", "uid": "u-1"}}
KEY = {"api_key_id": "k-1", "private_key_file": "/var/run/kalshi-actor/credentials/private-key.pem"}  # from env
SIM = {"exchange": {"restUrl": "http://sim:8001/trade-api/v2", "wsUrl": "ws://sim:8001/trade-api/ws/v2"},
       "credentialsSecretRef": {"name": "sim-key"}}


def test_the_operator_distribution_needs_neither_torch_nor_the_actor() -> None:
    requires = importlib.metadata.requires("kalshi-actor-operator") or []
    names = {r.split("==")[0].split(">")[0].split("<")[0].strip().lower() for r in requires}
    assert names and not names & {"torch", "kalshi-actor", "stable-baselines3", "numpy"}
    assert all("==" in r for r in requires), "pin every runtime dependency"


def test_hot_fields_match_the_actors() -> None:
    assert {actor_field(f) for f in SPEC_HOT_FIELDS} == set(HOT_FIELDS)


def test_defaults_and_the_config_file_is_a_valid_actor_config() -> None:
    spec = parse_spec("a1", {"registry": {"claimName": "models", "path": "team"}})
    assert (spec.market_limit, spec.tick_interval, spec.environment, spec.builtin_simulator) == (100, 1.0, "sim", True)
    document = yaml.safe_load(builders.config_map(spec, "ns", OWNER)["data"]["config.yaml"])
    # the actor's own validation (``run --sim`` adds the built-in simulator's URLs and key through the environment)
    config = ActorConfig.model_validate({**document, **KEY, "rest_url": "http://127.0.0.1:1/trade-api/v2",
                                         "ws_url": "ws://127.0.0.1:1/trade-api/ws/v2"})
    assert config.registry.as_posix() == "/var/lib/kalshi-actor/models/team" and config.log_format == "json"
    assert config.risk.max_exposure == 1000 * 1_000_000


def test_the_pushed_hot_config_is_accepted_by_the_actor() -> None:
    spec = parse_spec("a1", {**SIM, "modelId": "m-2", "marketLimit": 7, "tickInterval": 0.5, "paused": True,
                             "risk": {"maxPosition": 2.5, "maxExposure": "12.50"}})
    base = ActorConfig.model_validate({**KEY, "environment": "sim", "rest_url": "http://x/trade-api/v2",
                                       "ws_url": "ws://x/ws"})
    change = apply_changes(base, spec.hot_config())
    assert change.ok and change.config.model_id == "m-2" and change.config.risk.max_position == 250
    assert same_config(spec.hot_config(), change.config.hot_dict()) == {}  # the confirmation compares equal
    assert same_config(spec.hot_config(), base.hot_dict()).keys() == {"model_id", "market_limit", "tick_interval",
                                                                      "paused", "risk"}


def test_hot_changes_keep_the_pod_template_and_cold_changes_roll_it() -> None:
    def template(**changes):
        spec = parse_spec("a1", {**SIM, **changes})
        return builders.deployment(spec, "ns", OWNER, default_image="x/actor:1")["spec"]["template"]

    base = template()
    for hot in ({"modelId": "m-9"}, {"marketLimit": 3}, {"tickInterval": 2.0}, {"paused": True},
                {"risk": {"maxExposure": "5"}}, {"marketMode": "tickers", "marketTickers": ["T-1"]}):
        assert template(**hot) == base, hot
    for cold in ({"image": "x/actor:2"}, {"environment": "demo"}, {"initialCash": "50"},
                 {"resources": {"requests": {"cpu": "1"}}}, {"registry": {"claimName": "other"}},
                 {"credentialsSecretRef": {"name": "other-key"}}):
        assert template(**cold) != base, cold


def test_the_deployment_is_safe_to_trade_with() -> None:
    spec = parse_spec("a1", {**SIM, "registry": {"claimName": "models"}})
    deployment = builders.deployment(spec, "ns", OWNER, default_image="x/actor:1")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert deployment["spec"]["replicas"] == 1 and deployment["spec"]["strategy"] == {"type": "Recreate"}
    assert container["securityContext"]["readOnlyRootFilesystem"] and pod["securityContext"]["runAsNonRoot"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/rl/actor/health"
    assert container["livenessProbe"]["httpGet"]["path"] == "/rl/actor/health?probe=live"
    assert pod["terminationGracePeriodSeconds"] > 20  # the actor's order-cancelling budget
    env = {var["name"] for var in container["env"]}
    assert not any(name.startswith("RL_ACTOR_") and name[9:].lower() in HOT_FIELDS for name in env), \
        "a hot field set by the environment would override the config file"
    secret_env = [var for var in container["env"] if "valueFrom" in var]
    assert {var["name"] for var in secret_env} == {"RL_ACTOR_ADMIN_TOKEN", "RL_ACTOR_API_KEY_ID"}
    assert deployment["metadata"]["ownerReferences"][0] == {
        "apiVersion": "trading.kalshiflow.io/v1alpha1", "kind": "KalshiActor", "name": "a1", "uid": "u-1",
        "controller": True, "blockOwnerDeletion": True}
    service = builders.service("a1", "ns", OWNER)
    assert service["spec"]["publishNotReadyAddresses"] and service["spec"]["selector"] == \
        deployment["spec"]["selector"]["matchLabels"]
    monitor = builders.pod_monitor("a1", "ns", OWNER)
    assert monitor["spec"]["selector"]["matchLabels"] == service["spec"]["selector"]


def test_builtin_simulator_runs_without_credentials() -> None:
    spec = parse_spec("a1", {})
    container = builders.deployment(spec, "ns", OWNER, default_image="x")["spec"]["template"]["spec"]["containers"][0]
    assert container["args"][-1] == "--sim" and "RL_ACTOR_API_KEY_ID" not in str(container["env"])


@pytest.mark.parametrize(("spec", "path"), [
    ({"environment": "production", "credentialsSecretRef": {"name": "k"}}, "spec.environment"),
    ({"environment": "demo"}, "spec.credentialsSecretRef"),
    ({"marketMode": "tickers"}, "spec.marketTickers"),
    ({"marketLimit": 1001}, "spec.marketLimit"),
    ({"tickInterval": "1s"}, "spec.tickInterval"),
    ({"risk": {"maxExposure": 0}}, "spec.risk.maxExposure"),
    ({"risk": {"maxPositon": 5}}, "spec.risk.maxPositon"),
    ({"modelld": "x"}, "spec.modelld"),
    ({"registry": {"claimName": "m", "path": "../up"}}, "spec.registry.path"),
    ({"exchange": {"restUrl": "http://x"}}, "spec.exchange"),
    ({"resources": {"requests": {"cpu": "lots"}}}, "spec.resources.requests.cpu"),
])
def test_invalid_specs_name_the_field(spec: dict, path: str) -> None:
    with pytest.raises(SpecError) as info:
        parse_spec("a1", spec)
    assert path in info.value.problems, info.value.problems


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(SpecError) as info:
        parse_spec("a1", {"marketLimit": 0, "tickInterval": -1, "environment": "production"})
    assert {"spec.marketLimit", "spec.tickInterval", "spec.environment"} <= info.value.problems.keys()


def test_merge_diff_removes_what_is_no_longer_set() -> None:
    old = {"spec": {"a": 1, "b": {"c": 2, "d": 3}, "l": [1]}}
    new = {"spec": {"a": 1, "b": {"c": 5}, "l": [2]}}
    assert merge_diff(old, new) == {"spec": {"b": {"c": 5, "d": None}, "l": [2]}}


def test_status_tells_what_the_pod_says() -> None:
    body = {"ready": False, "reasons": ["paused"], "paused": True, "connected": True, "risk_state": "ACTIVE",
            "active_model_id": "m-1", "markets": ["A", "B"],
            "last_reload": {"ok": False, "model_id": "m-2", "message": "no model 'm-2'", "ts_ms": 1_700_000_000_000}}
    status = from_health(Health(False, body, "12.50"), "m-2", None)
    assert (status["phase"], status["activeModelId"], status["markets"], status["pnl"]) == ("Paused", "m-1", 2,
                                                                                            "12.50")
    model = next(c for c in status["conditions"] if c["type"] == "ModelLoaded")
    assert (model["status"], model["reason"]) == ("False", "ModelLoadFailed") and "m-1 keeps serving" in \
        model["message"]
    assert status["lastFailure"]["modelId"] == "m-2"
    up = from_health(Health(False, {**body, "active_model_id": None, "last_reload": None}, None), "", status)
    assert up["phase"] == "Paused" and next(c for c in up["conditions"] if c["type"] == "ModelLoaded")["reason"] == \
        "NoModel"
