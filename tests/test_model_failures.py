"""A model file that passes its checksums but does not load: a clear error naming the file, never fatal.

Such a file is published by hand (a truncated copy, then ``sha256sum * > SHA256SUMS``) or by a
trainer that wrote garbage: the registry's verification passes, so only loading can tell.
"""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import pytest

from actor_models import Models, build_models
from kalshi_actor.actor import loop
from kalshi_actor.actor.loop import Actor
from kalshi_actor.registry import ModelIncompatible, ModelLoadError, Registry
from kalshi_actor.training.policy import Policy
from support import until
from test_actor import actor_config

BROKEN = {
    "truncated": lambda good: good[:-100],  # SB3 reads the torch zip inside: "No data found" (AssertionError)
    "garbage": lambda good: bytes(range(256)) * 8,  # not a zip at all (ValueError)
    "empty": lambda good: b"",
}


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Models:
    return build_models(tmp_path_factory.mktemp("registry"))


def _rechecksum(folder: Path) -> None:
    """Re-compute SHA256SUMS the way ``sha256sum`` would, as someone fixing up a copied model might."""
    lines = [f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.name}\n"
             for p in sorted(folder.iterdir()) if p.name != "SHA256SUMS"]
    (folder / "SHA256SUMS").write_text("".join(lines))


def publish_broken(registry: Registry, good_id: str, model_id: str, kind: str) -> str:
    """A copy of a good model whose model.zip is broken (``kind`` of BROKEN) but whose checksums match."""
    good = registry.get(good_id)
    record = registry.add(good.model_path, good.metadata, model_id=model_id, set_latest=False)
    record.model_path.write_bytes(BROKEN[kind](good.model_path.read_bytes()))
    _rechecksum(record.path)
    assert registry.verify(model_id) == []  # the checksums cannot tell
    return model_id


@pytest.mark.parametrize("kind", sorted(BROKEN))
def test_a_model_file_that_does_not_load_is_a_clear_registry_error(models: Models, kind: str) -> None:
    registry = models.registry
    broken = publish_broken(registry, models.hold, f"broken-{kind}", kind)
    with pytest.raises(ModelLoadError) as caught:
        Policy.load(registry, broken)
    message = str(caught.value)
    assert f"model {broken}" in message and str(registry.get(broken).model_path) in message, message
    assert "does not load" in message


def test_an_env_config_this_build_cannot_read_is_incompatible(models: Models) -> None:
    registry = models.registry
    good = registry.get(models.hold)
    meta = good.metadata
    odd = type(meta)(**{**vars(meta), "extra": {"env_config": {"no_such_setting": 1}}})
    registry.add(good.model_path, odd, model_id="odd-env-1", set_latest=False)
    with pytest.raises(ModelIncompatible, match="model odd-env-1 cannot be used: its env config"):
        Policy.load(registry, "odd-env-1")


def _failed_loads(actor: Actor) -> float:
    return actor.metrics.registry.get_sample_value("kalshi_actor_model_reloads_total", {"result": "failed"}) or 0


async def test_a_broken_latest_model_is_retried_not_fatal_and_refused_on_reload(sim_server, tmp_path: Path,
                                                                                 monkeypatch) -> None:
    """Startup keeps retrying (reported in health, alive) until a good model is published; a hot reload
    of the broken one is refused with the reason while the serving model keeps serving."""
    monkeypatch.setattr(loop, "MODEL_RETRY_S", 0.05)
    models = build_models(tmp_path / "registry")
    registry = models.registry
    broken = publish_broken(registry, models.hold, "broken-latest-1", "truncated")
    registry.set_latest(broken)
    actor = Actor(actor_config(sim_server, models, model_id="", market_limit=2))  # "": the latest
    await actor.start()
    try:
        await until(lambda: _failed_loads(actor) >= 3)  # retried, again and again
        health = actor.health()
        assert health.alive and actor.policy is None and not actor.trading, health
        assert f"model {broken}" in health.last_error["message"]
        assert str(registry.get(broken).model_path) in health.last_error["message"]
        assert health.last_reload["ok"] is False and "does not load" in health.last_reload["message"]

        registry.set_latest(models.hold)  # a good model is published: the next retry loads it and trading starts
        await until(lambda: actor.trading, timeout=30)
        assert actor.policy.model_id == models.hold and actor.health().alive

        change = await actor.apply_config({"model_id": broken})
        assert set(change.refused) == {"model_id"} and not change.applied
        reason = change.refused["model_id"]
        assert "the serving one keeps serving" in reason and f"model {broken}" in reason
        assert str(registry.get(broken).model_path) in reason and "does not load" in reason
        assert actor.policy.model_id == models.hold and actor.config.model_id == "" and actor.health().alive
    finally:
        await actor.stop()


async def test_any_load_failure_is_retried_and_a_shutdown_still_ends_the_startup(sim_server, tmp_path: Path,
                                                                                  monkeypatch) -> None:
    """The retry catches Exception (here torch's RuntimeError), never the cancellation of a shutdown."""
    def out_of_memory(registry: Registry, model_id: str | None = None, **kwargs) -> Policy:
        raise RuntimeError("torch: out of memory")

    monkeypatch.setattr(loop, "MODEL_RETRY_S", 0.05)
    monkeypatch.setattr(Policy, "load", staticmethod(out_of_memory))
    models = build_models(tmp_path / "registry")
    actor = Actor(actor_config(sim_server, models, model_id=models.hold, market_limit=2))
    await actor.start()
    await until(lambda: _failed_loads(actor) >= 3)
    assert actor.health().alive and "out of memory" in actor.health().last_error["message"]
    await asyncio.wait_for(actor.stop(), 10)
    assert not actor._tasks and actor.policy is None
