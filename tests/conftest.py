"""Shared fixtures: API keys, and a simulator served on 127.0.0.1 with real sockets."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from kalshi_actor.kalshi.auth import Signer, generate_rsa_keypair, new_key_id

if TYPE_CHECKING:  # the simulator is imported lazily: a broken part must not hide every other test
    from kalshi_actor.sim.server import Simulator, Urls


@dataclass(frozen=True)
class ApiKey:
    key_id: str
    private_pem: str
    public_pem: str

    def signer(self) -> Signer:
        return Signer.from_pem(self.key_id, self.private_pem)


@pytest.fixture(scope="session")
def api_key() -> ApiKey:
    private_pem, public_pem = generate_rsa_keypair()
    return ApiKey(new_key_id(), private_pem, public_pem)


@dataclass
class RunningSim:
    sim: "Simulator"
    urls: "Urls"
    key: ApiKey

    @property
    def signer(self) -> Signer:
        return self.key.signer()


@pytest.fixture
async def sim_server(api_key: ApiKey) -> AsyncIterator[RunningSim]:
    """A simulator with 4 markets on a virtual clock (time moves only when a test advances it)."""
    from kalshi_actor.sim.server import Simulator, running
    from kalshi_actor.sim.world import World

    sim = Simulator(World(seed=7, n_markets=4, clock="virtual"))
    sim.add_key(api_key.key_id, api_key.public_pem)
    async with running(sim) as urls:
        yield RunningSim(sim, urls, api_key)


@pytest.fixture
def sim_process(api_key: ApiKey, tmp_path: Path) -> Iterator[dict[str, str]]:
    """``kalshi-actor sim`` (4 markets, real clock) as its own process, knowing ``api_key``; yields its URLs
    (``rest``, ``ws``, ``admin``). Its log is ``tmp_path / "sim.log"``."""
    log = tmp_path / "sim.log"
    proc = subprocess.Popen([str(Path(sys.executable).parent / "kalshi-actor"), "sim", "--markets", "4", "--seed", "3",
                             "--clock", "real", "--key", f"{api_key.key_id}={api_key.public_pem}"],
                            stdout=subprocess.PIPE, stderr=open(log, "w"), text=True)
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        assert line, f"the simulator did not start: {log.read_text()}"
        yield json.loads(line)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
