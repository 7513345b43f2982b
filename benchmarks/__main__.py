"""Run every ``benchmarks/bench_*.py`` (or those named on the command line) and print one table.

``python -m benchmarks``            all benchmarks
``python -m benchmarks sim ingest`` only bench_sim and bench_ingest
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from typing import Any

import benchmarks


def _modules(wanted: list[str]) -> list[str]:
    names = sorted(m.name for m in pkgutil.iter_modules(benchmarks.__path__) if m.name.startswith("bench_"))
    if wanted:
        names = [n for n in names if n.removeprefix("bench_") in wanted or n in wanted]
    return names


def _table(rows: list[dict[str, Any]]) -> str:
    columns: list[str] = []
    for row in rows:
        columns.extend(c for c in row if c not in columns)
    cells = [[str(row.get(c, "")) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths)) for r in cells]
    return "\n".join(lines)


def main(argv: list[str]) -> None:
    # One table per benchmark module: their rows measure different things, so their columns differ.
    for name in _modules(argv):
        print(f"running {name} ...", file=sys.stderr, flush=True)
        rows = importlib.import_module(f"benchmarks.{name}").run()
        print(f"\n## {name.removeprefix('bench_')}\n{_table(rows)}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
