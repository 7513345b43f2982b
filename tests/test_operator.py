"""The operator's real kopf runtime against kmock's Kubernetes emulator, driven by a real kubectl.

Create, edit a hot field, edit a cold field, an invalid spec, delete; the operator's metrics; the
per-actor Secret's two tokens (and completing one an earlier version made); the NetworkPolicy.
No actor runs here (test_operator_e2e.py runs one): a hot edit updates the ConfigMap without
rolling the pod and the push finds no pod (an Event says so). The actor client's use of the
admin token is checked against a stand-in admin port (aiohttp on 127.0.0.1).
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import urllib.request
from pathlib import Path

import kmock
import kopf
import pytest
import yaml
from aiohttp import web

from kalshi_operator import handlers
from kalshi_operator.actor_client import ActorClient, ActorUnreachable
from kalshi_operator.apply import LAST_APPLIED
from kube_support import ACTORS, PODMONITORS, Emulator, Kubectl, declare, running_operator, until, write_kubeconfig
from support import free_port

pytestmark = pytest.mark.kmock(cls=Emulator)

RESTART_HASH = "trading.kalshiflow.io/restart-hash"
NETWORK_POLICIES = "networking.k8s.io/v1/networkpolicies"
OPERATOR_LABELS = {"app.kubernetes.io/name": "kalshi-actor-operator", "app.kubernetes.io/instance": "kao"}
TOKEN = re.compile(r"^[A-Za-z0-9._~-]{16,}$")  # what the actor accepts as RL_ACTOR_VIEWER_TOKEN



def _actor(name: str, **spec) -> dict:
    return {"apiVersion": "trading.kalshiflow.io/v1alpha1", "kind": "KalshiActor",
            "metadata": {"name": name, "namespace": "default"}, "spec": spec}


@pytest.fixture
def cluster(kmock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    declare(kmock, pod_monitors=True)
    config = write_kubeconfig(tmp_path / "kubeconfig", str(kmock.url).rstrip("/"))
    monkeypatch.setenv("KUBECONFIG", str(config))
    monkeypatch.setenv("KALSHI_OPERATOR_ACTOR_IMAGE", "registry.example/kalshi-actor:1")
    port = free_port()
    monkeypatch.setenv("KALSHI_OPERATOR_METRICS_PORT", str(port))
    # no actor listens here: the push is attempted and reported, nothing else
    monkeypatch.setenv("KALSHI_OPERATOR_ENDPOINTS", json.dumps({"default/alpha": f"http://127.0.0.1:{free_port()}"}))
    _network_policy_settings(monkeypatch)
    return kmock, Kubectl(config), port


def _network_policy_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """The chart's NetworkPolicy settings (the namespace comes from the Downward API there)."""
    monkeypatch.setenv("KALSHI_OPERATOR_NETWORK_POLICY", "true")
    monkeypatch.setenv("KALSHI_OPERATOR_NAMESPACE", "ops")
    monkeypatch.setenv("KALSHI_OPERATOR_POD_LABELS", json.dumps(OPERATOR_LABELS))
    monkeypatch.setenv("KALSHI_OPERATOR_HTTP_PEERS", json.dumps([{"namespaceSelector": {}}]))


def _events(emulator: Emulator, reason: str) -> list[dict]:
    events = kmock.resource("v1/events")
    return [obj.raw for (resource, _, _), obj in emulator.objects.items()
            if resource == events and not obj.deleted and obj.raw.get("reason") == reason]


