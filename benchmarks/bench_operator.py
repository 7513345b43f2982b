"""The operator: a model edit reaching the running actor, reconcile time per actor, memory with 50 actors.

No cluster runs here (see tests/kube_support.py): kmock's Kubernetes emulator (the tests'
extensions, and a request log kept short: :func:`_lean_emulator`) serves on 127.0.0.1 in this
process, and the operator runs as in its pod, as its own process (``kalshi-operator --namespace
default``, kopf's real runtime) against it. Objects are created and edited with HTTP requests
to the emulator (POST, and a JSON merge patch as ``kubectl patch --type=merge`` sends);
progress is read from the emulator's store. The status timer runs at the chart's default
interval (``STATUS_INTERVAL_S``). Actors without a pod are reached at a closed port on
127.0.0.1 (``KALSHI_OPERATOR_ENDPOINTS``), so their probes are refused at once.

1. ``model edit`` -- ``kalshi-actor sim`` (real clock) and an actor process started as the
   Deployment's pod template says (tests/test_operator_e2e.py ``start_pod``), serving tiny
   registry models (tests/actor_models.py: one linear layer, so the figure is the push path,
   not a big model's load). Each edit of ``spec.modelId`` is timed from the PATCH to: the
   ConfigMap carrying it (the handler ran), the actor's ``/rl/actor/health`` reporting it as
   ``active_model_id`` (pushed to the admin endpoint, loaded, swapped), and
   ``status.activeModelId`` showing it. Then through a real ``kubectl patch`` (its process
   start included), then again with 49 more KalshiActors (no pods) in the operator, their
   status timers running. Target (issue 6): under 2 s.
2. ``reconcile`` -- another emulator and operator, no pods: KalshiActors created one at a time
   (POST -> the Deployment, POST -> ``status.observedGeneration``), then a burst created at
   once, then a hot edit (``marketLimit``) of actors without a pod (PATCH -> the new
   generation observed; the ConfigMap changes, the push finds no pod and says so). The
   operator's own histogram (``kalshi_operator_reconcile_duration_seconds``) gives the time
   inside the handler.
3. ``memory`` -- that operator's RSS once started, then with 50 KalshiActors (children made,
   status timers running), and its CPU while the 50 sit idle for one timer period.

Other work on the machine's CPUs shows in the figures: the last row gives the load average.
Run alone: ``python -m benchmarks operator``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
import numpy as np

from ._support import free_port, proc_rss_mb, tests_on_path

BIN = Path(sys.executable).parent
NAMESPACE = "default"
STATUS_INTERVAL_S = 10  # the chart's default (values.yaml statusInterval)
MODEL_EDITS = 10
KUBECTL_EDITS = 5
SEQUENTIAL = 10
BURST = 10
HOT_EDITS = 10
TOTAL_ACTORS = 50
TIMEOUT_S = 30.0
API = f"/apis/trading.kalshiflow.io/v1alpha1/namespaces/{NAMESPACE}/kalshiactors"


# --- helpers --------------------------------------------------------------------------------------------------


def _row(name: str, seconds: list[float], **extra: Any) -> dict[str, Any]:
    a = np.asarray(seconds) * 1e3
    return {"benchmark": name, "n": len(a), "p50_ms": f"{np.percentile(a, 50):.0f}",
            "p90_ms": f"{np.percentile(a, 90):.0f}", "max_ms": f"{a.max():.0f}", **extra}


def _proc_cpu_s(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` (its threads included)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _until(predicate: Callable[[], Any], what: str, timeout: float = TIMEOUT_S, every: float = 0.005) -> Any:
    """Poll ``predicate`` (sync or async); its first truthy value. Fine-grained: the polls are the clock."""
    deadline = time.perf_counter() + timeout
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.perf_counter() > deadline:
            raise RuntimeError(f"{what}: not reached in {timeout} s")
        await asyncio.sleep(every)


def _actor(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "trading.kalshiflow.io/v1alpha1", "kind": "KalshiActor",
            "metadata": {"name": name, "namespace": NAMESPACE}, "spec": spec}


class _Cluster:
    """kmock's emulator (the tests' :class:`Emulator`) on 127.0.0.1, and an HTTP client to it."""

    def __init__(self, emulator: Any, session: aiohttp.ClientSession, kubeconfig: Path) -> None:
        self.emulator = emulator
        self.session = session
        self.kubeconfig = kubeconfig

    def obj(self, resource: str, name: str) -> dict[str, Any] | None:
        return self.emulator.object(resource, NAMESPACE, name)

    def actor(self, name: str) -> dict[str, Any] | None:
        from kube_support import ACTORS

        return self.obj(ACTORS, name)

    def status(self, name: str) -> dict[str, Any]:
        return (self.actor(name) or {}).get("status") or {}

    async def create(self, manifest: dict[str, Any]) -> None:
        kind = manifest["kind"]
        path = API if kind == "KalshiActor" else f"/api/v1/namespaces/{NAMESPACE}/{kind.lower()}s"
        async with self.session.post(path, json=manifest) as response:
            if response.status >= 300:
                raise RuntimeError(f"create {kind}: {response.status} {await response.text()}")

    async def patch_spec(self, name: str, spec: dict[str, Any]) -> None:
        async with self.session.patch(f"{API}/{name}", data=json.dumps({"spec": spec}),
                                      headers={"Content-Type": "application/merge-patch+json"}) as response:
            if response.status >= 300:
                raise RuntimeError(f"patch {name}: {response.status} {await response.text()}")


def _lean_emulator() -> Any:
    """The tests' emulator, keeping only the requests being served in kmock's request log.

    kmock logs every request and matches each new one to its reactions by walking that whole
    log through their filters: a request's cost grows with the number served before it (about
    50 ms each after a few hundred, here). The tests serve a few hundred; this benchmark serves
    thousands, and would measure the emulator instead of the operator.
    """
    from kube_support import Emulator

    class LeanEmulator(Emulator):
        async def _handle(self, request):  # type: ignore[no-untyped-def]
            serving = self.__dict__.setdefault("_serving", set())
            serving.add(id(request))
            self._requests[:] = [r for r in self._requests if id(r) in serving]
            try:
                return await super()._handle(request)
            finally:
                serving.discard(id(request))

    return LeanEmulator()


@contextlib.asynccontextmanager
async def _cluster(root: Path, *, pod_monitors: bool) -> AsyncIterator[_Cluster]:
    import kmock
    from kube_support import declare, write_kubeconfig

    async with _lean_emulator() as emulator, kmock.Server(emulator):
        declare(emulator, pod_monitors=pod_monitors)
        url = str(emulator.url).rstrip("/")
        kubeconfig = write_kubeconfig(root / "kubeconfig", url)
        async with aiohttp.ClientSession(base_url=url) as session:
            yield _Cluster(emulator, session, kubeconfig)


class _Operator:
    """``kalshi-operator --namespace default`` in its own process, as in its pod."""

    def __init__(self, proc: asyncio.subprocess.Process, metrics_port: int, log: Path) -> None:
        self.proc = proc
        self.pid = proc.pid
        self.metrics_port = metrics_port
        self.log = log

    async def metrics(self) -> dict[str, float]:
        from prometheus_client.parser import text_string_to_metric_families

        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{self.metrics_port}/metrics") as response:
                text = await response.text()
        samples: dict[str, float] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()) if k != "le")
                if "le" not in sample.labels:
                    samples[sample.name + (f"{{{labels}}}" if labels else "")] = sample.value
        return samples

    def tail(self) -> str:
        return self.log.read_text()[-3000:] if self.log.exists() else ""


@contextlib.asynccontextmanager
async def _operator(cluster: _Cluster, root: Path, endpoints: dict[str, str]) -> AsyncIterator[_Operator]:
    metrics_port = free_port()
    env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig), "KALSHI_OPERATOR_METRICS_PORT": str(metrics_port),
           "KALSHI_OPERATOR_STATUS_INTERVAL": str(STATUS_INTERVAL_S),
           "KALSHI_OPERATOR_ACTOR_IMAGE": "registry.example/kalshi-actor:bench",
           "KALSHI_OPERATOR_ENDPOINTS": json.dumps(endpoints)}
    log = root / "operator.log"
    with open(log, "w") as out:
        proc = await asyncio.create_subprocess_exec(str(BIN / "kalshi-operator"), "--namespace", NAMESPACE,
                                                    env=env, stdout=out, stderr=subprocess.STDOUT)
    operator = _Operator(proc, metrics_port, log)
    try:
        yield operator
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 20)
            except TimeoutError:
                proc.kill()
                await proc.wait()


async def _metrics_up(operator: _Operator) -> bool:
    if operator.proc.returncode is not None:
        raise RuntimeError(f"the operator exited ({operator.proc.returncode}):\n{operator.tail()}")
    try:
        await operator.metrics()
        return True
    except aiohttp.ClientError:
        return False


async def _reconciled(cluster: _Cluster, names: list[str], generation: int, operator: _Operator) -> list[float]:
    """The moments (``perf_counter``) ``status.observedGeneration`` of each of ``names`` reaches ``generation``."""
    seen: dict[str, float] = {}

    def poll() -> bool:
        for name in names:
            if name not in seen and (cluster.status(name).get("observedGeneration") or 0) >= generation:
                seen[name] = time.perf_counter()
        return len(seen) == len(names)

    try:
        await _until(poll, f"generation {generation} observed for {sorted(set(names) - set(seen))}")
    except RuntimeError as exc:
        raise RuntimeError(f"{exc}\nthe operator's log:\n{operator.tail()}") from None
    return [seen[name] for name in names]


def _handler_seconds(before: dict[str, float], after: dict[str, float]) -> tuple[int, float]:
    """(reconciles, their mean seconds inside the handler) between two metric scrapes."""
    name = "kalshi_operator_reconcile_duration_seconds"
    count = after[f"{name}_count"] - before[f"{name}_count"]
    total = after[f"{name}_sum"] - before[f"{name}_sum"]
    return int(count), (total / count if count else float("nan"))


# --- 1. a model edit reaching the running actor ---------------------------------------------------------------


@contextlib.asynccontextmanager
async def _simulator(root: Path, key: Any) -> AsyncIterator[dict[str, str]]:
    proc = subprocess.Popen([str(BIN / "kalshi-actor"), "sim", "--markets", "4", "--seed", "3", "--clock", "real",
                             "--key", f"{key.key_id}={key.public_pem}"],
                            stdout=subprocess.PIPE, stderr=open(root / "sim.log", "w"), text=True)
    try:
        line = await asyncio.to_thread(proc.stdout.readline)
        if not line:
            raise RuntimeError(f"the simulator did not start: {(root / 'sim.log').read_text()[-2000:]}")
        yield json.loads(line)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


async def _health(session: aiohttp.ClientSession, url: str, auth: dict[str, str]) -> dict[str, Any]:
    """The actor's health body; ``auth``: the admin token's header (the detail needs it)."""
    try:
        async with session.get(url, headers=auth, timeout=aiohttp.ClientTimeout(total=2)) as response:
            return await response.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError, ValueError):
        return {}


async def _timed_edit(cluster: _Cluster, session: aiohttp.ClientSession, health_url: str, auth: dict[str, str],
                      model: str, edit: Callable[[], Awaitable[Any]]) -> tuple[float, float, float]:
    """(ConfigMap updated, actor serving, status active) in seconds from the start of ``edit``."""

    async def serving() -> float:
        await _until(lambda: _serves(session, health_url, auth, model), f"the actor serving {model}", every=0.01)
        return time.perf_counter() - start

    async def config_map() -> float:
        await _until(lambda: f"model_id: {model}" in ((cluster.obj("v1/configmaps", "beta") or {}).get("data") or {})
                     .get("config.yaml", ""), f"the ConfigMap naming {model}")
        return time.perf_counter() - start

    async def status() -> float:
        await _until(lambda: cluster.status("beta").get("activeModelId") == model, f"status.activeModelId {model}")
        return time.perf_counter() - start

    start = time.perf_counter()
    watchers = [asyncio.create_task(c()) for c in (config_map, serving, status)]
    await edit()
    cm, serve, stat = await asyncio.gather(*watchers)
    return cm, serve, stat


async def _serves(session: aiohttp.ClientSession, url: str, auth: dict[str, str], model: str) -> bool:
    return (await _health(session, url, auth)).get("active_model_id") == model


async def bench_model_edit(root: Path) -> list[dict[str, Any]]:
    tests_on_path()
    from actor_models import build_models
    from kube_support import Kubectl
    from test_operator_e2e import _secret_value, start_pod

    from kalshi_actor.kalshi.auth import generate_rsa_keypair, new_key_id

    private_pem, public_pem = generate_rsa_keypair()
    key = SimpleNamespace(key_id=new_key_id(), private_pem=private_pem, public_pem=public_pem)

    models = build_models(root / "pv-models" / "team")
    port, admin_port = free_port(), free_port()
    health_url = f"http://127.0.0.1:{admin_port}/rl/actor/health"  # the admin port, as the operator reads it
    auth: dict[str, str] = {}  # the admin token's header, once the operator made the Secret
    idle = [f"idle-{i:02d}" for i in range(TOTAL_ACTORS - 1)]  # no pods: their probes are refused at once
    closed = free_port()
    endpoints = {f"{NAMESPACE}/beta": f"http://127.0.0.1:{admin_port}",
                 **{f"{NAMESPACE}/{name}": f"http://127.0.0.1:{closed}" for name in idle}}
    actor = None
    async with _simulator(root, key) as urls, _cluster(root, pod_monitors=False) as cluster, \
            _operator(cluster, root, endpoints) as operator, aiohttp.ClientSession() as session:
        kubectl = Kubectl(cluster.kubeconfig)
        sequence = [models.maker, models.hold]
        edits = 0

        async def edit(via_kubectl: bool = False) -> tuple[float, float, float]:
            nonlocal edits
            model = sequence[edits % 2]
            edits += 1
            if via_kubectl:
                change = lambda: kubectl.merge_patch("kalshiactor", "beta", {"spec": {"modelId": model}})  # noqa: E731
            else:
                change = lambda: cluster.patch_spec("beta", {"modelId": model})  # noqa: E731
            result = await _timed_edit(cluster, session, health_url, auth, model, change)
            await asyncio.sleep(0.5)  # kopf settles (its own annotations patch) before the next edit
            return result

        def template() -> Any:
            return cluster.obj("apps/v1/deployments", "beta")["spec"]["template"]

        try:
            await _until(lambda: _metrics_up(operator), "the operator's metrics endpoint", every=0.05)
            await cluster.create({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "sim-key"},
                                  "stringData": {"api-key-id": key.key_id, "private-key": key.private_pem}})
            await cluster.create(_actor(
                "beta", modelId=models.hold, environment="sim", marketLimit=2, tickInterval=1.0,
                exchange={"restUrl": urls["rest"], "wsUrl": urls["ws"]}, credentialsSecretRef={"name": "sim-key"},
                registry={"claimName": "models", "path": "team"}))
            await _reconciled(cluster, ["beta"], 1, operator)
            before = template()
            actor = start_pod(cluster.emulator, "beta", root / "pod", {"models": root / "pv-models"}, port, admin_port)
            auth["Authorization"] = f"Bearer {_secret_value(cluster.emulator, 'beta-admin', 'token')}"
            try:
                await _until(lambda: _ready(session, health_url, auth, models.hold), "the actor ready", timeout=90,
                             every=0.2)
            except RuntimeError:
                raise RuntimeError(f"the actor's log:\n{(root / 'pod' / 'actor.log').read_text()[-3000:]}") from None
            alone = [await edit() for _ in range(MODEL_EDITS)]
            by_kubectl = [await edit(via_kubectl=True) for _ in range(KUBECTL_EDITS)]
            for name in idle:
                await cluster.create(_actor(name, modelId="m-1"))
            await _reconciled(cluster, idle, 1, operator)
            await asyncio.sleep(3.0)  # their status timers are running
            loaded = [await edit() for _ in range(MODEL_EDITS)]
            same_pod = template() == before and actor.poll() is None
            errors = _log_errors(operator)
            pushes = (await operator.metrics())["kalshi_operator_config_pushes_total{result=applied}"]
        finally:
            if actor is not None:
                actor.send_signal(signal.SIGTERM)
                try:
                    await asyncio.to_thread(actor.wait, 30)
                except subprocess.TimeoutExpired:
                    actor.kill()
    note = (f"{pushes:.0f} pushes applied for {edits} edits; " +
            ("pod template unchanged, same actor process" if same_pod else "the pod was rolled or the actor died!"))
    cm, serve, stat = (list(x) for x in zip(*alone))
    return [
        _row("model edit: PATCH -> ConfigMap updated (handler ran)", cm),
        _row("model edit: PATCH -> actor serving the new model", serve, target="< 2000 ms", note=note),
        _row("model edit: PATCH -> status.activeModelId", stat, target="< 2000 ms"),
        _row("model edit via `kubectl patch` (its process included) -> actor serving", [r[1] for r in by_kubectl],
             target="< 2000 ms"),
        _row("model edit via `kubectl patch` -> status.activeModelId", [r[2] for r in by_kubectl]),
        _row(f"model edit, {len(idle)} more KalshiActors in the operator: PATCH -> actor serving",
             [r[1] for r in loaded], target="< 2000 ms"),
        _row(f"model edit, {len(idle)} more KalshiActors in the operator: PATCH -> status.activeModelId",
             [r[2] for r in loaded], target="< 2000 ms", note=f"operator log errors: {errors}"),
    ]


def _log_errors(operator: _Operator) -> int:
    return sum(1 for line in operator.log.read_text().splitlines() if "[ERROR" in line or "Traceback" in line)


async def _ready(session: aiohttp.ClientSession, url: str, auth: dict[str, str], model: str) -> bool:
    body = await _health(session, url, auth)
    return bool(body.get("ready")) and body.get("active_model_id") == model


# --- 2 and 3. reconcile time and memory, no pods --------------------------------------------------------------


async def bench_reconcile_and_memory(root: Path) -> list[dict[str, Any]]:
    tests_on_path()
    names = ["warmup"] + [f"bench-{i:02d}" for i in range(TOTAL_ACTORS - 1)]
    closed = free_port()  # nothing listens: every probe of "the pod" is refused at once
    endpoints = {f"{NAMESPACE}/{name}": f"http://127.0.0.1:{closed}" for name in names}
    rows: list[dict[str, Any]] = []
    async with _cluster(root, pod_monitors=True) as cluster, _operator(cluster, root, endpoints) as operator:
        spawned = time.perf_counter()
        await _until(lambda: _metrics_up(operator), "the operator's metrics endpoint", every=0.02)
        started = time.perf_counter() - spawned
        await asyncio.sleep(1.0)  # its watch is up; RSS after start-up, before any actor
        rss_empty = proc_rss_mb(operator.pid)
        start = time.perf_counter()
        await cluster.create(_actor("warmup", modelId="m-1"))
        first = (await _reconciled(cluster, ["warmup"], 1, operator))[0] - start

        # one at a time: POST -> Deployment exists, POST -> status.observedGeneration
        before = await operator.metrics()
        observed, deployed = [], []
        for name in names[1:1 + SEQUENTIAL]:
            start = time.perf_counter()
            await cluster.create(_actor(name, modelId="m-1", marketLimit=5))
            await _until(lambda n=name: cluster.obj("apps/v1/deployments", n), f"{name}'s Deployment")
            deployed.append(time.perf_counter() - start)
            observed.append((await _reconciled(cluster, [name], 1, operator))[0] - start)
        count, inside = _handler_seconds(before, await operator.metrics())
        rows.append(_row("reconcile (create, one at a time): POST -> Deployment created", deployed))
        rows.append(_row("reconcile (create, one at a time): POST -> status.observedGeneration", observed,
                         note=f"inside the handler: mean {inside * 1e3:.0f} ms over {count}"))

        # a burst: all created at once
        burst = names[1 + SEQUENTIAL:1 + SEQUENTIAL + BURST]
        before = await operator.metrics()
        start = time.perf_counter()
        posted = []
        for name in burst:
            await cluster.create(_actor(name, modelId="m-1"))
            posted.append(time.perf_counter())
        done = await _reconciled(cluster, burst, 1, operator)
        whole = max(done) - start
        count, inside = _handler_seconds(before, await operator.metrics())
        rows.append(_row(f"reconcile (create, burst of {BURST}): POST -> status.observedGeneration",
                         [d - p for d, p in zip(done, posted)],
                         note=f"all {BURST} in {whole * 1e3:.0f} ms; inside the handler: mean {inside * 1e3:.0f} ms"))

        # a hot edit without a pod: the ConfigMap changes, the push finds no pod, the generation is observed
        before = await operator.metrics()
        hot = []
        for i, name in enumerate(names[1:1 + HOT_EDITS]):
            start = time.perf_counter()
            await cluster.patch_spec(name, {"marketLimit": 20 + i})
            hot.append((await _reconciled(cluster, [name], 2, operator))[0] - start)
            await asyncio.sleep(0.2)
        after = await operator.metrics()
        count, inside = _handler_seconds(before, after)
        unreachable = after['kalshi_operator_config_pushes_total{result=unreachable}'] - before[
            'kalshi_operator_config_pushes_total{result=unreachable}']
        cm = _config_value(cluster.obj("v1/configmaps", names[HOT_EDITS]), "market_limit")
        rows.append(_row("reconcile (hot edit marketLimit, no pod): PATCH -> status.observedGeneration", hot,
                         note=f"inside the handler: mean {inside * 1e3:.0f} ms over {count}; pushes refused "
                              f"by no pod: {unreachable:.0f}; ConfigMap market_limit {cm}"))

        # memory: up to 50 actors, then one status-timer period idle
        rest = names[1 + SEQUENTIAL + BURST:]
        for name in rest:
            await cluster.create(_actor(name, modelId="m-1"))
        await _reconciled(cluster, rest, 1, operator)
        before = await operator.metrics()
        cpu0, t0 = _proc_cpu_s(operator.pid), time.perf_counter()
        samples = []
        while time.perf_counter() - t0 < STATUS_INTERVAL_S + 2:
            await asyncio.sleep(1.0)
            samples.append(proc_rss_mb(operator.pid))
        cpu = (_proc_cpu_s(operator.pid) - cpu0) / (time.perf_counter() - t0)
        after = await operator.metrics()
        refreshes = sum(after[k] - before.get(k, 0) for k in after if k.startswith(
            "kalshi_operator_status_refreshes_total"))
        assert sum(1 for n in names if cluster.actor(n)) == TOTAL_ACTORS
        rss_full = samples[-1]
        rows.append({"benchmark": "operator RSS: started, no KalshiActor", "value": f"{rss_empty:.1f} MB"})
        rows.append({"benchmark": f"operator RSS: {TOTAL_ACTORS} KalshiActors (children made, timers running)",
                     "n": len(samples), "value": f"{rss_full:.1f} MB (first sample {samples[0]:.1f})",
                     "note": f"{(rss_full - rss_empty) / TOTAL_ACTORS * 1024:.0f} kB per actor"})
        rows.append({"benchmark": f"operator CPU: {TOTAL_ACTORS} KalshiActors idle, one {STATUS_INTERVAL_S} s "
                                  "status period", "value": f"{cpu * 100:.1f} % of a core",
                     "note": f"{refreshes:.0f} status refreshes; operator log errors: {_log_errors(operator)}"})
        rows.append({"benchmark": "operator start: process -> its startup handlers done (metrics served)",
                     "value": f"{started * 1e3:.0f} ms",
                     "note": f"then the first KalshiActor: POST -> observed in {first * 1e3:.0f} ms"})
    return rows


def _config_value(config_map: dict[str, Any] | None, key: str) -> Any:
    import yaml

    return yaml.safe_load(((config_map or {}).get("data") or {}).get("config.yaml", "{}")).get(key)


# --- run --------------------------------------------------------------------------------------------------------


async def _run() -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="ka-bench-operator-") as tmp:
        root = Path(tmp)
        (root / "edit").mkdir()
        (root / "reconcile").mkdir()
        rows = await bench_model_edit(root / "edit")
        rows += await bench_reconcile_and_memory(root / "reconcile")
    return rows


def run() -> list[dict[str, Any]]:
    had_interval = "KALSHI_OPERATOR_STATUS_INTERVAL" in os.environ
    load = os.getloadavg()[0]
    try:
        rows = asyncio.run(_run())
    finally:
        if not had_interval:  # tests/kube_support.py sets it for the tests when imported
            os.environ.pop("KALSHI_OPERATOR_STATUS_INTERVAL", None)
    rows.append({"benchmark": "machine: load average (1 min) at the start, at the end", "n": os.cpu_count(),
                 "value": f"{load:.2f}, {os.getloadavg()[0]:.2f}"})
    return rows


if __name__ == "__main__":
    for row in run():
        print(row)
