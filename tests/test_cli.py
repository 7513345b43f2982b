"""The console entry point, run as a real process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx

from kalshi_actor.kalshi.auth import Signer

CLI = [sys.executable, "-m", "kalshi_actor.cli"]


def test_help_describes_every_command() -> None:
    for args in ([], ["sim"], ["sim", "generate"], ["keygen"]):
        out = subprocess.run([*CLI, *args, "--help"], capture_output=True, text=True, check=True).stdout
        assert "usage: kalshi-actor" in out
    top = subprocess.run([*CLI, "--help"], capture_output=True, text=True, check=True).stdout
    assert "sim" in top and "keygen" in top


def test_keygen_writes_a_usable_key_pair(tmp_path: Path) -> None:
    out = subprocess.run([*CLI, "keygen", "--out", str(tmp_path)], capture_output=True, text=True, check=True)
    key_id = out.stdout.strip()
    assert len(key_id) == 36 and (tmp_path / "key_id").read_text().strip() == key_id
    assert (tmp_path / "private.pem").stat().st_mode & 0o077 == 0, "the private key must not be group/world readable"
    signer = Signer.from_pem_file(key_id, tmp_path / "private.pem")
    assert "PRIVATE" not in repr(signer)
    again = subprocess.run([*CLI, "keygen", "--out", str(tmp_path)], capture_output=True, text=True)
    assert again.returncode == 2 and "exists" in again.stderr


def test_sim_prints_its_endpoints_then_serves_signed_requests(tmp_path: Path) -> None:
    key_id = subprocess.run([*CLI, "keygen", "--out", str(tmp_path)], capture_output=True, text=True,
                            check=True).stdout.strip()
    proc = subprocess.Popen([*CLI, "sim", "--markets", "3", "--seed", "5", "--clock", "virtual",
                             "--key", f"{key_id}={tmp_path / 'public.pem'}", "--initial-balance", "250.50"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        urls = json.loads(proc.stdout.readline())
        assert set(urls) == {"rest", "ws", "admin"}
        assert urls["rest"].startswith("http://127.0.0.1:") and urls["rest"].endswith("/trade-api/v2")
        assert urls["ws"].startswith("ws://127.0.0.1:") and urls["ws"].endswith("/trade-api/ws/v2")
        signer = Signer.from_pem_file(key_id, tmp_path / "private.pem")
        path = "/trade-api/v2/portfolio/balance"
        base = urls["rest"].removesuffix("/trade-api/v2")
        assert httpx.get(base + path).status_code == 401
        reply = httpx.get(base + path, headers=signer.headers("GET", path))
        assert reply.status_code == 200, reply.text
        assert reply.json()["balance"] == 25050
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_sim_rejects_bad_flags_with_one_clear_line(tmp_path: Path) -> None:
    bad = subprocess.run([*CLI, "sim", "--key", "no-equals-sign"], capture_output=True, text=True)
    assert bad.returncode == 2 and "--key expects KEY_ID=PUBLIC_KEY_PEM" in bad.stderr
    bad = subprocess.run([*CLI, "sim", "--initial-balance", "ten"], capture_output=True, text=True)
    assert bad.returncode == 2 and "--initial-balance" in bad.stderr


def test_sim_replays_a_session_over_the_real_protocol(tmp_path: Path) -> None:
    session = tmp_path / "s.session"
    subprocess.run([*CLI, "sim", "generate", "--markets", "2", "--duration", "30", "--seed", "4", "--out",
                    str(session)], capture_output=True, text=True, check=True)
    proc = subprocess.Popen([*CLI, "sim", "--replay", str(session), "--clock", "virtual"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        urls = json.loads(proc.stdout.readline())
        httpx.post(urls["admin"] + "/clock/advance", json={"ms": 40_000}).raise_for_status()
        markets = httpx.get(urls["rest"] + "/markets").json()["markets"]
        assert len(markets) == 2
        book = httpx.get(f"{urls['rest']}/markets/{markets[0]['ticker']}/orderbook").json()["orderbook_fp"]
        assert book["yes_dollars"] and book["no_dollars"], "the recorded liquidity is served"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    bad = subprocess.run([*CLI, "sim", "--replay", str(tmp_path / "missing.session")], capture_output=True, text=True)
    assert bad.returncode == 2 and "--replay" in bad.stderr
