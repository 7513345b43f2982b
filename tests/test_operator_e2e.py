"""Cluster-less end to end: KalshiActor -> operator -> Deployment -> a real actor process -> the simulator.

The operator (kopf's runtime) reconciles a KalshiActor in kmock's emulator into a Deployment;
the test then does the kubelet's job for that pod template as literally as a process allows:
the container's args and env (Secret references resolved from the emulator), its volumes
materialised as directories (the ConfigMap's file, the credentials Secret's key file, the
registry "PVC"), and runs ``kalshi-actor`` with them against ``kalshi-actor sim``.

Stand-ins, and only these: volume mount paths are mapped to temporary directories (in the
file's text and the env values too), the pod's ``--host 0.0.0.0 --port 8000`` and
``--admin-host 0.0.0.0 --admin-port 8081`` to 127.0.0.1 and two free ports, and the operator
reaches "the Service's admin port" through ``KALSHI_OPERATOR_ENDPOINTS``.

Then: editing ``modelId`` makes the operator push the reload; the actor serves the new model
and the CR's status shows it active, in the same process (no restart). A model that does not
exist: the old one keeps serving and the status says why.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from actor_models import build_models
from kube_support import Emulator, Kubectl, declare, running_operator, until, write_kubeconfig
from support import actor_health, free_port

pytestmark = pytest.mark.kmock(cls=Emulator)
BIN = Path(sys.executable).parent



def _secret_value(emulator: Emulator, name: str, key: str) -> str:
    secret = emulator.object("v1/secrets", "default", name)
    assert secret is not None, f"Secret {name} missing"
    if key in (secret.get("stringData") or {}):
        return secret["stringData"][key]
    return base64.b64decode(secret["data"][key]).decode()


def start_pod(emulator: Emulator, name: str, root: Path, pvcs: dict[str, Path], port: int,
              admin_port: int) -> subprocess.Popen:
    """Run the Deployment's container as the kubelet would, with the stand-ins of the module docstring."""
    deployment = emulator.object("apps/v1/deployments", "default", name)
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    mounts: dict[str, Path] = {}
    for mount in container["volumeMounts"]:
        volume = volumes[mount["name"]]
        host = root / mount["name"]
        if "persistentVolumeClaim" in volume:
            host = pvcs[volume["persistentVolumeClaim"]["claimName"]]
        host.mkdir(parents=True, exist_ok=True)
        if "configMap" in volume:
            data = emulator.object("v1/configmaps", "default", volume["configMap"]["name"])["data"]
            for item in volume["configMap"]["items"]:
                (host / item["path"]).write_text(data[item["key"]])
        if "secret" in volume:
            for item in volume["secret"]["items"]:
                path = host / item["path"]
                path.write_text(_secret_value(emulator, volume["secret"]["secretName"], item["key"]))
                path.chmod(volume["secret"]["defaultMode"])
        mounts[mount["mountPath"]] = host

    def local(value):  # a path under a mount -> the same path under its directory
        if isinstance(value, dict):
            return {key: local(item) for key, item in value.items()}
        for mount_path, host in sorted(mounts.items(), key=lambda m: -len(m[0])):
            if isinstance(value, str) and (value == mount_path or value.startswith(mount_path + "/")):
                return str(host) + value[len(mount_path):]
        return value

    for host in mounts.values():  # files that name mounted paths (the config file's registry)
        for path in host.glob("*.yaml"):
            path.write_text(yaml.safe_dump(local(yaml.safe_load(path.read_text()))))
    env = {"PATH": os.environ["PATH"]}
    for var in container["env"]:
        if "value" in var:
            env[var["name"]] = local(var["value"])
        else:
            ref = var["valueFrom"]["secretKeyRef"]
            env[var["name"]] = _secret_value(emulator, ref["name"], ref["key"])
    args = list(container["args"])
    for flag, value in (("--host", "127.0.0.1"), ("--port", port), ("--admin-host", "127.0.0.1"),
                        ("--admin-port", admin_port)):
        args[args.index(flag) + 1] = str(value)
    log = open(root / "actor.log", "w")
    return subprocess.Popen([str(BIN / "kalshi-actor"), *args], env=env, stdout=log, stderr=subprocess.STDOUT)



