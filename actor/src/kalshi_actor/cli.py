"""``kalshi-actor``: the one command-line entry point.

Subcommands:
  sim       run the Kalshi-protocol exchange simulator (``sim generate`` writes training sessions)
  keygen    write a new API key pair and print its key id
  record    record an exchange's frames of N markets into a session
  models    list, show, verify and promote models of the registry
  train     train a PPO policy on sessions (or simulated ones) into the registry
  evaluate  a registry model against baselines on held-out sessions (table + PNG)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from dataclasses import replace
from pathlib import Path

from . import __version__
from .units import UnitError, parse_money


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=getattr(logging, args.log_level.upper()), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request drowns everything else
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
    parser = argparse.ArgumentParser(prog="kalshi-actor", description="Reinforcement-learning trading actors for "
                                     "Kalshi, with a Kalshi-protocol exchange simulator.",
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
    sim.add_argument("--replay", type=Path, metavar="SESSION",
                     help="serve a recorded session's books instead of synthetic traders (orders trade against "
                          "the recorded liquidity); --markets and --seed are then ignored")
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
    generate.add_argument("--regime", action="append", default=None, metavar="NAME",
                          help="market regime (repeatable: cycled over the markets; quiet, trending, jumpy, informed, "
                               "wide, narrow, maker_fee, settling, base); default: the base simulator, no regimes named")
    generate.add_argument("--no-latent", action="store_true",
                          help="do not write the evaluation-only latent sidecar (OUT.latent.npz)")
    generate.set_defaults(func=_cmd_sim_generate)

    run = commands.add_parser(
        "run", help="run the actor: trade, and serve /rl/actor/ws, /rl/actor/health, /metrics",
        description="Run the trading actor (FastAPI under uvicorn). Configuration comes from RL_ACTOR_* environment "
                    "variables and the optional RL_ACTOR_CONFIG_FILE. --sim starts the built-in simulator alongside "
                    "with a fresh key (a local run needs nothing else).")
    run.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    run.add_argument("--port", type=int, default=8000, help="the public port: web view, /rl/actor/ws, health, "
                                                          "metrics (default: %(default)s)")
    run.add_argument("--admin-host", default="127.0.0.1", help="address of the admin port (default: %(default)s)")
    run.add_argument("--admin-port", type=int, default=8081, help="the admin port: POST /rl/actor/config, and "
                                                                "health for probes (default: %(default)s)")
    run.add_argument("--sim", action="store_true", help="start the built-in simulator and trade against it")
    run.add_argument("--sim-markets", type=int, default=8, help="the simulator's markets with --sim (default: 8)")
    run.add_argument("--sim-seed", type=int, default=0, help="the simulator's seed with --sim (default: 0)")
    run.set_defaults(func=_cmd_run)

    keygen = commands.add_parser(
        "keygen", help="write a new API key pair and print its key id",
        description="Write DIR/private.pem and DIR/public.pem (RSA 2048, or Ed25519) and print a new key id. "
                    "Register the public key with the simulator (--key ID=DIR/public.pem).")
    keygen.add_argument("--out", type=Path, required=True, metavar="DIR")
    keygen.add_argument("--type", choices=["rsa", "ed25519"], default="rsa")
    keygen.add_argument("--force", action="store_true", help="overwrite an existing key pair")
    keygen.set_defaults(func=_cmd_keygen)
    _record_parser(commands)
    _models_parser(commands)
    _train_parser(commands)
    _evaluate_parser(commands)
    return parser


def _record_parser(commands: argparse._SubParsersAction) -> None:
    record = commands.add_parser(
        "record", help="record an exchange's WebSocket frames of N markets into a session (training data)",
        description="Follow markets on the simulator or on Kalshi (orderbook_delta, trade, ticker, "
                    "market_lifecycle_v2) and write every frame as received, with its receive time, to a session "
                    "file until --duration passes or SIGINT/SIGTERM. The key comes from --key-id/--private-key-file "
                    "or KALSHI_API_KEY_ID and KALSHI_PRIVATE_KEY (PEM text) or KALSHI_PRIVATE_KEY_FILE.")
    record.add_argument("--env", choices=["sim", "demo", "production"], default=None,
                        help="exchange (default: sim at 127.0.0.1:8000, as `make run` serves it)")
    record.add_argument("--rest-url", help="REST base URL, e.g. http://127.0.0.1:8000/trade-api/v2")
    record.add_argument("--ws-url", help="WebSocket URL, e.g. ws://127.0.0.1:8000/trade-api/ws/v2")
    record.add_argument("--key-id", help="API key id (default: $KALSHI_API_KEY_ID)")
    record.add_argument("--private-key-file", type=Path, help="PEM private key (default: $KALSHI_PRIVATE_KEY or "
                                                              "$KALSHI_PRIVATE_KEY_FILE)")
    which = record.add_mutually_exclusive_group()
    which.add_argument("--markets", type=int, default=10, help="follow the N most traded open markets (default: 10)")
    which.add_argument("--tickers", help="follow these markets (comma-separated tickers)")
    record.add_argument("--duration", type=float, default=None, help="seconds to record (default: until stopped)")
    record.add_argument("--out", type=Path, default=None,
                        help="session file to create (default: sessions/<UTC time>-<env>.session)")
    record.add_argument("--fsync", action="store_true", help="fsync every flush (survives power loss too)")
    record.set_defaults(func=_cmd_record)


def _models_parser(commands: argparse._SubParsersAction) -> None:
    models = commands.add_parser(
        "models", help="list, inspect, verify and promote the models of the registry",
        description="The model registry is a directory (a PVC in Kubernetes): one folder per model with its "
                    "metadata and checksums, and a `latest` pointer.")
    _registry_option(models)
    actions = models.add_subparsers(title="models commands", metavar="MODELS_COMMAND", required=True)
    actions.add_parser("list", help="the models, newest first (* = latest)").set_defaults(func=_cmd_models_list)
    show = actions.add_parser("show", help="a model's metadata and paths as JSON (checksums verified)")
    show.add_argument("model_id", nargs="?", default=None, help="model id (default: latest)")
    show.set_defaults(func=_cmd_models_show)
    latest = actions.add_parser("set-latest", help="make a model the one actors load by default")
    latest.add_argument("model_id")
    latest.set_defaults(func=_cmd_models_set_latest)
    verify = actions.add_parser("verify", help="check every file of the models against its checksum")
    verify.add_argument("model_ids", nargs="*", help="model ids (default: all)")
    verify.set_defaults(func=_cmd_models_verify)


def _train_parser(commands: argparse._SubParsersAction) -> None:
    train = commands.add_parser(
        "train", help="train a PPO policy on sessions (or simulated ones) and publish it to the registry",
        description="Train stable-baselines3 PPO in the training environment (one market per episode, the live "
                    "actor's observation, actions and accounting) and publish the model with its metadata. Without "
                    "--sessions, simulator sessions are generated into a cache directory. The model is evaluated "
                    "against baselines on held-out sessions before it is published.")
    train.add_argument("--sessions", nargs="*", default=[], metavar="PATH", help="session files or directories")
    train.add_argument("--quick", dest="preset", action="store_const", const="quick", default="default",
                       help="the quick preset (the default model of `make run`: a few simulated sessions, ~1-2 min)")
    train.add_argument("--if-missing", action="store_true", help="do nothing when the registry already has a model")
    _registry_option(train, cache=True)
    train.add_argument("--eval-sessions", nargs="*", default=[], metavar="PATH",
                       help="held-out sessions for the evaluation (default: simulated ones with other seeds)")
    train.add_argument("--no-eval", action="store_true", help="skip the held-out evaluation")
    train.add_argument("--timesteps", type=int, help="environment steps to train for")
    train.add_argument("--seed", type=int, help="random seed (default: 0)")
    train.add_argument("--seeds", type=int, help="seeds to train in parallel processes (seed, seed+1, ...); the "
                                                 "validation sessions pick one (default: the preset's)")
    train.add_argument("--n-envs", type=int, help="parallel environments (in one process)")
    train.add_argument("--threads", type=int, help="torch threads (default: 1)")
    train.add_argument("--tick-interval", type=float, help="seconds between decisions, exchange clock (0: every "
                                                          "book change; default 1.0, as the live actor)")
    train.add_argument("--pricing", choices=["join", "improve", "cross"], help="order pricing (default: join)")
    train.add_argument("--size", type=int, help="order size in hundredths of a contract (default: 100)")
    train.add_argument("--inventory-penalty", type=float, help="dollars per contract held per hour (default: 0)")
    for name, kind in (("learning-rate", float), ("n-steps", int), ("batch-size", int), ("n-epochs", int),
                       ("gamma", float), ("gae-lambda", float), ("clip-range", float), ("ent-coef", float)):
        train.add_argument(f"--{name}", type=kind, help="PPO hyperparameter")
    train.set_defaults(func=_cmd_train)


def _evaluate_parser(commands: argparse._SubParsersAction) -> None:
    evaluate = commands.add_parser(
        "evaluate", help="evaluate a registry model against baselines on held-out sessions (table + JSON + PNG)",
        description="Play the model (deterministic and stochastic) and every baseline on the SAME held-out episodes "
                    "(one market of one session each) through the training environment. Per policy: mean and IQM "
                    "of net P&L per episode after fees, Sharpe, time-weighted |position|, fills, fees, 10 s/60 s "
                    "fill markouts, latent edge (simulator sessions with the latent sidecar), action shares, "
                    "entropy, and COLLAPSED for a constant trading action. The model against each baseline: the "
                    "mean paired difference with a bootstrap CI resampling sessions, Holm-adjusted, the "
                    "probability of improvement and a verdict. Tunable baselines are tuned on validation sessions. "
                    "Without --sessions: 30 simulated sessions on seeds 50001.. (validation: 40001..), generated "
                    "once into the cache; explicit sessions are split walk-forward by time into validation and "
                    "test unless --validation-sessions is given.")
    evaluate.add_argument("model_id", nargs="?", default=None, metavar="MODEL", help="model id (default: latest)")
    evaluate.add_argument("--sessions", nargs="*", default=[], metavar="PATH",
                          help="held-out session files or directories (default: simulated ones, seeds 50001..)")
    evaluate.add_argument("--validation-sessions", nargs="*", default=None, metavar="PATH",
                          help="sessions for tuning the baselines' parameters (default: the earliest 30%% of "
                               "--sessions, or simulated ones on seeds 40001..)")
    evaluate.add_argument("--n-sessions", type=int, default=None,
                          help="simulated held-out sessions when none are given (default: 30, seeds 50001..)")
    _registry_option(evaluate, cache=True)
    evaluate.add_argument("--png", type=Path, default=None,
                          help="the figure (default: evaluation-MODEL.png; the JSON report goes beside it)")
    evaluate.add_argument("--seed", type=int, default=0, help="seed of the bootstrap, random play and baselines")
    evaluate.add_argument("--workers", type=int, default=None,
                          help="processes playing policies in parallel (default: up to 4, one per core)")
    evaluate.add_argument("--no-stochastic", action="store_true", help="skip the model's stochastic play")
    evaluate.add_argument("--json", action="store_true", help="print the JSON report after the table")
    evaluate.set_defaults(func=_cmd_evaluate)


def _cmd_train(args: argparse.Namespace) -> int:
    from .registry import RegistryError
    from .training.train import run_cli

    overrides = {k: v for k, v in (("timesteps", args.timesteps), ("seed", args.seed), ("seeds", args.seeds),
                                   ("n_envs", args.n_envs),
                                   ("threads", args.threads)) if v is not None}
    env = {k: v for k, v in (("tick_interval_s", args.tick_interval), ("inventory_penalty", args.inventory_penalty))
           if v is not None}
    if args.pricing is not None or args.size is not None:
        from .trading.actions import ActionConfig

        env["action"] = ActionConfig(size=args.size or 100, pricing=args.pricing or "join")
    ppo = {k: getattr(args, k) for k in ("learning_rate", "n_steps", "batch_size", "n_epochs", "gamma", "gae_lambda",
                                         "clip_range", "ent_coef") if getattr(args, k) is not None}
    try:
        record = run_cli(sessions=args.sessions, preset=args.preset, registry=_registry(args),
                         cache_dir=args.cache_dir, eval_sessions=args.eval_sessions, no_eval=args.no_eval,
                         if_missing=args.if_missing, overrides=overrides, env_overrides=env, ppo_overrides=ppo)
    except (ValueError, OSError, RegistryError) as exc:
        raise CommandError(str(exc)) from None
    if record is not None:
        print(record.model_id)
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    import os

    from .registry import RegistryError
    from .training.env import session_paths
    from .training.evaluate import TEST, VALIDATION, evaluate_model, walk_forward, write_json
    from .training.train import default_cache_dir, simulated_sessions

    try:
        registry = _registry(args)
        record = registry.resolve(args.model_id)
        cache = args.cache_dir or default_cache_dir()
        if args.sessions:
            validation, test = walk_forward(session_paths(args.sessions))
        else:
            test = simulated_sessions(replace(TEST, count=args.n_sessions) if args.n_sessions else TEST, cache)
            validation = simulated_sessions(VALIDATION, cache)
        if args.validation_sessions is not None:
            validation, test = session_paths(args.validation_sessions), session_paths(args.sessions) or test
        png = args.png or Path(f"evaluation-{record.model_id}.png")
        workers = args.workers or max(1, min(4, len(os.sched_getaffinity(0))))
        report = evaluate_model(registry, record.model_id, test, validation=validation, png=png, seed=args.seed,
                                stochastic=not args.no_stochastic, workers=workers)
        saved = write_json(report, png.with_suffix(".json"))
    except (ValueError, OSError, RegistryError) as exc:
        raise CommandError(str(exc)) from None
    print(report.table)
    print(f"report: {report.png} and {saved} ({report.meta.get('wall_s')} s)")
    if args.json:
        print(json.dumps(report.to_json(), indent=2, default=str))
    return 0


def _registry_option(parser: argparse.ArgumentParser, *, cache: bool = False) -> None:
    parser.add_argument("--registry", type=Path, default=None,
                        help="registry directory (default: $KALSHI_MODEL_REGISTRY, else ./models)")
    if cache:
        parser.add_argument("--cache-dir", type=Path, default=None, help="where simulated sessions are generated")


def _world_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--markets", type=int, default=8, help="number of markets (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="random seed; same seed, same markets (default: 0)")


def _cmd_run(args: argparse.Namespace) -> int:
    import os

    from .actor.config import ConfigError, configure_logging, load_config
    from .actor.run import Listen, run, run_with_simulator

    listen = Listen(args.host, args.port, args.admin_host, args.admin_port)
    try:
        if args.sim:  # the config (and so its log format) exists once the simulator gave its address
            run_with_simulator(os.environ, listen, args.sim_markets, args.sim_seed, args.log_level.upper())
        else:
            config = load_config(os.environ)
            configure_logging(config.log_format, args.log_level.upper())
            run(config, listen)
    except ConfigError as exc:
        raise CommandError(str(exc)) from None
    return 0


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
    if args.replay:
        from .sessions.format import SessionError
        from .sim.replay import ReplayWorld

        try:
            world = ReplayWorld(args.replay, clock=args.clock)
        except (OSError, SessionError, ValueError) as exc:
            raise CommandError(f"--replay: {exc}") from None
    else:
        world = World(seed=args.seed, n_markets=args.markets, clock=args.clock)
    sim = Simulator(world, faults=faults, initial_balance=balance)
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
        "simulator: %d markets (%s), %s clock, %d key(s); REST %s", len(sim.engine.markets),
        f"replay of {args.replay}" if args.replay else f"seed {args.seed}", args.clock, len(args.key), urls.rest)
    asyncio.run(serve(sim, sock))
    return 0


def _cmd_sim_generate(args: argparse.Namespace) -> int:
    from .sim.generate import generate_session

    try:
        stats = generate_session(args.out, n_markets=args.markets, seed=args.seed, duration_s=args.duration,
                                 regimes=args.regime, latent=not args.no_latent)
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    print(json.dumps(stats))
    return 0


def _cmd_record(args: argparse.Namespace) -> int:
    from datetime import datetime, timezone

    from .sessions.record import RecordError, endpoints, load_signer, record

    try:
        urls = endpoints(args.env, args.rest_url, args.ws_url)
        signer = load_signer(args.key_id, args.private_key_file)
        tickers = [t.strip() for t in args.tickers.split(",") if t.strip()] if args.tickers else None
        out = args.out or Path("sessions") / f"{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}-{urls.name}.session"
        stats = asyncio.run(record(out, endpoints=urls, signer=signer, tickers=tickers, n_markets=args.markets,
                                   duration_s=args.duration, fsync=args.fsync))
    except RecordError as exc:
        raise CommandError(str(exc)) from None
    print(stats.summary(), flush=True)
    return 0


def _registry(args: argparse.Namespace):
    from .registry import Registry, default_root

    return Registry(args.registry or default_root())


def _cmd_models_list(args: argparse.Namespace) -> int:
    from .registry.registry import listing

    print(listing(_registry(args)))
    return 0


def _cmd_models_show(args: argparse.Namespace) -> int:
    from .registry import RegistryError
    from .registry.registry import describe

    try:
        print(json.dumps(describe(_registry(args).resolve(args.model_id)), indent=2))
    except RegistryError as exc:
        raise CommandError(str(exc)) from None
    return 0


def _cmd_models_set_latest(args: argparse.Namespace) -> int:
    from .registry import RegistryError

    try:
        _registry(args).set_latest(args.model_id)
    except RegistryError as exc:
        raise CommandError(str(exc)) from None
    print(f"latest -> {args.model_id}")
    return 0


def _cmd_models_verify(args: argparse.Namespace) -> int:
    from .registry import RegistryError

    registry = _registry(args)
    failed = 0
    for model_id in args.model_ids or registry.ids():
        try:
            problems = registry.verify(model_id)
        except RegistryError as exc:
            problems = [str(exc)]
        failed += bool(problems)
        print(f"{model_id}: {'FAILED: ' + '; '.join(problems) if problems else 'OK'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
