"""Training/serving parity: the frames a live actor received, replayed through the training env,
give bit-identical observations (and so actions) at the same decision points.

The actor (a holding policy: no orders, so the portfolio stays flat on both sides) trades the
simulator over real sockets; every raw frame its WebSocket receives is written to a session
(``ws.on_raw`` -> :class:`SessionWriter`, the recorder's way), with a header built from the
exchange's REST markets. The live path is "the observations the Actor built", keyed by
``(ticker, now_ms)`` (a spy on its ObservationBuilder that calls through); the training path is
:func:`env_observations` on the recorded session (the ``ObservationPath`` signature).
"""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import numpy as np
import pytest

from actor_models import TICK_S, Models, _ppo, _Spaces, build_models, constant
from kalshi_actor.actor.app import create_app, running
from kalshi_actor.actor.config import ActorConfig
from kalshi_actor.actor.loop import Actor
from kalshi_actor.kalshi.rest import RestClient
from kalshi_actor.marketdata.discovery import fee_schedules
from kalshi_actor.observation import OBS_SIZE, SCHEMA_HASH
from kalshi_actor.registry import ModelMetadata
from kalshi_actor.trading.actions import ActionConfig
from kalshi_actor.trading.types import Action
from kalshi_actor.training.env import EnvConfig, ObsNormalisation, normalised_vec_env
from kalshi_actor.sessions.format import SessionWriter, market_info
from kalshi_actor.training.env import direct_observations, env_observations
from support import until


NORMALISED_HOLD = "hold-normalised-1"


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Models:
    """The actor models, plus a HOLD model stored with observation statistics (as training stores them)."""
    models = build_models(tmp_path_factory.mktemp("registry"))
    rng = np.random.default_rng(0)
    stats = ObsNormalisation(rng.uniform(-0.3, 0.3, OBS_SIZE), rng.uniform(0.0, 0.2, OBS_SIZE), 1e4)
    action, env = ActionConfig(), EnvConfig(tick_interval_s=TICK_S)
    model = _ppo(*(a.astype(np.float32) for a in constant(Action.HOLD)))
    meta = ModelMetadata(algorithm="ppo", observation_schema_hash=SCHEMA_HASH, observation_size=OBS_SIZE,
                         action_config=action.to_dict(), action_config_hash=action.hash,
                         extra={"env_config": env.to_dict(), "obs_normalisation": stats.to_dict()})
    models.registry.add(lambda target: model.save(target), meta, model_id=NORMALISED_HOLD, set_latest=False)
    return models


def _training_view(stats: ObsNormalisation, obs: np.ndarray) -> np.ndarray:
    """What the network saw in training for these observations: the training wrapper with the frozen statistics."""
    from stable_baselines3.common.vec_env import DummyVecEnv

    vec = normalised_vec_env(DummyVecEnv([_Spaces]), gamma=0.999)
    vec.obs_rms.mean, vec.obs_rms.var, vec.training = stats.mean.copy(), stats.var.copy(), False
    return vec.normalize_obs(obs)


def _live_path(actor: Actor) -> list[tuple[tuple[str, int], np.ndarray]]:
    """Every observation row the actor builds, keyed by (ticker, now_ms)."""
    rows: list[tuple[tuple[str, int], np.ndarray]] = []
    build = actor.builder.build

    def recording(inputs):
        inputs = list(inputs)
        obs = build(inputs)
        rows.extend(((m.info.ticker, m.now_ms), row.copy()) for m, row in zip(inputs, obs))
        return obs

    actor.builder.build = recording  # type: ignore[method-assign]
    return rows


@pytest.mark.parametrize(("tick_interval", "gap"), [(1.0, False), (0.0, False), (1.0, True)],
                         ids=["tick-1s", "every-change", "tick-1s-seq-gap"])
async def test_live_observations_equal_the_training_envs(sim_server, models: Models, tmp_path: Path,
                                                        tick_interval: float, gap: bool) -> None:
    engine = sim_server.sim.engine
    async with RestClient(sim_server.urls.rest) as rest:
        markets = [await rest.get_market(t) for t in engine.markets]
        header = {"source": "live-actor", "market_info": market_info(markets, await fee_schedules(rest, markets))}
    config = ActorConfig.model_validate({
        "environment": "sim", "rest_url": sim_server.urls.rest, "ws_url": sim_server.urls.ws,
        "api_key_id": sim_server.key.key_id, "private_key": sim_server.key.private_pem, "registry": str(models.root),
        "model_id": NORMALISED_HOLD, "market_limit": len(engine.markets), "tick_interval": tick_interval})
    actor = Actor(config)
    live = _live_path(actor)
    path = tmp_path / "live.session"
    with SessionWriter(path, header) as writer:
        actor.ws.on_raw = lambda raw: writer.write(raw, engine.now_ms() * 1_000_000)
        async with running(create_app(actor)):
            await until(lambda: actor.trading and actor.health().books_fresh, timeout=30)
            for step in range(60):  # 15 s of exchange time
                if gap and step == 30:  # a sequence gap mid-run: the books go stale, then a resnapshot heals them
                    sim_server.sim.faults.skip_seq = 1
                sim_server.sim.world.run_for(250)
                await asyncio.sleep(0.01)
                if gap and step >= 30:
                    await until(lambda: actor.health().books_fresh)
            await asyncio.sleep(0.2)
    assert actor.orders.stats.fills == 0 and not engine.resting_orders(sim_server.key.key_id)
    assert (actor.ws.stats.gaps, actor.ws.stats.resyncs) == ((1, 1) if gap else (0, 0))  # a book gap, healed

    env_config = dataclasses.replace(actor.policy.env_config, tick_interval_s=tick_interval)  # the actor's tick
    keys, obs = env_observations(path, env_config)
    direct_keys, direct = direct_observations(path, env_config)
    live.sort(key=lambda item: item[0])  # markets sorted by ticker, each in time order (a stable sort)
    live_keys = [k for k, _ in live]
    live_obs = np.stack([row for _, row in live]) if live else np.zeros((0, OBS_SIZE), np.float32)

    assert len(live_keys) > 20
    assert live_keys == keys
    diff = [(k, np.flatnonzero(a != b).tolist()) for k, a, b in zip(keys, live_obs, obs) if not np.array_equal(a, b)]
    assert diff == []  # bit for bit
    assert direct_keys == keys and np.array_equal(direct, obs)
    assert np.array_equal(actor.policy.predict(live_obs), actor.policy.predict(obs))
    # the normalised observations the network sees live are what it saw in training for the same frames
    stats = actor.policy.normalisation
    assert stats is not None and actor.policy.model_id == NORMALISED_HOLD
    live_view = actor.policy.network_input(live_obs)
    assert not np.array_equal(live_view, live_obs)
    assert live_view.view(np.uint32).tobytes() == _training_view(stats, obs).view(np.uint32).tobytes()
