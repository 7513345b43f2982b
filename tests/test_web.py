"""The web view (actor/web) end to end in real headless Chromium, against a real actor trading the simulator.

This test prepares what the browser script needs -- a simulator on a real clock (a child
process), an API key, a registry with a small real model (tests/actor_models.py), the admin
token -- and runs actor/web/tests/e2e/actor-e2e.mjs, which starts the actor (``kalshi-actor
run``), checks the page as the actor trades, kills the actor, checks the page shows the loss,
restarts it and checks the page recovers, then checks that no secret reached the page.
Screenshots go to artifacts/web/.

It needs Debian's Chromium (/usr/bin/chromium), Node.js, ``npm ci`` in actor/web and the built
view (``make web``); it FAILS, never skips, when one is missing: ``.ci/run`` installs them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from actor_models import build_models
from kalshi_actor.kalshi.auth import generate_rsa_keypair, new_key_id
from support import free_port

ROOT = Path(__file__).resolve().parents[1]
WEB = ROOT / "actor" / "web"
SCRIPT = WEB / "tests" / "e2e" / "actor-e2e.mjs"
ARTIFACTS = ROOT / "artifacts" / "web"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
ADMIN_TOKEN = "e2e-admin-token-7f3a9c1d5b2e8f4a"
VIEWER_TOKEN = "e2e-viewer-token-3b9d27c4e81f"  # locked down as on Kubernetes: the page opens /#token=...
BUDGET_S = 240  # the whole browser run (about a minute and a half here)


def _require_browser_tools() -> str:
    problems = []
    if not Path(CHROMIUM).is_file():
        problems.append(f"no Chromium at {CHROMIUM}: apt-get install -y chromium (never a downloaded browser)")
    node = shutil.which("node")
    if node is None:
        problems.append("no node on PATH (Node.js 20+)")
    if not (WEB / "node_modules" / "playwright-core").is_dir():
        problems.append("actor/web/node_modules is missing: cd actor/web && npm ci")
    if not (WEB / "dist" / "index.html").is_file():
        problems.append("the view is not built: make web")
    if problems:
        pytest.fail("the browser end-to-end test cannot run:\n  " + "\n  ".join(problems))
    return node



def _secrets(key_id: str, private_pem: str) -> list[str]:
    """What must never reach the page: the key id, the admin token, every line of the private key's body."""
    body = [line for line in private_pem.splitlines() if line and not line.startswith("-----")]
    return [key_id, ADMIN_TOKEN, *body]


def test_actor_trading_view_in_chromium(tmp_path: Path) -> None:
    node = _require_browser_tools()
    models = build_models(tmp_path / "registry")
    private_pem, public_pem = generate_rsa_keypair()
    key_id = new_key_id()
    private = tmp_path / "private.pem"
    private.touch(mode=0o600)
    private.write_text(private_pem)
    cli = [sys.executable, "-m", "kalshi_actor.cli"]
    sim = subprocess.Popen([*cli, "sim", "--markets", "4", "--seed", "3", "--clock", "real", "--port", "0",
                            "--key", f"{key_id}={public_pem}"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                           text=True)
    try:
        line = sim.stdout.readline() if sim.stdout else ""
        assert line, f"the simulator did not start (exit status {sim.poll()})"
        urls = json.loads(line)
        port = free_port()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        actor_log = ARTIFACTS / "actor.log"
        actor_log.unlink(missing_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("RL_ACTOR_")}
        env |= {
            "RL_ACTOR_NAME": "e2e-actor", "RL_ACTOR_ENVIRONMENT": "sim",
            "RL_ACTOR_REST_URL": urls["rest"], "RL_ACTOR_WS_URL": urls["ws"],
            "RL_ACTOR_API_KEY_ID": key_id, "RL_ACTOR_PRIVATE_KEY_FILE": str(private),
            "RL_ACTOR_REGISTRY": str(models.root), "RL_ACTOR_MODEL_ID": models.taker,
            "RL_ACTOR_ADMIN_TOKEN": ADMIN_TOKEN, "RL_ACTOR_VIEWER_TOKEN": VIEWER_TOKEN, "RL_ACTOR_TICK_INTERVAL": "1.0",
            "E2E_ACTOR_CMD": json.dumps([*cli, "run", "--port", str(port), "--admin-port", str(free_port())]),
            "E2E_ACTOR_PORT": str(port),
            "E2E_ACTOR_LOG": str(actor_log), "E2E_ARTIFACTS": str(ARTIFACTS),
            "E2E_SECRETS": json.dumps(_secrets(key_id, private_pem)), "CHROMIUM_PATH": CHROMIUM,
        }
        try:
            run = subprocess.run([node, str(SCRIPT)], cwd=WEB, env=env, capture_output=True, text=True,
                                 timeout=BUDGET_S)
        except subprocess.TimeoutExpired as exc:
            pytest.fail(f"the browser test took over {BUDGET_S} s:\n{exc.stdout}\n{exc.stderr}")
        output = run.stdout + run.stderr
        print(output)  # the script's log of its steps (pytest -rP shows it)
        if run.returncode != 0:
            tail = actor_log.read_text()[-4000:] if actor_log.exists() else "(no actor log)"
            pytest.fail(f"the browser test failed (exit {run.returncode}):\n{output}\n--- actor log (tail) ---\n{tail}")
        assert "PASS" in run.stdout
        for shot in ("laptop-live.png", "market-detail.png", "phone-live.png", "connection-lost.png",
                     "recovered.png"):
            assert (ARTIFACTS / shot).stat().st_size > 10_000, shot
    finally:
        sim.terminate()
        try:
            sim.wait(timeout=10)
        except subprocess.TimeoutExpired:
            sim.kill()