async def test_lifecycle_create_hot_cold_invalid_delete(cluster) -> None:
    emulator, kubectl, metrics_port = cluster
    async with running_operator():
        # create: every child, owned and labelled; the status says the spec is valid
        await kubectl.apply_manifest(_actor("alpha", modelId="m-1", marketLimit=5))
        deployment = await until(lambda: emulator.object("apps/v1/deployments", "default", "alpha"),
                                 what="the Deployment")
        owner = emulator.object(ACTORS, "default", "alpha")
        for resource, name in (("v1/configmaps", "alpha"), ("v1/services", "alpha"), ("v1/secrets", "alpha-admin"),
                               (PODMONITORS, "alpha"), (NETWORK_POLICIES, "alpha")):
            child = await until(lambda r=resource, n=name: emulator.object(r, "default", n), what=f"{resource} {name}")
            assert child["metadata"]["ownerReferences"][0]["uid"] == owner["metadata"]["uid"]
            assert child["metadata"]["labels"]["app.kubernetes.io/instance"] == "alpha"
        policy = emulator.object(NETWORK_POLICIES, "default", "alpha")
        admin = next(rule for rule in policy["spec"]["ingress"] if rule["ports"][0]["port"] == "admin")
        assert admin["from"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ops"}},
                                  "podSelector": {"matchLabels": OPERATOR_LABELS}}]
        assert int(policy["metadata"]["resourceVersion"]) < int(deployment["metadata"]["resourceVersion"]), \
            "the pod must never run unprotected: the NetworkPolicy comes first"
        # the Secret: two random tokens, no copy of them in an annotation (kubectl describe prints those)
        secret = emulator.object("v1/secrets", "default", "alpha-admin")
        tokens = {key: base64.b64decode(value).decode() for key, value in secret["data"].items()}
        assert tokens.keys() == {"token", "viewer-token"} and tokens["token"] != tokens["viewer-token"]
        assert all(TOKEN.match(value) for value in tokens.values())
        assert LAST_APPLIED not in (secret["metadata"].get("annotations") or {})
        # the command charts/README.md gives for the web view's token
        shown = await kubectl("get", "secret", "alpha-admin", "-o", "jsonpath={.data.viewer-token}")
        assert base64.b64decode(shown).decode() == tokens["viewer-token"]
        assert deployment["spec"]["strategy"] == {"type": "Recreate"}
        pod = deployment["spec"]["template"]["spec"]["containers"][0]
        assert pod["image"] == "registry.example/kalshi-actor:1"
        config = yaml.safe_load(emulator.object("v1/configmaps", "default", "alpha")["data"]["config.yaml"])
        assert (config["model_id"], config["market_limit"]) == ("m-1", 5)
        ka = await until(lambda: _status_with(kubectl, "observedGeneration"), what="the status")
        assert _condition(ka, "SpecValid") == "True" and ka["status"]["targetModelId"] == "m-1"
        hash_before = deployment["spec"]["template"]["metadata"]["annotations"][RESTART_HASH]

        # hot: the ConfigMap changes, the pod template does not (no restart); the push is tried and reported
        await kubectl.merge_patch("kalshiactor", "alpha", {"spec": {"modelId": "m-2", "risk": {"maxExposure": "50"}}})
        await until(lambda: "m-2" in emulator.object("v1/configmaps", "default", "alpha")["data"]["config.yaml"],
                    what="the ConfigMap update")
        config = yaml.safe_load(emulator.object("v1/configmaps", "default", "alpha")["data"]["config.yaml"])
        assert config["risk"]["max_exposure"] == "50" and config["model_id"] == "m-2"
        assert emulator.object("apps/v1/deployments", "default", "alpha")["spec"]["template"] == \
            deployment["spec"]["template"]
        await until(lambda: _events(emulator, "PodUnreachable"), what="the PodUnreachable Event")
        ka = await until(lambda: _status_at(kubectl, "observedGeneration", 2), what="observedGeneration 2")
        assert ka["status"]["targetModelId"] == "m-2"

        # cold: the environment and the image roll the pod (a new restart hash, the new image)
        await kubectl.apply_manifest({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "demo-key"},
                                      "stringData": {"api-key-id": "abc", "private-key": "pem"}})
        await kubectl.merge_patch("kalshiactor", "alpha", {"spec": {
            "environment": "demo", "credentialsSecretRef": {"name": "demo-key"}, "image": "example/actor:2"}})
        rolled = await until(lambda: _rolled(emulator, hash_before), what="the rolled pod template")
        container = rolled["spec"]["template"]["spec"]["containers"][0]
        assert container["image"] == "example/actor:2"
        assert {"name": "RL_ACTOR_PRIVATE_KEY_FILE", "value": "/var/run/kalshi-actor/credentials/private-key.pem"} \
            in container["env"]
        await until(lambda: _events(emulator, "Rolling"), what="the Rolling Event")

        # invalid: production without the opt-in; status and an Event say why, nothing running changes
        before = emulator.object("apps/v1/deployments", "default", "alpha")
        cm_before = emulator.object("v1/configmaps", "default", "alpha")
        await kubectl.merge_patch("kalshiactor", "alpha", {"spec": {"environment": "production", "marketLimit": 0}})
        ka = await until(lambda: _invalid_status(kubectl), what="phase Invalid with SpecValid False")
        assert "allowProduction" in ka["status"]["message"] and "spec.marketLimit" in ka["status"]["message"]
        assert _condition(ka, "SpecValid") == "False"
        await until(lambda: _events(emulator, "InvalidSpec"), what="the InvalidSpec Event")
        assert emulator.object("apps/v1/deployments", "default", "alpha") == before
        assert emulator.object("v1/configmaps", "default", "alpha") == cm_before

        # the operator's metrics count it all
        text = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).read().decode()
        assert _sample(text, 'kalshi_operator_reconciles_total{result="ok"}') >= 3
        assert _sample(text, 'kalshi_operator_reconciles_total{result="invalid"}') >= 1
        assert _sample(text, 'kalshi_operator_config_pushes_total{result="unreachable"}') >= 1

        # delete: the children go with their owner (owner references; the emulator plays the garbage collector)
        await kubectl("delete", "kalshiactor", "alpha", "--wait=false")
        await until(lambda: emulator.object("apps/v1/deployments", "default", "alpha") is None,
                    what="the Deployment's deletion")
        for resource, name in (("v1/configmaps", "alpha"), ("v1/services", "alpha"), ("v1/secrets", "alpha-admin")):
            await until(lambda r=resource, n=name: emulator.object(r, "default", n) is None, what=f"{name} deleted")
        assert emulator.object("v1/secrets", "default", "demo-key") is not None  # the user's Secret is not ours


