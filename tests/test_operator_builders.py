"""The operator's pure parts, without any cluster: spec defaults and validation, the builders, status."""

from __future__ import annotations

import base64
import importlib.metadata
import json

import pytest
import yaml

from kalshi_actor.actor.config import HOT_FIELDS, ActorConfig, apply_changes
from kalshi_operator import builders
from kalshi_operator.actor_client import ENDPOINTS_ENV, Health, resolve, same_config
from kalshi_operator.apply import LAST_APPLIED, merge_diff
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
    assert {var["name"] for var in secret_env} == {"RL_ACTOR_ADMIN_TOKEN", "RL_ACTOR_VIEWER_TOKEN",
                                                    "RL_ACTOR_API_KEY_ID"}
    assert deployment["metadata"]["ownerReferences"][0] == {
        "apiVersion": "trading.kalshiflow.io/v1alpha1", "kind": "KalshiActor", "name": "a1", "uid": "u-1",
        "controller": True, "blockOwnerDeletion": True}
    service = builders.service("a1", "ns", OWNER)
    assert service["spec"]["publishNotReadyAddresses"] and service["spec"]["selector"] == \
        deployment["spec"]["selector"]["matchLabels"]
    monitor = builders.pod_monitor("a1", "ns", OWNER)
    assert monitor["spec"]["selector"]["matchLabels"] == service["spec"]["selector"]


def _container(spec: dict | None = None) -> dict:
    deployment = builders.deployment(parse_spec("a1", spec or {}), "ns", OWNER, default_image="x/actor:1")
    return deployment["spec"]["template"]["spec"]["containers"][0]


def _after(args: list[str], flag: str) -> str:
    return args[args.index(flag) + 1]


def test_two_ports_the_probes_on_admin_and_the_service_exposes_both() -> None:
    container = _container(SIM)
    assert {port["name"]: port["containerPort"] for port in container["ports"]} == {"http": 8000, "admin": 8081}
    args = container["args"]
    assert (_after(args, "--host"), _after(args, "--port")) == ("0.0.0.0", "8000")
    assert (_after(args, "--admin-host"), _after(args, "--admin-port")) == ("0.0.0.0", "8081")
    probes = {kind: container[kind]["httpGet"] for kind in ("readinessProbe", "livenessProbe", "startupProbe")}
    assert {probe["port"] for probe in probes.values()} == {"admin"}  # the port a busy web view cannot slow
    assert probes["readinessProbe"]["path"] == "/rl/actor/health"
    assert probes["livenessProbe"]["path"] == probes["startupProbe"]["path"] == "/rl/actor/health?probe=live"
    service = builders.service("a1", "ns", OWNER)["spec"]
    assert {(p["name"], p["port"], p["targetPort"]) for p in service["ports"]} == {("http", 8000, "http"),
                                                                                  ("admin", 8081, "admin")}
    assert service["publishNotReadyAddresses"]
    (endpoint,) = builders.pod_monitor("a1", "ns", OWNER)["spec"]["podMetricsEndpoints"]
    assert (endpoint["port"], endpoint["path"]) == ("http", "/metrics")  # Prometheus scrapes the public port


def test_the_pod_gets_both_tokens_from_the_per_actor_secret() -> None:
    refs = {var["name"]: var["valueFrom"]["secretKeyRef"] for var in _container()["env"] if "valueFrom" in var}
    assert refs["RL_ACTOR_ADMIN_TOKEN"] == {"name": "a1-admin", "key": "token"}
    assert refs["RL_ACTOR_VIEWER_TOKEN"] == {"name": "a1-admin", "key": "viewer-token"}
    secret = builders.admin_secret("a1", "ns", OWNER, {"token": "admin-1", "viewer-token": "viewer-1"})
    assert secret["metadata"]["name"] == "a1-admin" and "annotations" not in secret["metadata"]
    assert builders.secret_tokens(secret) == {"token": "admin-1", "viewer-token": "viewer-1"}


def test_a_secret_from_an_earlier_version_gets_the_viewer_token_and_keeps_its_admin_token() -> None:
    old = {"metadata": {"name": "a1-admin", "annotations": {LAST_APPLIED: '{"data": {"token": "..."}}'}},
           "data": {"token": base64.b64encode(b"admin-1").decode()}}
    assert builders.secret_tokens(old) == {"token": "admin-1"} and builders.secret_tokens(None) == {}
    patch = builders.admin_secret_upgrade({"viewer-token": "viewer-1"})
    assert patch["data"].keys() == {"viewer-token"}  # the admin token the pod runs with is not touched
    upgraded = _merge_patch(old, patch)
    assert builders.secret_tokens(upgraded) == {"token": "admin-1", "viewer-token": "viewer-1"}
    assert upgraded["metadata"] == {"name": "a1-admin", "annotations": {}}  # the old copy of the admin token goes


