"""What several benchmarks share: free ports, a process's RSS, the tests' helpers on the path."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent / "tests"


def tests_on_path() -> None:
    """Make tests/ importable (the benchmarks reuse its model builders and clients)."""
    if str(TESTS) not in sys.path:
        sys.path.insert(0, str(TESTS))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def proc_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")