async def test_a_secret_from_an_earlier_operator_gets_the_viewer_token_and_keeps_its_admin_token(cluster) -> None:
    emulator, kubectl, _ = cluster
    old_token = "a" * 64
    await kubectl.apply_manifest({"apiVersion": "v1", "kind": "Secret", "metadata": {
        "name": "alpha-admin", "annotations": {LAST_APPLIED: json.dumps({"data": {"token": "..."}})}},
        "data": {"token": base64.b64encode(old_token.encode()).decode()}})
    async with running_operator():
        await kubectl.apply_manifest(_actor("alpha"))
        secret = await until(lambda: _with_key(emulator.object("v1/secrets", "default", "alpha-admin"),
                                               "viewer-token"), what="the viewer token added")
        assert base64.b64decode(secret["data"]["token"]).decode() == old_token  # the pod's admin token is kept
        assert TOKEN.match(base64.b64decode(secret["data"]["viewer-token"]).decode())
        assert LAST_APPLIED not in (secret["metadata"].get("annotations") or {})
        await until(lambda: emulator.object("apps/v1/deployments", "default", "alpha"), what="the Deployment")
        await until(lambda: _events(emulator, "SecretUpgraded"), what="the SecretUpgraded Event")
        await until(lambda: _status_with(kubectl, "observedGeneration"), what="the status")
        versions = emulator.object("v1/secrets", "default", "alpha-admin")["metadata"]["resourceVersion"]
        await kubectl.merge_patch("kalshiactor", "alpha", {"spec": {"marketLimit": 7}})
        await until(lambda: _status_at(kubectl, "observedGeneration", 2), what="observedGeneration 2")
        assert emulator.object("v1/secrets", "default", "alpha-admin")["metadata"]["resourceVersion"] == versions, \
            "a complete Secret is never rewritten"


def _with_key(secret: dict | None, key: str) -> dict | None:
    return secret if secret is not None and key in (secret.get("data") or {}) else None


@pytest.mark.parametrize("unset", ["KALSHI_OPERATOR_NAMESPACE", "KALSHI_OPERATOR_POD_LABELS"])
def test_the_operator_does_not_start_with_a_network_policy_that_would_lock_it_out(
        monkeypatch: pytest.MonkeyPatch, unset: str) -> None:
    _network_policy_settings(monkeypatch)
    monkeypatch.delenv(unset)
    with pytest.raises(kopf.PermanentError, match=unset):
        handlers.configure(settings=kopf.OperatorSettings())


