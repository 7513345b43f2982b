"""The Grafana dashboard: every panel's PromQL parses (promtool) and returns data from a real Prometheus
scraping a real actor that trades the simulator (Debian's prometheus package; missing -> the test fails)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import yaml

from actor_models import build_models
from support import free_port

ROOT = Path(__file__).resolve().parents[1]
DASHBOARD = json.loads((ROOT / "dashboards" / "kalshi-actor.json").read_text())
BIN = Path(sys.executable).parent
VARIABLES = {"$__rate_interval": "15s", "$namespace": ".*", "$actor": ".*"}


def _tool(name: str) -> str:
    path = shutil.which(name)
    assert path, f"{name} is missing: .ci/run installs Debian's prometheus package (apt-get install prometheus)"
    return path


def _panels() -> list[dict]:
    return [p for p in DASHBOARD["panels"] if p["type"] != "row"]


def _expr(target: dict) -> str:
    expr = target["expr"]
    for name, value in VARIABLES.items():
        expr = expr.replace(name, value)
    return expr



def test_dashboard_has_a_row_per_concern_and_its_variables() -> None:
    rows = {p["title"] for p in DASHBOARD["panels"] if p["type"] == "row"}
    assert rows == {"P&L", "Positions and exposure", "Orders", "Fills", "Rejects", "Risk state",
                    "Decision and inference latency", "Book freshness", "Sequence gaps and resyncs", "Model",
                    "Exchange connection"}
    assert {v["name"] for v in DASHBOARD["templating"]["list"]} >= {"namespace", "actor"}
    for panel in _panels():
        assert panel["targets"] and all('actor=~"$actor"' in t["expr"] for t in panel["targets"]), panel["title"]


def test_every_expression_parses(tmp_path: Path) -> None:
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:panel{panel['id']}:{target['refId']}", "expr": _expr(target)}
        for panel in _panels() for target in panel["targets"]]}]}
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(rules))
    result = subprocess.run([_tool("promtool"), "check", "rules", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture
def trading_actor(api_key, tmp_path: Path):
    """A real actor (``kalshi-actor run``) trading ``kalshi-actor sim`` with a model that crosses the spread."""
    models = build_models(tmp_path / "models")
    sim = subprocess.Popen([str(BIN / "kalshi-actor"), "sim", "--markets", "3", "--seed", "5", "--clock", "real",
                            "--key", f"{api_key.key_id}={api_key.public_pem}"], stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, text=True)
    urls = json.loads(sim.stdout.readline())
    key = tmp_path / "private.pem"
    key.write_text(api_key.private_pem)
    port = free_port()
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "RL_ACTOR_ENVIRONMENT": "sim",
           "RL_ACTOR_REST_URL": urls["rest"], "RL_ACTOR_WS_URL": urls["ws"], "RL_ACTOR_API_KEY_ID": api_key.key_id,
           "RL_ACTOR_PRIVATE_KEY_FILE": str(key), "RL_ACTOR_REGISTRY": str(models.root),
           "RL_ACTOR_MODEL_ID": models.taker, "RL_ACTOR_MARKET_LIMIT": "3", "RL_ACTOR_TICK_INTERVAL": "1.0"}
    actor = subprocess.Popen([str(BIN / "kalshi-actor"), "run", "--port", str(port)], env=env,
                             stdout=subprocess.DEVNULL, stderr=open(tmp_path / "actor.log", "w"))
    try:
        yield port
    finally:
        for proc in (actor, sim):
            proc.terminate()
            proc.wait(timeout=30)


@pytest.fixture
def prometheus(trading_actor: int, tmp_path: Path):
    port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(yaml.safe_dump({
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [{"job_name": "kalshi-actor", "static_configs": [{
            "targets": [f"127.0.0.1:{trading_actor}"], "labels": {"namespace": "default", "actor": "dash"}}]}]}))
    checked = subprocess.run([_tool("promtool"), "check", "config", str(config)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    proc = subprocess.Popen([_tool("prometheus"), f"--config.file={config}",
                             f"--storage.tsdb.path={tmp_path / 'tsdb'}", f"--web.listen-address=127.0.0.1:{port}"],
                            stdout=subprocess.DEVNULL, stderr=open(tmp_path / "prometheus.log", "w"))
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _query(base: str, expr: str) -> list:
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=10) as response:
        body = json.loads(response.read())
    assert body["status"] == "success", body
    return body["data"]["result"]


def _empty_panels(base: str) -> list[str]:
    return [panel["title"] for panel in _panels()
            if not any(_query(base, _expr(target)) for target in panel["targets"])]


def test_every_panel_returns_data_from_a_real_prometheus(prometheus: str, tmp_path: Path) -> None:
    deadline = time.monotonic() + 90
    empty: list[str] = ["(not queried)"]
    while time.monotonic() < deadline:
        try:
            empty = _empty_panels(prometheus)
        except OSError:  # Prometheus still starting
            empty = ["(Prometheus not up)"]
        if not empty:
            break
        time.sleep(2)
    assert not empty, f"panels without data: {empty}\n{(tmp_path / 'actor.log').read_text()[-2000:]}"
    fills = _query(prometheus, 'sum(kalshi_actor_fills_total{actor="dash"})')
    assert float(fills[0]["value"][1]) > 0  # the actor really traded