async def test_model_edit_reaches_the_running_actor_and_a_bad_model_is_reported(
        kmock, sim_process, api_key, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    models = build_models(tmp_path / "pv-models" / "team")
    declare(kmock)
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", str(kmock.url).rstrip("/"))
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    port, admin_port = free_port(), free_port()
    monkeypatch.setenv("KALSHI_OPERATOR_ENDPOINTS", json.dumps({"default/beta": f"http://127.0.0.1:{admin_port}"}))
    kubectl = Kubectl(kubeconfig)
    actor = None
    async with running_operator():
        try:
            await kubectl.apply_manifest({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "sim-key"},
                                          "stringData": {"api-key-id": api_key.key_id,
                                                         "private-key": api_key.private_pem}})
            await kubectl.apply_manifest({
                "apiVersion": "trading.kalshiflow.io/v1alpha1", "kind": "KalshiActor",
                "metadata": {"name": "beta", "namespace": "default"},
                "spec": {"modelId": models.hold, "environment": "sim", "marketLimit": 2, "tickInterval": 1.0,
                         "exchange": {"restUrl": sim_process["rest"], "wsUrl": sim_process["ws"]},
                         "credentialsSecretRef": {"name": "sim-key"},
                         "registry": {"claimName": "models", "path": "team"}}})
            await until(lambda: kmock.object("apps/v1/deployments", "default", "beta"), what="the Deployment")
            actor = start_pod(kmock, "beta", tmp_path / "pod", {"models": tmp_path / "pv-models"}, port, admin_port)
            admin_token = _secret_value(kmock, "beta-admin", "token")

            try:
                ka = await until(lambda: _status(kubectl, lambda s: s.get("phase") == "Running"), timeout=60,
                                 what="the actor Running in the CR's status")
            except AssertionError:
                raise AssertionError(f"{await kubectl.get_json('kalshiactor', 'beta')}\nthe actor's log:\n"
                                     f"{(tmp_path / 'pod' / 'actor.log').read_text()[-4000:]}") from None
            assert ka["status"]["activeModelId"] == models.hold and ka["status"]["markets"] == 2
            assert _condition(ka, "Ready") == _condition(ka, "ModelLoaded") == _condition(ka, "ExchangeConnected") \
                == "True"
            assert ka["status"]["riskState"] == "ACTIVE" and "pnl" in ka["status"]
            # the kubelet's probes carry no token: both ports give them the summary, the full body needs a token
            for probed in (port, admin_port):
                assert set(actor_health(probed, None)) == {"ready", "live", "reasons"}
            viewer_token = _secret_value(kmock, "beta-admin", "viewer-token")
            assert actor_health(port, viewer_token)["active_model_id"] == models.hold

            # a new model: pushed, served by the same process, shown active
            await kubectl.merge_patch("kalshiactor", "beta", {"spec": {"modelId": models.maker}})
            ka = await until(lambda: _status(kubectl, lambda s: s.get("activeModelId") == models.maker),
                             timeout=30, what="the new model active in the status")
            assert ka["status"]["targetModelId"] == models.maker and _condition(ka, "ModelLoaded") == "True"
            assert actor_health(admin_port, admin_token)["active_model_id"] == models.maker
            assert actor.poll() is None  # no restart: the same process serves it
            assert "ConfigApplied" in await kubectl("get", "events", "-o", "json")

            # a model that is not in the registry: the old one keeps serving; the status says why
            await kubectl.merge_patch("kalshiactor", "beta", {"spec": {"modelId": "no-such-model"}})
            ka = await until(lambda: _status(kubectl, lambda s: (s.get("lastFailure") or {}).get("modelId")
                                             == "no-such-model"), timeout=30, what="the failure in the status")
            assert ka["status"]["activeModelId"] == models.maker
            assert ka["status"]["lastFailure"]["reason"] == "ModelLoadFailed"
            assert "no-such-model" in ka["status"]["lastFailure"]["message"]
            model_loaded = next(c for c in ka["status"]["conditions"] if c["type"] == "ModelLoaded")
            assert (model_loaded["status"], model_loaded["reason"]) == ("False", "ModelLoadFailed")
            assert actor_health(admin_port, admin_token)["active_model_id"] == models.maker and actor.poll() is None
            # the ConfigMap holds what the pod serves: a restarted pod comes back serving the last good model
            assert _config_model(kmock, "beta") == models.maker
            assert (ka["status"]["targetModelId"], ka["status"]["lastGoodModelId"]) == ("no-such-model", models.maker)
            _stop(actor)
            actor = start_pod(kmock, "beta", tmp_path / "pod", {"models": tmp_path / "pv-models"}, port, admin_port)
            await until(lambda: actor_health(admin_port, admin_token).get("active_model_id") == models.maker,
                        timeout=60, what="the restarted pod serving the last good model")

            # paused: the real actor reports risk HALTED and reasons ['halted', 'paused']; the CR says Paused
            await kubectl.merge_patch("kalshiactor", "beta", {"spec": {"modelId": models.maker, "paused": True}})
            ka = await until(lambda: _status(kubectl, lambda s: s.get("phase") == "Paused"), timeout=30,
                             what="Paused in the status")
            await until(lambda: actor_health(admin_port, admin_token)["reasons"] == ["halted", "paused"], timeout=15,
                        what="the actor's risk layer halting the paused actor (its next check)")
            await asyncio.sleep(2.5)  # a few status refreshes
            ka = await kubectl.get_json("kalshiactor", "beta")
            assert (ka["status"]["phase"], ka["status"]["reason"], ka["status"]["riskState"]) == \
                ("Paused", "Paused", "PAUSED")
            assert _condition(ka, "Ready") == "False"
            warnings = {e["reason"] for e in json.loads(await kubectl("get", "events", "-o", "json"))["items"]
                        if e.get("type") == "Warning"}
            assert not warnings & {"Halted", "RiskHalted", "Paused"}, warnings
            await kubectl.merge_patch("kalshiactor", "beta", {"spec": {"paused": False}})
            await until(lambda: _status(kubectl, lambda s: s.get("phase") == "Running"), timeout=10,
                        what="Running once the pod confirms the unpause")
        finally:
            if actor is not None:
                _stop(actor)
    if actor is not None:
        log = (tmp_path / "pod" / "actor.log").read_text()
        # SIGTERM: the actor cancels its orders, then uvicorn re-raises the signal (exit -15) or exits 0
        assert actor.returncode in (0, -signal.SIGTERM) and "shutdown:" in log, log[-3000:]


def _stop(actor: subprocess.Popen) -> None:
    actor.send_signal(signal.SIGTERM)  # the pod's stop: cancel orders, exit
    try:
        actor.wait(timeout=30)
    except subprocess.TimeoutExpired:
        actor.kill()


def _config_model(emulator: Emulator, name: str) -> str:
    return yaml.safe_load(emulator.object("v1/configmaps", "default", name)["data"]["config.yaml"])["model_id"]


async def _status(kubectl: Kubectl, predicate) -> dict | None:
    ka = await kubectl.get_json("kalshiactor", "beta")
    return ka if predicate(ka.get("status") or {}) else None


def _condition(ka: dict, kind: str) -> str | None:
    return next((c["status"] for c in ka["status"].get("conditions", []) if c["type"] == kind), None)