def _merge_patch(target: object, patch: object) -> object:
    """RFC 7386, as the API server applies a merge patch."""
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = _merge_patch(out.get(key), value)
    return out


ACCESS = builders.Access("ops", {"app.kubernetes.io/name": "kalshi-actor-operator", "app.kubernetes.io/instance": "k"},
                         ({"namespaceSelector": {}, "podSelector": {"matchLabels": {"app.kubernetes.io/name":
                                                                                    "prometheus"}}},))


def test_the_network_policy_admits_only_the_operator_to_admin_and_the_peers_to_http() -> None:
    policy = builders.network_policy("a1", "ns", OWNER, ACCESS)
    deployment = builders.deployment(parse_spec("a1", {}), "ns", OWNER, default_image="x")
    assert policy["metadata"]["ownerReferences"] == deployment["metadata"]["ownerReferences"]
    spec = policy["spec"]
    assert spec["podSelector"] == deployment["spec"]["selector"] and spec["policyTypes"] == ["Ingress"]
    rules = {rule["ports"][0]["port"]: rule["from"] for rule in spec["ingress"]}
    assert all(len(rule["ports"]) == 1 for rule in spec["ingress"]) and rules.keys() == {"admin", "http"}
    # one peer with both selectors: the operator's labels IN the operator's namespace (two peers would mean OR)
    assert rules["admin"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ops"}},
                               "podSelector": {"matchLabels": dict(ACCESS.operator_labels)}}]
    assert rules["http"] == list(ACCESS.http_peers)
    ports = {port["name"] for port in _container()["ports"]}
    assert set(rules) <= ports  # the policy's named ports are the container's
    closed = builders.network_policy("a1", "ns", OWNER, builders.Access("ops", ACCESS.operator_labels, ()))
    assert [rule["ports"][0]["port"] for rule in closed["spec"]["ingress"]] == ["admin"]  # no peers: no http rule
    assert all(rule.get("from") for rule in closed["spec"]["ingress"])  # a rule without "from" admits everyone


def test_network_policy_settings_from_the_environment() -> None:
    env = {"KALSHI_OPERATOR_NETWORK_POLICY": "true", "KALSHI_OPERATOR_NAMESPACE": "ops",
           "KALSHI_OPERATOR_POD_LABELS": json.dumps(dict(ACCESS.operator_labels)),
           "KALSHI_OPERATOR_HTTP_PEERS": json.dumps(list(ACCESS.http_peers))}
    assert builders.Access.from_env(env) == ACCESS
    assert builders.Access.from_env({}) is None and builders.Access.from_env(
        {**env, "KALSHI_OPERATOR_NETWORK_POLICY": "false"}) is None
    assert builders.Access.from_env({k: v for k, v in env.items() if k != "KALSHI_OPERATOR_HTTP_PEERS"}).http_peers \
        == ()
    for bad, name in (({"KALSHI_OPERATOR_NETWORK_POLICY": "yes"}, "KALSHI_OPERATOR_NETWORK_POLICY"),
                      ({"KALSHI_OPERATOR_NAMESPACE": ""}, "KALSHI_OPERATOR_NAMESPACE"),
                      ({"KALSHI_OPERATOR_POD_LABELS": "{}"}, "KALSHI_OPERATOR_POD_LABELS"),
                      ({"KALSHI_OPERATOR_POD_LABELS": "{not json"}, "KALSHI_OPERATOR_POD_LABELS"),
                      ({"KALSHI_OPERATOR_HTTP_PEERS": "[{}]"}, "KALSHI_OPERATOR_HTTP_PEERS")):
        with pytest.raises(ValueError, match=name):
            builders.Access.from_env({**env, **bad})


def test_the_operator_reaches_the_admin_port(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENDPOINTS_ENV, raising=False)
    assert resolve("ns", "a1") == "http://a1.ns.svc:8081"
    monkeypatch.setenv(ENDPOINTS_ENV, json.dumps({"ns/a1": "http://127.0.0.1:5555/"}))
    assert resolve("ns", "a1") == "http://127.0.0.1:5555" and resolve("ns", "b2") == "http://b2.ns.svc:8081"


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


