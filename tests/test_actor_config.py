"""The actor's configuration: environment, config file, precedence, validation, secrets, live changes."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from kalshi_actor.actor.config import (
    ENV_VARS,
    HOT_FIELDS,
    ActorConfig,
    ConfigChange,
    ConfigError,
    ConfigFileWatcher,
    apply_changes,
    load_config,
)
from kalshi_actor.kalshi import rest, ws
from kalshi_actor.units import MONEY_SCALE
from support import until

TOKEN = "admin-token-0123456789abcdef"
VIEWER = "viewer-Token_0123.456~789"
SIM_REST = "http://127.0.0.1:9/trade-api/v2"
SIM_WS = "ws://127.0.0.1:9/trade-api/ws/v2"


@pytest.fixture
def env(api_key) -> dict[str, str]:
    """A minimal valid environment (the simulator as the exchange)."""
    return {
        "RL_ACTOR_REST_URL": SIM_REST,
        "RL_ACTOR_WS_URL": SIM_WS,
        "RL_ACTOR_API_KEY_ID": api_key.key_id,
        "RL_ACTOR_PRIVATE_KEY": api_key.private_pem,
        "RL_ACTOR_ADMIN_TOKEN": TOKEN,
        "PATH": "/usr/bin",  # unrelated variables are ignored
    }


@pytest.fixture
def config(env) -> ActorConfig:
    return load_config(env)


def _problems(environ: dict[str, str]) -> dict[str, str]:
    with pytest.raises(ConfigError) as info:
        load_config(environ)
    return info.value.problems


# --- from the environment ---


def test_defaults(config: ActorConfig) -> None:
    assert config.model_id == ""  # latest
    assert config.market_mode == "discovery" and config.market_limit == 100 and config.market_tickers == ()
    assert config.tick_interval == 1.0
    assert config.environment == "sim" and not config.allow_production and not config.paused
    assert config.initial_cash == 10_000 * MONEY_SCALE
    assert config.rest_url == SIM_REST and config.ws_url == SIM_WS
    assert config.config_file is None
    assert config.risk.max_position == 100 * 100  # hundredths of a contract


def test_every_field_from_the_environment(env, tmp_path: Path) -> None:
    env |= {
        "RL_ACTOR_NAME": "alpha-1", "RL_ACTOR_MODEL_ID": "20261124T031502Z-ppo-3f2a",
        "RL_ACTOR_MARKET_MODE": "tickers", "RL_ACTOR_MARKET_TICKERS": "KXA-1, KXB-2,KXA-1,",
        "RL_ACTOR_MARKET_LIMIT": "5", "RL_ACTOR_TICK_INTERVAL": "0", "RL_ACTOR_INITIAL_CASH": "2500.75",
        "RL_ACTOR_PAUSED": "true", "RL_ACTOR_REGISTRY": str(tmp_path), "RL_ACTOR_CLIENT_ORDER_PREFIX": "a1-",
        "RL_ACTOR_LOG_FORMAT": "json", "RL_ACTOR_RISK_MAX_POSITION": "2.5", "RL_ACTOR_RISK_MAX_EXPOSURE": "$300.50",
        "RL_ACTOR_RISK_MAX_ORDERS_PER_MINUTE": "30", "RL_ACTOR_RISK_MAX_LOSS_SESSION": "25",
        "RL_ACTOR_RISK_MAX_LOSS_DAILY": "0.000001",
    }
    config = load_config(env)
    assert config.name == "alpha-1" and config.model_id == "20261124T031502Z-ppo-3f2a"
    assert config.market_mode == "tickers" and config.market_tickers == ("KXA-1", "KXB-2")  # de-duplicated
    assert config.market_limit == 5 and config.tick_interval == 0.0 and config.paused is True
    assert config.initial_cash == 2_500_750_000  # micros, exact
    assert config.registry == tmp_path and config.client_order_prefix == "a1-" and config.log_format == "json"
    risk = config.risk
    assert (risk.max_position, risk.max_exposure, risk.max_orders_per_minute) == (250, 300_500_000, 30)
    assert (risk.max_loss_session, risk.max_loss_daily) == (25_000_000, 1)


def test_every_field_has_an_environment_variable() -> None:
    for name in ActorConfig.model_fields:
        if name != "risk":
            assert ENV_VARS[name] == "RL_ACTOR_" + name.upper()
    assert ENV_VARS["risk.max_loss_daily"] == "RL_ACTOR_RISK_MAX_LOSS_DAILY"


def test_demo_and_production_default_to_kalshi_hosts(env) -> None:
    del env["RL_ACTOR_REST_URL"], env["RL_ACTOR_WS_URL"]
    demo = load_config(env | {"RL_ACTOR_ENVIRONMENT": "demo"})
    assert (demo.rest_url, demo.ws_url) == (rest.DEMO_URL, ws.DEMO_URL)
    prod = load_config(env | {"RL_ACTOR_ENVIRONMENT": "production", "RL_ACTOR_ALLOW_PRODUCTION": "1"})
    assert (prod.rest_url, prod.ws_url) == (rest.PRODUCTION_URL, ws.PRODUCTION_URL)
    custom = load_config(env | {"RL_ACTOR_ENVIRONMENT": "demo", "RL_ACTOR_REST_URL": "https://proxy.example/t/"})
    assert custom.rest_url == "https://proxy.example/t" and custom.ws_url == ws.DEMO_URL


def test_sim_has_no_default_host(env) -> None:
    del env["RL_ACTOR_REST_URL"], env["RL_ACTOR_WS_URL"]
    problems = _problems(env)
    assert set(problems) == {"rest_url", "ws_url"}
    assert "simulator" in problems["rest_url"]


def test_production_is_refused_without_the_opt_in(env) -> None:
    del env["RL_ACTOR_REST_URL"], env["RL_ACTOR_WS_URL"]
    with pytest.raises(ConfigError) as info:
        load_config(env | {"RL_ACTOR_ENVIRONMENT": "production"})
    assert set(info.value.problems) == {"environment"}
    assert "RL_ACTOR_ALLOW_PRODUCTION" in str(info.value)
    with pytest.raises(ConfigError):
        load_config(env | {"RL_ACTOR_ENVIRONMENT": "production", "RL_ACTOR_ALLOW_PRODUCTION": "false"})


def test_empty_variables_count_as_unset(env) -> None:
    config = load_config(env | {"RL_ACTOR_MARKET_LIMIT": "", "RL_ACTOR_MODEL_ID": "", "RL_ACTOR_RISK_MAX_EXPOSURE": " "})
    assert config.market_limit == 100 and config.model_id == "" and config.risk.max_exposure == 1_000 * MONEY_SCALE


INVALID = [
    ("RL_ACTOR_MARKET_LIMIT", "0", "market_limit"),
    ("RL_ACTOR_MARKET_LIMIT", "1001", "market_limit"),
    ("RL_ACTOR_MARKET_LIMIT", "many", "market_limit"),
    ("RL_ACTOR_MARKET_MODE", "everything", "market_mode"),
    ("RL_ACTOR_MARKET_TICKERS", "KXA-1,KX B", "market_tickers"),
    ("RL_ACTOR_TICK_INTERVAL", "-1", "tick_interval"),
    ("RL_ACTOR_TICK_INTERVAL", "nan", "tick_interval"),
    ("RL_ACTOR_TICK_INTERVAL", "soon", "tick_interval"),
    ("RL_ACTOR_INITIAL_CASH", "-5", "initial_cash"),
    ("RL_ACTOR_INITIAL_CASH", "1.1234567", "initial_cash"),
    ("RL_ACTOR_INITIAL_CASH", "lots", "initial_cash"),
    ("RL_ACTOR_ENVIRONMENT", "live", "environment"),
    ("RL_ACTOR_ALLOW_PRODUCTION", "perhaps", "allow_production"),
    ("RL_ACTOR_REST_URL", "ftp://x", "rest_url"),
    ("RL_ACTOR_WS_URL", "http://127.0.0.1:9/ws", "ws_url"),
    ("RL_ACTOR_API_KEY_ID", "has space", "api_key_id"),
    ("RL_ACTOR_PRIVATE_KEY", "not a pem at all", "private_key"),
    ("RL_ACTOR_RISK_MAX_POSITION", "0", "risk.max_position"),
    ("RL_ACTOR_RISK_MAX_POSITION", "1.234", "risk.max_position"),
    ("RL_ACTOR_RISK_MAX_EXPOSURE", "-1", "risk.max_exposure"),
    ("RL_ACTOR_RISK_MAX_ORDERS_PER_MINUTE", "0", "risk.max_orders_per_minute"),
    ("RL_ACTOR_RISK_MAX_ORDERS_PER_MINUTE", "2.5", "risk.max_orders_per_minute"),
    ("RL_ACTOR_RISK_MAX_LOSS_SESSION", "some", "risk.max_loss_session"),
    ("RL_ACTOR_RISK_MAX_LOSS_DAILY", "0", "risk.max_loss_daily"),
    ("RL_ACTOR_PAUSED", "sometimes", "paused"),
    ("RL_ACTOR_ADMIN_TOKEN", "short", "admin_token"),
    ("RL_ACTOR_NAME", "bad name!", "name"),
    ("RL_ACTOR_MODEL_ID", "../../etc/passwd", "model_id"),
    ("RL_ACTOR_CLIENT_ORDER_PREFIX", "a b", "client_order_prefix"),
    ("RL_ACTOR_LOG_FORMAT", "xml", "log_format"),
    ("RL_ACTOR_PRIVATE_KEY_FILE", "/nonexistent/key.pem", "private_key"),
    ("RL_ACTOR_RISK_MAX_POSITION", "1000000.01", "risk.max_position"),
    ("RL_ACTOR_RISK_MAX_EXPOSURE", "10000000.000001", "risk.max_exposure"),
    ("RL_ACTOR_RISK_MAX_ORDERS_PER_MINUTE", "60001", "risk.max_orders_per_minute"),
    ("RL_ACTOR_RISK_MAX_LOSS_SESSION", "10000001", "risk.max_loss_session"),
    ("RL_ACTOR_RISK_MAX_LOSS_DAILY", "99999999", "risk.max_loss_daily"),
    ("RL_ACTOR_VIEWER_TOKEN", "short", "viewer_token"),
    ("RL_ACTOR_VIEWER_TOKEN", "has a space 0123456789", "viewer_token"),
    ("RL_ACTOR_ALLOWED_ORIGINS", "https://dash.example/path", "allowed_origins"),
]


@pytest.mark.parametrize(("variable", "value", "field"), INVALID)
def test_an_invalid_value_names_its_field_and_variable(env, variable: str, value: str, field: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(env | {variable: value})
    assert field in info.value.problems or (field == "private_key" and "private_key_file" in info.value.problems)
    if field != "private_key":
        assert variable in str(info.value)


def test_one_error_lists_every_bad_field(env) -> None:
    problems = _problems(env | {"RL_ACTOR_MARKET_LIMIT": "0", "RL_ACTOR_TICK_INTERVAL": "-2",
                                "RL_ACTOR_RISK_MAX_EXPOSURE": "x", "RL_ACTOR_ENVIRONMENT": "production",
                                "RL_ACTOR_MARKET_LIMTI": "3", "RL_ACTOR_API_KEY_ID": ""})
    assert set(problems) == {"market_limit", "tick_interval", "risk.max_exposure", "environment",
                             "RL_ACTOR_MARKET_LIMTI", "api_key_id"}
    assert "did you mean RL_ACTOR_MARKET_LIMIT" in problems["RL_ACTOR_MARKET_LIMTI"]


def test_tickers_mode_needs_tickers_within_the_limit(env) -> None:
    assert set(_problems(env | {"RL_ACTOR_MARKET_MODE": "tickers"})) == {"market_tickers"}
    problems = _problems(env | {"RL_ACTOR_MARKET_MODE": "tickers", "RL_ACTOR_MARKET_TICKERS": "A,B,C",
                                "RL_ACTOR_MARKET_LIMIT": "2"})
    assert "market_limit is 2" in problems["market_tickers"]


def test_the_private_key_is_given_once(env, api_key, tmp_path: Path) -> None:
    key_file = tmp_path / "key.pem"
    key_file.write_text(api_key.private_pem)
    del env["RL_ACTOR_PRIVATE_KEY"]
    config = load_config(env | {"RL_ACTOR_PRIVATE_KEY_FILE": str(key_file)})
    assert config.private_key_pem() == api_key.private_pem
    assert "private_key" in _problems(env)
    assert "either" in _problems(env | {"RL_ACTOR_PRIVATE_KEY_FILE": str(key_file),
                                        "RL_ACTOR_PRIVATE_KEY": api_key.private_pem})["private_key"]
    flat = api_key.private_pem.strip().replace("\n", "\\n")  # a PEM flattened into one line
    assert load_config(env | {"RL_ACTOR_PRIVATE_KEY": flat}).private_key_pem().startswith("-----BEGIN")


# --- strict types: a boolean is never a number, a number never a boolean ---


@pytest.mark.parametrize("changes", [{"tick_interval": False}, {"tick_interval": True}, {"market_limit": True},
                                     {"risk": {"max_orders_per_minute": True}}], ids=str)
def test_a_boolean_is_never_a_number(config: ActorConfig, changes: dict) -> None:
    change = apply_changes(config, changes)
    (name,) = changes
    assert set(change.refused) == {name} and change.config == config
    assert "expected a number" in change.refused[name]


@pytest.mark.parametrize("value", [1, 0, 1.0, 0.0], ids=repr)
def test_a_number_is_never_a_boolean(config: ActorConfig, value: float) -> None:
    change = apply_changes(config, {"paused": value})
    assert set(change.refused) == {"paused"} and "expected true or false" in change.refused["paused"]
    assert change.config.paused is False


def test_a_file_with_booleans_for_numbers_or_numbers_for_booleans_is_refused(env, tmp_path: Path) -> None:
    path = tmp_path / "actor.yaml"
    path.write_text("market_limit: yes\ntick_interval: false\npaused: 1\nallow_production: 0\n"
                    "risk:\n  max_orders_per_minute: true\n  max_exposure: on\n")  # YAML 1.1: yes and on are true
    problems = _problems(env | {"RL_ACTOR_CONFIG_FILE": str(path)})
    assert set(problems) == {"market_limit", "tick_interval", "paused", "allow_production",
                             "risk.max_orders_per_minute", "risk.max_exposure"}


@pytest.mark.parametrize(("value", "expected"), [("true", True), ("TRUE", True), (" False ", False), ("1", True),
                                                 ("0", False), ("yes", True), ("off", False)])
def test_environment_strings_still_parse_as_booleans(env, value: str, expected: bool) -> None:
    assert load_config(env | {"RL_ACTOR_PAUSED": value}).paused is expected


def test_environment_strings_still_parse_as_numbers(env) -> None:
    config = load_config(env | {"RL_ACTOR_TICK_INTERVAL": "1.5", "RL_ACTOR_MARKET_LIMIT": "100",
                                "RL_ACTOR_RISK_MAX_ORDERS_PER_MINUTE": "60000"})
    assert (config.tick_interval, config.market_limit, config.risk.max_orders_per_minute) == (1.5, 100, 60_000)


# --- the risk limits' maxima ---


def test_each_risk_limit_accepts_its_maximum(config: ActorConfig) -> None:
    top = {"max_position": "1000000", "max_exposure": 10_000_000, "max_orders_per_minute": 60_000,
           "max_loss_session": "10000000.000000", "max_loss_daily": 10_000_000.0}
    change = apply_changes(config, {"risk": top})
    assert change.ok, change.refused
    risk = change.config.risk
    assert risk.max_position == 1_000_000 * 100 and risk.max_exposure == 10_000_000 * MONEY_SCALE


@pytest.mark.parametrize(("limit", "value", "message"), [
    ("max_position", 1e15, "at most 1,000,000 contracts"),
    ("max_position", "1000000.01", "at most 1,000,000 contracts"),
    ("max_exposure", 1e30, "at most $10,000,000"),
    ("max_exposure", 10**30, "at most $10,000,000"),
    ("max_loss_session", "10000000.000001", "at most $10,000,000"),
    ("max_loss_daily", 10_000_001, "at most $10,000,000"),
    ("max_orders_per_minute", 60_001, "at most 60,000"),
], ids=str)
def test_a_risk_limit_over_its_maximum_is_refused(config: ActorConfig, limit: str, value, message: str) -> None:
    change = apply_changes(config, {"risk": {limit: value}})
    assert set(change.refused) == {"risk"} and change.config == config
    assert change.refused["risk"].startswith(f"risk.{limit}: {message}")


def test_the_maxima_are_documented() -> None:
    from kalshi_actor.actor import config as module
    from kalshi_actor.actor.config import RiskLimits

    fields = RiskLimits.model_fields
    for limit, shown in (("max_position", "1,000,000"), ("max_exposure", "10,000,000"),
                         ("max_orders_per_minute", "60,000"), ("max_loss_session", "10,000,000"),
                         ("max_loss_daily", "10,000,000")):
        assert f"at most {shown}" in fields[limit].description, limit
    assert "1,000,000" in module.__doc__ and "10,000,000" in module.__doc__ and "60,000" in module.__doc__


# --- the config file, and precedence ---


def test_yaml_file(env, tmp_path: Path) -> None:
    path = tmp_path / "actor.yaml"
    path.write_text("model_id: m-1\nmarket_limit: 7\ntick_interval: 0.25\nrisk:\n  max_exposure: 12.5\n"
                    "  max_position: 3\nmarket_tickers: [KXA-1, KXB-2]\n")
    config = load_config(env | {"RL_ACTOR_CONFIG_FILE": str(path)})
    assert (config.model_id, config.market_limit, config.tick_interval) == ("m-1", 7, 0.25)
    assert config.risk.max_exposure == 12_500_000 and config.risk.max_position == 300
    assert config.market_tickers == ("KXA-1", "KXB-2") and config.config_file == path


def test_json_file(env, tmp_path: Path) -> None:
    path = tmp_path / "actor.json"
    path.write_text(json.dumps({"paused": True, "risk": {"max_loss_daily": "99.99"}}))
    config = load_config(env | {"RL_ACTOR_CONFIG_FILE": str(path)})
    assert config.paused is True and config.risk.max_loss_daily == 99_990_000


def test_environment_overrides_the_file(env, tmp_path: Path) -> None:
    path = tmp_path / "actor.yaml"
    path.write_text("market_limit: 7\nmodel_id: from-file\nrisk:\n  max_exposure: 10\n  max_position: 4\n")
    config = load_config(env | {"RL_ACTOR_CONFIG_FILE": str(path), "RL_ACTOR_MARKET_LIMIT": "9",
                                "RL_ACTOR_RISK_MAX_EXPOSURE": "20"})
    assert config.market_limit == 9  # the variable wins
    assert config.model_id == "from-file"  # the file beats the default
    assert config.risk.max_exposure == 20 * MONEY_SCALE and config.risk.max_position == 400  # merged per limit


@pytest.mark.parametrize(("content", "name", "expected"), [
    ("market_limit: [", "actor.yaml", "cannot parse"),
    ("{\"market_limit\": ", "actor.json", "cannot parse"),
    ("- 1\n- 2\n", "actor.yaml", "expected a mapping"),
    ("config_file: other.yaml\n", "actor.yaml", "cannot name another"),
])
def test_a_bad_file_is_named(env, tmp_path: Path, content: str, name: str, expected: str) -> None:
    path = tmp_path / name
    path.write_text(content)
    problems = _problems(env | {"RL_ACTOR_CONFIG_FILE": str(path)})
    assert expected in problems["config_file"] and "RL_ACTOR_CONFIG_FILE" in str(ConfigError(problems))


def test_a_file_with_unknown_or_invalid_keys_is_refused(env, tmp_path: Path) -> None:
    path = tmp_path / "actor.yaml"
    path.write_text("market_limt: 3\nmarket_limit: 0\nrisk:\n  max_exposur: 1\n")
    problems = _problems(env | {"RL_ACTOR_CONFIG_FILE": str(path)})
    assert problems["market_limt"] == "unknown field" and problems["risk.max_exposur"] == "unknown field"
    assert "market_limit" in problems


def test_a_missing_file_is_an_error(env, tmp_path: Path) -> None:
    assert "cannot read" in _problems(env | {"RL_ACTOR_CONFIG_FILE": str(tmp_path / "nope.yaml")})["config_file"]


# --- secrets ---


def test_secrets_never_appear(env, api_key) -> None:
    config = load_config(env)
    pem_body = api_key.private_pem.strip().splitlines()[1]
    shown = [repr(config), str(config), json.dumps(config.public_dict()), config.model_dump_json(),
             repr(config.model_dump()), str(config.hot_dict())]
    for text in shown:
        assert TOKEN not in text and pem_body not in text
    assert config.public_dict()["admin_token"] == "**********"
    assert config.admin_token.get_secret_value() == TOKEN  # still usable


def test_secrets_never_appear_in_errors(env) -> None:
    secret_pem = "-----BEGIN PRIVATE KEY-----\nTOPSECRETKEYMATERIAL\n-----END PRIVATE KEY-----"
    with pytest.raises(ConfigError) as info:
        load_config(env | {"RL_ACTOR_PRIVATE_KEY": secret_pem})
    assert "TOPSECRETKEYMATERIAL" not in str(info.value) and "private_key" in info.value.problems
    with pytest.raises(ConfigError) as info:
        load_config(env | {"RL_ACTOR_ADMIN_TOKEN": "shortsecret", "RL_ACTOR_MARKET_LIMIT": "0"})
    assert "shortsecret" not in str(info.value) and "admin_token" in info.value.problems
    with pytest.raises(ConfigError) as info:
        load_config(env | {"RL_ACTOR_ADMIN_TOKEN": "x" * 20 + "\x00", "RL_ACTOR_PRIVATE_KEY": "Z" * 40 + "TOPSECRET"})
    assert "TOPSECRET" not in str(info.value)


def test_a_token_with_a_trailing_newline_is_stored_stripped(env, tmp_path: Path) -> None:
    # a Secret made with `kubectl create secret --from-file` ends in a newline; the header never does
    config = load_config(env | {"RL_ACTOR_ADMIN_TOKEN": TOKEN + "\n", "RL_ACTOR_VIEWER_TOKEN": VIEWER + "\r\n"})
    assert config.admin_token.get_secret_value() == TOKEN and config.viewer_token.get_secret_value() == VIEWER
    path = tmp_path / "actor.json"
    path.write_text(json.dumps({"admin_token": f" {TOKEN}\n", "viewer_token": VIEWER + "\n"}))
    del env["RL_ACTOR_ADMIN_TOKEN"]
    config = load_config(env | {"RL_ACTOR_CONFIG_FILE": str(path)})
    assert config.admin_token.get_secret_value() == TOKEN and config.viewer_token.get_secret_value() == VIEWER
    assert "admin_token" in _problems(env | {"RL_ACTOR_ADMIN_TOKEN": "x" * 15 + "\n"})  # the length counts stripped


def test_the_viewer_token(env) -> None:
    assert load_config(env).viewer_token is None  # no token: the default
    config = load_config(env | {"RL_ACTOR_VIEWER_TOKEN": VIEWER})
    assert config.viewer_token.get_secret_value() == VIEWER
    assert config.public_dict()["viewer_token"] == "**********"
    for text in (repr(config), json.dumps(config.public_dict()), config.model_dump_json(), str(config.hot_dict())):
        assert VIEWER not in text


@pytest.mark.parametrize("token", ["too-short-token", "a space in it 0123456789", "semicolon;0123456789abc",
                                   "quote\"0123456789abcdef", "comma,0123456789abcdef", "\u00fcnicode0123456789abc"])
def test_a_bad_viewer_token_is_refused_without_echo(env, token: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(env | {"RL_ACTOR_VIEWER_TOKEN": token})
    assert set(info.value.problems) == {"viewer_token"} and "RL_ACTOR_VIEWER_TOKEN" in str(info.value)
    assert token not in str(info.value) and token[:8] not in str(info.value)


def test_allowed_origins(env, tmp_path: Path) -> None:
    assert load_config(env).allowed_origins == ()
    config = load_config(env | {"RL_ACTOR_ALLOWED_ORIGINS": "https://Dash.Example.com/, http://127.0.0.1:8080,"
                                                            "https://dash.example.com,http://[::1]:3000,"
                                                            "https://x.example:443,http://y.example:80,"})
    expected = ("https://dash.example.com", "http://127.0.0.1:8080", "http://[::1]:3000", "https://x.example",
                "http://y.example")  # lowercase, no trailing slash, no default port, de-duplicated
    assert config.allowed_origins == expected and config.public_dict()["allowed_origins"] == list(expected)
    path = tmp_path / "actor.yaml"
    path.write_text("allowed_origins: [https://dash.example.com:8443]\n")
    assert load_config(env | {"RL_ACTOR_CONFIG_FILE": str(path)}).allowed_origins == ("https://dash.example.com:8443",)


@pytest.mark.parametrize("origin", ["https://dash.example/path", "https://dash.example//", "ftp://dash.example",
                                    "dash.example", "https://", "*", "null", "https://*.example",
                                    "https://user@dash.example", "https://dash.example?q=1", "https://dash.example#x",
                                    "https://dash.example:99999", "https://dash.example:0", "https://dash.example:",
                                    "https://dash.example:port", "https://dash..example", "https://-dash.example"])
def test_a_bad_origin_is_refused(env, origin: str) -> None:
    problems = _problems(env | {"RL_ACTOR_ALLOWED_ORIGINS": f"https://ok.example,{origin}"})
    assert set(problems) == {"allowed_origins"} and "http(s)://host[:port]" in problems["allowed_origins"]


def test_a_dump_validates_back_to_the_same_config(config: ActorConfig, env) -> None:
    data = config.public_dict() | {"admin_token": TOKEN, "private_key": env["RL_ACTOR_PRIVATE_KEY"]}
    assert ActorConfig.model_validate(data) == config


# --- live changes ---


def test_hot_fields() -> None:
    assert HOT_FIELDS == {"model_id", "market_mode", "market_tickers", "market_limit", "tick_interval", "risk",
                          "paused"}


def test_hot_changes_apply(config: ActorConfig) -> None:
    change = apply_changes(config, {"model_id": "m-2", "tick_interval": 0.5, "market_limit": 20, "paused": True,
                                    "risk": {"max_exposure": "50"}})
    assert change.ok and change.previous is config
    new = change.config
    assert (new.model_id, new.tick_interval, new.market_limit, new.paused) == ("m-2", 0.5, 20, True)
    assert new.risk.max_exposure == 50 * MONEY_SCALE
    assert new.risk.max_position == config.risk.max_position  # a partial risk change keeps the other limits
    assert change.applied["market_limit"] == 20 and change.applied["risk"]["max_exposure"] == "50.00"
    assert config.market_limit == 100  # the current config is untouched (immutable)


def test_cold_changes_are_refused(config: ActorConfig) -> None:
    change = apply_changes(config, {"environment": "demo", "rest_url": "http://127.0.0.1:10/trade-api/v2",
                                    "market_limit": 3})
    assert change.refused == {"environment": "needs a restart (cold field)",
                              "rest_url": "needs a restart (cold field)"}
    assert change.applied == {"market_limit": 3} and change.config.environment == "sim"


def test_unchanged_values_are_neither_applied_nor_refused(config: ActorConfig) -> None:
    change = apply_changes(config, {"environment": "sim", "market_limit": 100, "rest_url": SIM_REST + "/"})
    assert change.applied == {} and change.refused == {} and change.config == config


def test_an_invalid_hot_value_is_refused_and_the_rest_applies(config: ActorConfig) -> None:
    change = apply_changes(config, {"market_limit": 0, "tick_interval": 2, "risk": {"max_position": -1}})
    assert set(change.refused) == {"market_limit", "risk"}
    assert "greater than or equal to 1" in change.refused["market_limit"]
    assert change.refused["risk"].startswith("risk.max_position")
    assert change.applied == {"tick_interval": 2.0}


def test_related_fields_are_validated_together(config: ActorConfig) -> None:
    change = apply_changes(config, {"market_mode": "tickers", "market_tickers": "KXA-1,KXB-2"})
    assert change.ok and change.config.market_tickers == ("KXA-1", "KXB-2")
    alone = apply_changes(config, {"market_mode": "tickers"})
    assert "market_mode" in alone.refused and "required" in alone.refused["market_mode"]
    assert alone.config.market_mode == "discovery"


def test_unknown_fields_raise(config: ActorConfig) -> None:
    with pytest.raises(ConfigError) as info:
        apply_changes(config, {"market_limt": 3, "risk": {"max_exposur": 1}, "config_file": "x"})
    assert set(info.value.problems) == {"market_limt", "risk.max_exposur", "config_file"}


def test_a_secret_change_is_refused_without_echo(config: ActorConfig) -> None:
    change = apply_changes(config, {"admin_token": "another-secret-token-123456"})
    assert change.refused == {"admin_token": "needs a restart (cold field)"}
    assert "another-secret" not in repr(change.as_dict())


def test_the_viewer_token_and_the_allowed_origins_are_cold(config: ActorConfig) -> None:
    change = apply_changes(config, {"viewer_token": VIEWER, "allowed_origins": "https://dash.example"})
    assert change.refused == {"viewer_token": "needs a restart (cold field)",
                              "allowed_origins": "needs a restart (cold field)"}
    assert change.config == config and VIEWER not in repr(change.as_dict())
    assert {"viewer_token", "allowed_origins"}.isdisjoint(HOT_FIELDS)
    assert ENV_VARS["viewer_token"] == "RL_ACTOR_VIEWER_TOKEN"
    assert ENV_VARS["allowed_origins"] == "RL_ACTOR_ALLOWED_ORIGINS"


def test_refuse_undoes_one_field(config: ActorConfig) -> None:
    change = apply_changes(config, {"model_id": "bad-model", "market_limit": 9})
    undone = change.refuse("model_id", "model bad-model failed to load")
    assert undone.config.model_id == "" and undone.config.market_limit == 9
    assert undone.applied == {"market_limit": 9} and undone.refused == {"model_id": "model bad-model failed to load"}
    assert not undone.ok


# --- the file watcher ---


class _Holder:
    """Applies changes the way the actor does (apply_changes, then install the new config)."""

    def __init__(self, config: ActorConfig) -> None:
        self.config = config
        self.calls: list[dict] = []

    async def apply(self, changes: dict) -> ConfigChange:
        self.calls.append(changes)
        change = apply_changes(self.config, changes)
        self.config = change.config
        return change


@pytest.fixture
def watched(env, tmp_path: Path):
    path = tmp_path / "actor.yaml"
    path.write_text("market_limit: 7\nmodel_id: m-1\nrisk:\n  max_exposure: 10\n")
    environ = env | {"RL_ACTOR_CONFIG_FILE": str(path), "RL_ACTOR_TICK_INTERVAL": "2"}
    holder = _Holder(load_config(environ))
    return path, holder, ConfigFileWatcher(path, holder.apply, environ=environ, interval=0.02)


async def test_the_watcher_applies_what_changed_in_the_file(watched) -> None:
    path, holder, watcher = watched
    assert await watcher.check() is None  # unchanged since start
    path.write_text("market_limit: 8\nmodel_id: m-1\nrisk:\n  max_exposure: 10\n  max_position: 2\n")
    change = await watcher.check()
    assert holder.calls == [{"market_limit": 8, "risk": {"max_position": 2}}]  # only the differences
    assert change.applied["market_limit"] == 8 and holder.config.risk.max_position == 200
    assert holder.config.risk.max_exposure == 10 * MONEY_SCALE
    assert await watcher.check() is None


async def test_the_watcher_refuses_cold_and_environment_set_fields(watched) -> None:
    path, holder, watcher = watched
    path.write_text("market_limit: 7\nmodel_id: m-1\nrisk:\n  max_exposure: 10\nenvironment: demo\n"
                    "tick_interval: 0.1\n")
    change = await watcher.check()
    assert change.refused["environment"] == "needs a restart (cold field)"
    assert "RL_ACTOR_TICK_INTERVAL" in change.refused["tick_interval"]
    assert holder.config.tick_interval == 2.0 and holder.config.environment == "sim"


async def test_a_removed_key_goes_back_to_its_default(watched) -> None:
    path, holder, watcher = watched
    path.write_text("model_id: m-1\n")
    change = await watcher.check()
    assert holder.config.market_limit == 100 and holder.config.risk.max_exposure == 1_000 * MONEY_SCALE
    assert set(change.applied) == {"market_limit", "risk"}


async def test_a_bad_file_changes_nothing_and_is_reported(watched) -> None:
    path, holder, watcher = watched
    path.write_text("market_limit: [\n")
    assert await watcher.check() is None
    assert "cannot parse" in watcher.last_error and holder.calls == []
    path.write_text("market_limit: 7\nmodel_id: m-1\nmarket_limt: 3\n")
    assert await watcher.check() is None and "market_limt: unknown field" in watcher.last_error
    path.write_text("market_limit: 0\nmodel_id: m-1\nrisk:\n  max_exposure: 10\n")
    change = await watcher.check()
    assert "market_limit" in change.refused and holder.config.market_limit == 7 and watcher.last_error is None


async def test_the_running_watcher_polls_the_file(watched) -> None:
    path, holder, watcher = watched
    watcher.start()
    try:
        path.write_text("market_limit: 7\nmodel_id: m-2\nrisk:\n  max_exposure: 10\n")
        await until(lambda: holder.config.model_id == "m-2")
        path.unlink()  # a ConfigMap between symlink swaps: nothing happens
        await asyncio.sleep(0.1)
        assert holder.config.model_id == "m-2" and watcher.last.applied == {"model_id": "m-2"}
    finally:
        await watcher.stop()


def test_json_logs_are_one_object_per_line(capsys, config: ActorConfig) -> None:
    import logging

    from kalshi_actor.actor.config import configure_logging

    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        configure_logging("json")
        logging.getLogger("kalshi_actor.test").info("config loaded: %s", config, extra={"market_limit": 7})
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
    line = capsys.readouterr().err.strip()
    entry = json.loads(line)
    assert entry["level"] == "info" and entry["logger"] == "kalshi_actor.test" and entry["market_limit"] == 7
    assert "\n" not in line and TOKEN not in line and "**********" in line