async def test_the_actor_client_sends_the_admin_token_on_every_request() -> None:
    """The full health needs the admin token; a summary (a refused token) is reported, never taken as "no model"."""
    seen: list[tuple[str, str | None]] = []
    full = {"ready": True, "live": True, "reasons": [], "active_model_id": "m-1", "config": {"paused": False}}

    async def health(request: web.Request) -> web.Response:
        seen.append((request.path, request.headers.get("Authorization")))
        good = request.headers.get("Authorization") == "Bearer admin-1"
        return web.json_response(full if good else {key: full[key] for key in ("ready", "live", "reasons")})

    async def metrics(request: web.Request) -> web.Response:
        seen.append((request.path, request.headers.get("Authorization")))
        return web.Response(text='kalshi_actor_pnl_dollars{kind="total"} 1.5\n')

    async def config(request: web.Request) -> web.Response:
        seen.append((request.path, request.headers.get("Authorization")))
        return web.json_response({"applied": await request.json(), "refused": {}})

    app = web.Application()
    app.add_routes([web.get("/rl/actor/health", health), web.get("/metrics", metrics),
                    web.post("/rl/actor/config", config)])
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        client = ActorClient(url, "admin-1")
        reported = await client.health()
        assert (reported.active_model_id, reported.config, reported.pnl_total) == ("m-1", {"paused": False}, "1.50")
        assert (await client.push({"paused": True})).applied == {"paused": True}
        assert [path for path, _ in seen] == ["/rl/actor/health", "/metrics", "/rl/actor/config"]
        assert {auth for _, auth in seen} == {"Bearer admin-1"}
        for token, word in (("wrong", "refused"), (None, "not known")):
            with pytest.raises(ActorUnreachable, match=f"public summary.*{word}"):
                await ActorClient(url, token).health()
    finally:
        await runner.cleanup()


async def _status_with(kubectl: Kubectl, key: str) -> dict | None:
    ka = await kubectl.get_json("ka", "alpha")
    return ka if key in (ka.get("status") or {}) else None


async def _status_at(kubectl: Kubectl, key: str, value) -> dict | None:
    ka = await kubectl.get_json("kalshiactor", "alpha")
    return ka if (ka.get("status") or {}).get(key) == value else None


async def _invalid_status(kubectl: Kubectl) -> dict | None:
    ka = await _status_at(kubectl, "phase", "Invalid")
    return ka if ka is not None and _condition(ka, "SpecValid") == "False" else None


def _condition(ka: dict, kind: str) -> str | None:
    return next((c["status"] for c in ka["status"].get("conditions", []) if c["type"] == kind), None)


def _rolled(emulator: Emulator, old_hash: str) -> dict | None:
    deployment = emulator.object("apps/v1/deployments", "default", "alpha")
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    return deployment if annotations["trading.kalshiflow.io/restart-hash"] != old_hash else None


def _sample(text: str, series: str) -> float:
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{series} not in the operator's metrics")


# --- deletion needs no operator -----------------------------------------------------------------------------------

KOPF_FINALIZER = "kopf.zalando.org/KopfFinalizerMarker"


async def test_deleting_an_actor_needs_no_operator(cluster) -> None:
    """After ``helm uninstall`` or during an outage, ``kubectl delete ka`` (and so ``kubectl delete ns``) completes."""
    emulator, kubectl, _ = cluster
    async with running_operator():
        await kubectl.apply_manifest(_actor("alpha"))
        await until(lambda: emulator.object("apps/v1/deployments", "default", "alpha"), what="the Deployment")
        await until(lambda: _status_with(kubectl, "phase"), what="a status refresh")
        assert not emulator.object(ACTORS, "default", "alpha")["metadata"].get("finalizers")
    # the operator is gone: the deletion must not wait for it
    await kubectl("delete", "kalshiactor", "alpha", "--timeout=15s")
    assert emulator.object(ACTORS, "default", "alpha") is None
    await until(lambda: emulator.object("apps/v1/deployments", "default", "alpha") is None, what="the children GC")