# --- status from what the real actor reports ---------------------------------------------------------------------


def _real_health(*, paused: bool = False, tick_interval: float = 1.0, trained_tick_s: float = 1.0,
                 model_id: str = "m-1") -> Health:
    """The health body as ``_Service.health_report`` builds it, from the actor's own Health, RiskManager and config."""
    from kalshi_actor.actor.app import Health as ActorHealth
    from kalshi_actor.actor.risk import RiskLimits, RiskManager
    from kalshi_actor.trading.portfolio import Portfolio

    config = ActorConfig.model_validate({**KEY, "environment": "sim", "rest_url": "http://x/trade-api/v2",
                                         "ws_url": "ws://x/ws", "model_id": model_id, "paused": paused,
                                         "tick_interval": tick_interval})
    risk = RiskManager(RiskLimits.of(config.risk), paused=config.paused)
    risk.evaluate(Portfolio(10_000_000_000))  # the loop's check, every tick
    health = ActorHealth(connected=True, books_fresh=True, risk_state=risk.state, markets=["A", "B"],
                         active_model={"id": model_id, "algorithm": "PPO", "loaded_at_ms": 1,
                                       "tick_interval_s": trained_tick_s},
                         last_reload={"ok": True, "model_id": model_id, "message": "loaded", "ts_ms": 1})
    reasons = health.not_ready_reasons(paused=config.paused)
    body = {"ready": not reasons, "live": health.alive, "reasons": reasons, "paused": config.paused,
            "target_model_id": config.model_id, **health.as_dict(), "config": config.hot_dict()}
    return Health(ready=not reasons, body=json.loads(json.dumps(body, default=str)))


def _cond(status: dict, kind: str) -> dict:
    return next(c for c in status["conditions"] if c["type"] == kind)


def test_a_paused_actor_is_paused_not_halted() -> None:
    """The real actor reports risk HALTED with reasons ['halted', 'paused'] while paused."""
    paused = _real_health(paused=True)
    assert paused.body["risk_state"] == "HALTED" and paused.body["reasons"] == ["halted", "paused"]
    status = from_health(paused, "m-1", None)
    assert (status["phase"], status["reason"], status["riskState"]) == ("Paused", "Paused", "PAUSED")
    assert (_cond(status, "Ready")["status"], _cond(status, "Ready")["reason"]) == ("False", "Paused")
    assert _cond(status, "ModelLoaded")["status"] == "True"
    running = from_health(_real_health(paused=False), "m-1", status)
    assert (running["phase"], running["reason"], running["riskState"]) == ("Running", "Ready", "ACTIVE")


def test_a_tick_interval_unlike_the_models_training_is_a_condition() -> None:
    status = from_health(_real_health(tick_interval=0.5, trained_tick_s=1.0), "m-1", None)
    matched = _cond(status, "TrainingConfigMatched")
    assert (matched["status"], matched["reason"]) == ("False", "TickIntervalDiffers")
    assert "0.5" in matched["message"] and "1.0" in matched["message"]
    same = from_health(_real_health(tick_interval=1.0, trained_tick_s=1.0), "m-1", status)
    assert (_cond(same, "TrainingConfigMatched")["status"], _cond(same, "TrainingConfigMatched")["reason"]) == \
        ("True", "Matches")
    # a model that reports the market count it was trained for
    body = dict(_real_health().body)
    body["active_model"] = {**body["active_model"], "market_limit": 3}
    limit = _cond(from_health(Health(True, body), "m-1", None), "TrainingConfigMatched")
    assert (limit["status"], limit["reason"]) == ("False", "MarketLimitDiffers")


def test_the_last_good_model_is_the_one_the_pod_serves_by() -> None:
    assert from_health(_real_health(model_id="m-1"), "m-2", None)["lastGoodModelId"] == "m-1"
    nothing = dict(_real_health().body, active_model=None, active_model_id=None)
    assert "lastGoodModelId" not in from_health(Health(False, nothing), "m-2", {})
    assert from_health(Health(False, nothing), "m-2", {"lastGoodModelId": "m-0"})["lastGoodModelId"] == "m-0"


# --- why a pod is down (the pod and its Events) ------------------------------------------------------------------


