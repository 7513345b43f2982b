"""``kalshi-actor``: the one command-line entry point.

Subcommands:
  sim       run the Kalshi-protocol exchange simulator (``sim generate`` writes training sessions)
  keygen    write a new API key pair and print its key id
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from pathlib import Path

from . import __version__
from .units import UnitError, parse_money


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=getattr(logging, args.log_level.upper()), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args) or 0
    except CommandError as exc:
        print(f"kalshi-actor: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


class CommandError(Exception):
    """A user error: printed as one line, exit status 2."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kalshi-actor", description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)

    sim = commands.add_parser(
        "sim", help="run the Kalshi-protocol exchange simulator",
        description="Serve Kalshi's REST API (/trade-api/v2) and WebSocket (/trade-api/ws/v2) on one port, with "
                    "synthetic traders moving the markets. Prints one JSON line {rest, ws, admin} to stdout on "
                    "start, then logs to stderr.")
    _world_options(sim)
    sim.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    sim.add_argument("--port", type=int, default=0, help="port to listen on; 0 picks a free one (default: 0)")
    sim.add_argument("--clock", choices=["real", "virtual"], default="real",
                     help="real: markets move in wall time; virtual: time advances only through the admin API "
                          "(POST /sim/admin/clock/advance), for deterministic tests (default: %(default)s)")
    sim.add_argument("--key", action="append", default=[], metavar="KEY_ID=PUBLIC_KEY_PEM",
                     help="register an API key (repeatable; each key is an account); the value after '=' is a "
                          "PEM file path or PEM text")
    sim.add_argument("--initial-balance", default="10000", metavar="DOLLARS",
                     help="starting balance of each key's account, in dollars (default: %(default)s)")
    sim.add_argument("--fault-429-rate", type=float, default=0.0, help="share of REST requests answered 429")
    sim.add_argument("--fault-5xx-rate", type=float, default=0.0, help="share of REST requests answered 503")
    sim.add_argument("--fault-create-timeout-rate", type=float, default=0.0,
                     help="share of order creates accepted but answered too late (unknown outcome)")
    sim.add_argument("--fault-ws-delay-ms", type=int, default=0, help="delay added before every WebSocket frame")
    sim.set_defaults(func=_cmd_sim)

    sim_commands = sim.add_subparsers(title="sim commands", metavar="SIM_COMMAND")
    generate = sim_commands.add_parser(
        "generate", help="write simulated sessions (training data) in virtual time, as fast as the CPU allows",
        description="Run the simulator's markets in virtual time and write every WebSocket frame a subscriber to "
                    "all markets would receive into a session file.")
    _world_options(generate)
    generate.add_argument("--duration", type=float, default=3600.0, help="simulated seconds (default: %(default)s)")
    generate.add_argument("--out", type=Path, required=True, help="session file to write")
    generate.set_defaults(func=_cmd_sim_generate)

    keygen = commands.add_parser(
        "keygen", help="write a new API key pair and print its key id",
        description="Write DIR/private.pem and DIR/public.pem (RSA 2048, or Ed25519) and print a new key id. "
                    "Register the public key with the simulator (--key ID=DIR/public.pem).")
    keygen.add_argument("--out", type=Path, required=True, metavar="DIR")
    keygen.add_argument("--type", choices=["rsa", "ed25519"], default="rsa")
    keygen.add_argument("--force", action="store_true", help="overwrite an existing key pair")
    keygen.set_defaults(func=_cmd_keygen)
    return parser


def _world_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--markets", type=int, default=8, help="number of markets (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="random seed; same seed, same markets (default: 0)")


def _cmd_keygen(args: argparse.Namespace) -> int:
    from .kalshi.auth import generate_ed25519_keypair, generate_rsa_keypair, new_key_id

    private_path, public_path = args.out / "private.pem", args.out / "public.pem"
    if private_path.exists() and not args.force:
        raise CommandError(f"{private_path} exists (use --force to overwrite)")
    private_pem, public_pem = generate_rsa_keypair() if args.type == "rsa" else generate_ed25519_keypair()
    args.out.mkdir(parents=True, exist_ok=True)
    private_path.touch(mode=0o600, exist_ok=True)
    private_path.chmod(0o600)
    private_path.write_text(private_pem)
    public_path.write_text(public_pem)
    key_id = new_key_id()
    (args.out / "key_id").write_text(key_id + "\n")
    print(key_id)
    return 0


def _parse_keys(specs: list[str]) -> dict[str, str]:
    keys: dict[str, str] = {}
    for spec in specs:
        key_id, sep, value = spec.partition("=")
        if not sep or not key_id or not value:
            raise CommandError(f"--key expects KEY_ID=PUBLIC_KEY_PEM, got {spec!r}")
        path = Path(value)
        keys[key_id] = value if value.lstrip().startswith("-----BEGIN") else _read(path)
    return keys


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror}") from None


def _cmd_sim(args: argparse.Namespace) -> int:
    from .sim.faults import Faults
    from .sim.server import Simulator, bind, serve
    from .sim.world import World

    try:
        balance = parse_money(args.initial_balance)
    except UnitError as exc:
        raise CommandError(f"--initial-balance: {exc}") from None
    try:
        faults = Faults(rate_429=args.fault_429_rate, rate_5xx=args.fault_5xx_rate,
                        create_timeout_rate=args.fault_create_timeout_rate, ws_delay_ms=args.fault_ws_delay_ms,
                        seed=args.seed)
    except ValueError as exc:
        raise CommandError(f"fault flags: {exc}") from None
    sim = Simulator(World(seed=args.seed, n_markets=args.markets, clock=args.clock), faults=faults,
                    initial_balance=balance)
    try:
        for key_id, pem in _parse_keys(args.key).items():
            sim.add_key(key_id, pem)
    except ValueError as exc:
        raise CommandError(f"--key: {exc}") from None
    try:
        sock, urls = bind(args.host, args.port)
    except OSError as exc:
        raise CommandError(f"cannot listen on {args.host}:{args.port}: {exc.strerror}") from None
    print(json.dumps(urls.as_dict()), flush=True)
    logging.getLogger("kalshi_actor.sim").info(
        "simulator: %d markets, seed %d, %s clock, %d key(s); REST %s", args.markets, args.seed, args.clock,
        len(args.key), urls.rest)
    asyncio.run(serve(sim, sock))
    return 0


def _cmd_sim_generate(args: argparse.Namespace) -> int:
    from .sim.generate import generate_session

    stats = generate_session(args.out, n_markets=args.markets, seed=args.seed, duration_s=args.duration)
    print(json.dumps(stats))
    return 0


if __name__ == "__main__":
    sys.exit(main())