async def test_the_finalizer_an_earlier_version_added_is_removed(cluster) -> None:
    emulator, kubectl, _ = cluster
    manifest = _actor("alpha")
    manifest["metadata"]["finalizers"] = [KOPF_FINALIZER]
    await kubectl.apply_manifest(manifest)
    async with running_operator():
        await until(lambda: not emulator.object(ACTORS, "default", "alpha")["metadata"].get("finalizers"),
                    what="the finalizer removed")
        await until(lambda: _status_with(kubectl, "phase"), what="a status refresh")
        await asyncio.sleep(2.5)  # a few status refreshes
        assert not emulator.object(ACTORS, "default", "alpha")["metadata"].get("finalizers"), "re-added"
    await kubectl("delete", "kalshiactor", "alpha", "--timeout=15s")
    assert emulator.object(ACTORS, "default", "alpha") is None


# --- a refused model is not persisted -----------------------------------------------------------------------------


class StandInActor:
    """An actor's admin port as the real one answers it (health body, config pushes that refuse unknown models).

    ``restart()`` is the pod's restart: it reads its config from the ConfigMap, as the real pod reads its file.
    """

    def __init__(self, emulator: Emulator, models: set[str]) -> None:
        from kalshi_operator.spec import parse_spec

        self.emulator, self.models = emulator, models
        self.config = parse_spec("alpha", {}).hot_config()
        self.active: str | None = None
        self.last_reload: dict | None = None
        self.runner: web.AppRunner | None = None
        self.url = ""

    def restart(self) -> None:
        document = yaml.safe_load(self.emulator.object("v1/configmaps", "default", "alpha")["data"]["config.yaml"])
        self.config = {key: document[key] for key in self.config}
        self.active = self.config["model_id"] if self.config["model_id"] in self.models else None

    def health(self) -> dict:
        ready = self.active is not None and not self.config["paused"]
        return {"ready": ready, "live": True, "reasons": [] if ready else ["no model loaded"], "connected": True,
                "books_fresh": True, "risk_state": "ACTIVE", "paused": self.config["paused"],
                "active_model": None if self.active is None else {"id": self.active, "tick_interval_s": 1.0},
                "active_model_id": self.active, "markets": ["A"], "last_reload": self.last_reload,
                "config": dict(self.config)}

    async def start(self, port: int = 0) -> None:
        async def health(request: web.Request) -> web.Response:
            return web.json_response(self.health(), status=200 if self.health()["ready"] else 503)

        async def config(request: web.Request) -> web.Response:
            changes = await request.json()
            refused = {}
            if "model_id" in changes and changes["model_id"] not in self.models:
                refused["model_id"] = f"the model did not load; the serving one keeps serving: no model " \
                                      f"{changes['model_id']!r}"
                self.last_reload = {"ok": False, "model_id": changes.pop("model_id"), "message": "not found",
                                    "ts_ms": 1_700_000_000_000}
            self.config.update(changes)
            if "model_id" in changes:
                self.active = changes["model_id"]
            return web.json_response({"applied": changes, "refused": refused}, status=422 if refused else 200)

        app = web.Application()
        app.add_routes([web.get("/rl/actor/health", health), web.post("/rl/actor/config", config)])
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", port).start()
        self.url = f"http://127.0.0.1:{self.runner.addresses[0][1]}"

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


def _config_model(emulator: Emulator) -> str:
    return yaml.safe_load(emulator.object("v1/configmaps", "default", "alpha")["data"]["config.yaml"])["model_id"]