def _pod(name: str = "a1-x", *, phase: str = "Pending", waiting: dict | None = None, last: dict | None = None,
         terminated: dict | None = None, scheduled: dict | None = None, created: str = "2024-01-01T00:00:00Z",
         deleting: bool = False) -> dict:
    state = {"waiting": waiting} if waiting else {"terminated": terminated} if terminated else {"running": {}}
    container = {"name": "actor", "ready": False, "restartCount": 3 if last else 0, "state": state,
                 "lastState": {"terminated": last} if last else {}}
    conditions = [{"type": "PodScheduled", "status": "False", **scheduled}] if scheduled else \
        [{"type": "PodScheduled", "status": "True"}]
    meta = {"name": name, "namespace": "ns", "uid": f"uid-{name}", "creationTimestamp": created,
            "labels": builders.labels("a1")}
    if deleting:
        meta["deletionTimestamp"] = created
    status = {"phase": phase, "conditions": conditions}
    if not scheduled:
        status["containerStatuses"] = [container]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "status": status}


def _pod_event(pod: dict, reason: str, message: str, when: str = "2024-01-01T00:01:00Z") -> dict:
    return {"type": "Warning", "reason": reason, "message": message, "lastTimestamp": when,
            "involvedObject": {"kind": "Pod", "name": pod["metadata"]["name"], "uid": pod["metadata"]["uid"]}}


@pytest.mark.parametrize(("pod", "events", "phase", "reason", "words"), [
    (_pod(waiting={"reason": "ImagePullBackOff", "message": 'Back-off pulling image "x/actor:9"'}), [],
     "Failing", "ImagePullBackOff", ["x/actor:9"]),
    (_pod(phase="Running", waiting={"reason": "CrashLoopBackOff", "message": "back-off 40s"},
          last={"reason": "Error", "exitCode": 2}), [], "Failing", "CrashLoopBackOff", ["Error", "exit code 2"]),
    (_pod(phase="Running", waiting={"reason": "CrashLoopBackOff", "message": "back-off 40s"},
          last={"reason": "OOMKilled", "exitCode": 137}), [], "Failing", "OOMKilled", ["OOMKilled", "137", "memory"]),
    (_pod(scheduled={"reason": "Unschedulable", "message": "0/3 nodes are available: pod has unbound immediate "
                                                            "PersistentVolumeClaims."}), [],
     "Pending", "UnboundPVC", ["PersistentVolumeClaims"]),
    (_pod(scheduled={"reason": "Unschedulable", "message": "0/3 nodes are available: 3 Insufficient cpu."}), [],
     "Pending", "Unschedulable", ["Insufficient cpu"]),
    (_pod(waiting={"reason": "ContainerCreating"}), [], "Starting", "ContainerCreating", ["ContainerCreating"]),
])
def test_why_the_pod_is_down(pod: dict, events: list, phase: str, reason: str, words: list[str]) -> None:
    from kalshi_operator.status import pod_trouble, unreachable

    trouble = pod_trouble([pod], events)
    assert (trouble.phase, trouble.reason) == (phase, reason)
    status = unreachable("the pod does not answer: refused", "m-1", None, trouble)
    assert (status["phase"], status["reason"]) == (phase, reason)
    assert all(word in status["message"] for word in words), status["message"]
    assert (_cond(status, "Ready")["status"], _cond(status, "Ready")["reason"]) == ("False", reason)


def test_the_pods_events_say_more_and_the_newest_live_pod_counts() -> None:
    from kalshi_operator.status import pod_trouble

    old = _pod("a1-old", phase="Running", deleting=True, created="2024-01-01T00:00:00Z")
    new = _pod("a1-new", waiting={"reason": "ErrImagePull", "message": "rpc error"}, created="2024-01-01T00:05:00Z")
    events = [_pod_event(new, "Failed", 'Failed to pull image "x/actor:9": not found'),
              _pod_event(old, "Killing", "Stopping container actor")]
    trouble = pod_trouble([old, new], events)
    assert trouble.reason == "ErrImagePull" and "not found" in trouble.message and "Stopping" not in trouble.message
    assert pod_trouble([], []).reason == "NoPod"
    assert pod_trouble([_pod(phase="Running")], []) is None  # a running container: the health says the rest
    mount = _pod(waiting={"reason": "ContainerCreating"})
    trouble = pod_trouble([mount], [_pod_event(mount, "FailedMount", 'persistentvolumeclaim "models" not found')])
    assert (trouble.phase, trouble.reason) == ("Pending", "FailedMount") and "models" in trouble.message
