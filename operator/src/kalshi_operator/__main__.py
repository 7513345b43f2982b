"""``kalshi-operator [kopf run options]``: ``kopf run --standalone -m kalshi_operator.handlers`` plus the options.

Examples: ``kalshi-operator --all-namespaces`` (the chart's default), ``kalshi-operator -n trading``.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    from kopf.cli import main as kopf_main

    args = list(sys.argv[1:] if argv is None else argv)
    return kopf_main(["run", "--standalone", "-m", "kalshi_operator.handlers", *args], standalone_mode=True) or 0


if __name__ == "__main__":
    sys.exit(main())