async def test_a_refused_model_is_not_written_to_the_config_map(cluster, monkeypatch: pytest.MonkeyPatch) -> None:
    emulator, kubectl, _ = cluster
    pod = StandInActor(emulator, {"m-1", "m-2", "m-3"})
    await pod.start()
    monkeypatch.setenv("KALSHI_OPERATOR_ENDPOINTS", json.dumps({"default/alpha": pod.url}))
    try:
        async with running_operator():
            await kubectl.apply_manifest(_actor("alpha", modelId="m-1"))
            await until(lambda: emulator.object("v1/configmaps", "default", "alpha"), what="the ConfigMap")
            pod.restart()  # the pod starts from the ConfigMap
            await until(lambda: _status_at(kubectl, "lastGoodModelId", "m-1"), what="m-1 served")

            await kubectl.merge_patch("kalshiactor", "alpha", {"spec": {"modelId": "m-2"}})
            await until(lambda: _status_at(kubectl, "activeModelId", "m-2"), what="m-2 served")
            await until(lambda: _config_model(emulator) == "m-2", what="m-2 in the ConfigMap once confirmed")

            await kubectl.merge_patch("kalshiactor", "alpha", {"spec": {"modelId": "no-such-model"}})
            ka = await until(lambda: _status_with_failure(kubectl, "no-such-model"), what="the refusal")
            status = ka["status"]
            assert (status["targetModelId"], status["activeModelId"], status["lastGoodModelId"]) == \
                ("no-such-model", "m-2", "m-2")
            assert _config_model(emulator) == "m-2", "the ConfigMap must hold what the pod serves"
            pod.restart()  # a restarted pod serves the last good model
            assert pod.active == "m-2"

            # the pod does not answer: the new model waits (the ConfigMap keeps m-2) and goes in once it answers
            await pod.stop()
            await kubectl.merge_patch("kalshiactor", "alpha", {"spec": {"modelId": "m-3"}})
            await until(lambda: _events(emulator, "PodUnreachable"), what="the PodUnreachable Event")
            assert _config_model(emulator) == "m-2"
            port = int(pod.url.rsplit(":", 1)[1])
            await pod.start(port)
            await until(lambda: pod.active == "m-3", timeout=30, what="m-3 pushed when the pod answers again")
            await until(lambda: _config_model(emulator) == "m-3", what="m-3 in the ConfigMap")
    finally:
        await pod.stop()


async def _status_with_failure(kubectl: Kubectl, model_id: str) -> dict | None:
    ka = await kubectl.get_json("kalshiactor", "alpha")
    return ka if ((ka.get("status") or {}).get("lastFailure") or {}).get("modelId") == model_id else None


# --- why the pod is down ------------------------------------------------------------------------------------------


def _pod_manifest(waiting: dict, last: dict | None = None) -> dict:
    from kalshi_operator import builders

    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "alpha-5d9f-x1", "namespace": "default", "labels": builders.labels("alpha")},
            "spec": {"containers": [{"name": "actor", "image": "registry.example/kalshi-actor:9"}]},
            "status": {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "True"}],
                       "containerStatuses": [{"name": "actor", "ready": False, "restartCount": 4 if last else 0,
                                              "state": {"waiting": waiting},
                                              "lastState": {"terminated": last} if last else {}}]}}


async def test_the_status_says_why_the_pod_is_down(cluster) -> None:
    emulator, kubectl, _ = cluster
    # someone else's pod, not selected by the actor's labels: never read as the actor's
    await kubectl.apply_manifest({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "other", "labels": {
        "app": "x"}}, "spec": {"containers": [{"name": "c", "image": "c"}]}, "status": {"phase": "Running"}})
    async with running_operator():
        await kubectl.apply_manifest(_actor("alpha"))
        await until(lambda: _status_at(kubectl, "reason", "NoPod"), what="NoPod")
        await kubectl.apply_manifest(_pod_manifest({"reason": "ImagePullBackOff",
                                                    "message": 'Back-off pulling image "registry.example/x:9"'}))
        await kubectl.apply_manifest({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "alpha-pull"},
                                      "type": "Warning", "reason": "Failed",
                                      "message": 'Failed to pull image "registry.example/x:9": not found',
                                      "involvedObject": {"kind": "Pod", "name": "alpha-5d9f-x1",
                                                         "namespace": "default"}})
        ka = await until(lambda: _status_at(kubectl, "reason", "ImagePullBackOff"), what="ImagePullBackOff")
        assert ka["status"]["phase"] == "Failing" and "not found" in ka["status"]["message"]
        ready = next(c for c in ka["status"]["conditions"] if c["type"] == "Ready")
        assert (ready["status"], ready["reason"]) == ("False", "ImagePullBackOff")
        await kubectl("delete", "pod", "alpha-5d9f-x1")
        await kubectl.apply_manifest(_pod_manifest({"reason": "CrashLoopBackOff", "message": "back-off 1m20s"},
                                                   {"reason": "OOMKilled", "exitCode": 137}))
        ka = await until(lambda: _status_at(kubectl, "reason", "OOMKilled"), what="OOMKilled")
        assert "OOMKilled" in ka["status"]["message"] and "CrashLoopBackOff" in ka["status"]["message"]
        await until(lambda: [e for e in _events(emulator, "Failing") if "OOMKilled" in e.get("message", "")],
                    what="a Warning Event naming OOMKilled")
