"""The model registry: publishing, latest, listing, integrity, concurrent writers, compatibility checks."""

from __future__ import annotations

import multiprocessing
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import orjson
import pytest

from kalshi_actor.cli import main
from kalshi_actor.registry import (
    ModelCorrupted,
    ModelExists,
    ModelIncompatible,
    ModelMetadata,
    ModelNotFound,
    Registry,
    RegistryError,
    config_hash,
)

SCHEMA = "a" * 64
ACTIONS = {"size": 100, "pricing": "join", "max_position": 1000}


def metadata(**changes) -> ModelMetadata:
    values = dict(algorithm="PPO", observation_schema_hash=SCHEMA, observation_size=52, action_config=dict(ACTIONS),
                  hyperparameters={"learning_rate": 3e-4, "n_steps": 2048}, training_sessions=["s1.session"],
                  training_time_s=12.5, evaluation={"net_pnl": "12.34", "sharpe": 1.1})
    values.update(changes)
    return ModelMetadata(**values)


def model_file(tmp_path: Path, content: bytes = b"PK\x03\x04 not really a zip") -> Path:
    path = tmp_path / f"model-{len(content)}.zip"
    path.write_bytes(content)
    return path


def test_round_trip(tmp_path: Path):
    registry = Registry(tmp_path / "models")
    source = model_file(tmp_path)
    extra = tmp_path / "vecnormalize.pkl"
    extra.write_bytes(b"stats")
    added = registry.add(source, metadata(parent="older-model"), extra_files={"vecnormalize.pkl": extra})
    record = registry.resolve(added.model_id)
    assert record.model_path.read_bytes() == source.read_bytes()
    assert record.file("vecnormalize.pkl").read_bytes() == b"stats"
    meta = record.metadata
    assert meta.model_id == record.model_id == added.model_id
    assert (meta.algorithm, meta.observation_schema_hash, meta.observation_size) == ("PPO", SCHEMA, 52)
    assert meta.action_config == ACTIONS and meta.action_config_hash == config_hash(ACTIONS)
    assert meta.hyperparameters == {"learning_rate": 3e-4, "n_steps": 2048}
    assert meta.evaluation == {"net_pnl": "12.34", "sharpe": 1.1}
    assert (meta.parent, meta.training_sessions, meta.training_time_s) == ("older-model", ["s1.session"], 12.5)
    assert meta.created_at.endswith("Z") and "kalshi-actor" in meta.library_versions
    assert record.model_id.split("-")[1] == "ppo" and record.model_id[8] == "T"
    assert registry.verify(record.model_id) == []
    sums = (record.path / "SHA256SUMS").read_text().splitlines()
    assert sorted(line.split("  ")[1] for line in sums) == ["metadata.json", "model.zip", "vecnormalize.pkl"]
    assert not [p for p in registry.root.iterdir() if p.name.startswith(".")]  # no temp left behind


def test_a_writer_function_saves_straight_into_the_registry(tmp_path: Path):
    registry = Registry(tmp_path)
    record = registry.add(lambda path: path.write_bytes(b"weights"), metadata())
    assert registry.resolve().model_path.read_bytes() == b"weights" and registry.latest_id() == record.model_id
    with pytest.raises(Exception, match="did not create model.zip"):
        registry.add(lambda path: None, metadata())
    assert registry.ids() == [record.model_id]


def test_latest(tmp_path: Path):
    registry = Registry(tmp_path)
    with pytest.raises(ModelNotFound, match="no models"):
        registry.resolve()
    first = registry.add(model_file(tmp_path), metadata(), model_id="20260101T000000Z-ppo-0001")
    second = registry.add(model_file(tmp_path), metadata(), model_id="20260102T000000Z-ppo-0002", set_latest=False)
    assert registry.resolve().model_id == first.model_id == registry.resolve("latest").model_id
    registry.set_latest(second.model_id)
    assert (tmp_path / "latest").read_text() == second.model_id + "\n" and not (tmp_path / "latest").is_symlink()
    assert registry.resolve(None).model_id == second.model_id
    with pytest.raises(ModelNotFound, match="no model 'nope'"):
        registry.set_latest("nope")
    assert registry.latest_id() == second.model_id


def test_no_latest_and_a_dangling_latest_are_clear_errors(tmp_path: Path):
    registry = Registry(tmp_path)
    registry.add(model_file(tmp_path), metadata(), set_latest=False)
    with pytest.raises(ModelNotFound, match="no latest model set.*set-latest"):
        registry.resolve()
    (tmp_path / "latest").write_text("20990101T000000Z-ppo-dead\n")
    with pytest.raises(ModelNotFound, match="latest points to '20990101T000000Z-ppo-dead'"):
        registry.resolve()
    with pytest.raises(ModelNotFound, match="no model 'unknown-id'.*known: "):
        registry.resolve("unknown-id")
    with pytest.raises(ModelNotFound, match="not a model id"):
        registry.resolve("../etc")


@pytest.mark.parametrize("content, why", [
    (b"\x80\x81\xfe\xff\x00garbage", "not text"),
    (b"", "is empty"),
    (b"  \n\t\n", "is empty"),
    (b"../etc\n", "'../etc', which is not a model id"),
    (b"20260101T000000Z-ppo-0001\n20260102T000000Z-ppo-0002\n", "which is not a model id"),
])
def test_a_broken_latest_file_is_a_clear_error(tmp_path: Path, capsys, content: bytes, why: str):
    registry = Registry(tmp_path)
    record = registry.add(model_file(tmp_path), metadata(), model_id="20260101T000000Z-ppo-0001")
    (tmp_path / "latest").write_bytes(content)
    for read in (registry.latest_id, registry.resolve):
        with pytest.raises(RegistryError, match=why) as caught:
            read()
        assert str(tmp_path / "latest") in str(caught.value) and "set-latest" in str(caught.value)
    assert main(["models", "--registry", str(tmp_path), "list"]) == 0  # the models are still listed
    out = capsys.readouterr().out
    assert record.model_id in out and why in out
    registry.set_latest(record.model_id)  # and the way out works
    assert registry.resolve().model_id == record.model_id


def test_listing_is_newest_first(tmp_path: Path):
    registry = Registry(tmp_path)
    added = [registry.add(model_file(tmp_path), metadata(algorithm=algo)).model_id for algo in ("PPO", "A2C", "DQN")]
    assert [r.model_id for r in registry.list()] == added[::-1]
    created = [r.metadata.created_at for r in registry.list()]
    assert created == sorted(created, reverse=True)
    assert sorted(registry.ids(), reverse=True) == registry.ids()


def test_a_tampered_file_is_detected(tmp_path: Path):
    registry = Registry(tmp_path)
    record = registry.add(model_file(tmp_path), metadata())
    with open(record.model_path, "r+b") as f:
        f.seek(3)
        f.write(b"X")
    assert registry.verify(record.model_id) == ["model.zip does not match its checksum"]
    with pytest.raises(ModelCorrupted, match=f"model {record.model_id} is corrupted: model.zip does not match"):
        registry.resolve()
    (record.path / "stray.bin").write_bytes(b"?")
    record.model_path.unlink()
    assert registry.verify(record.model_id) == ["model.zip is missing", "unexpected file stray.bin"]


def test_broken_metadata_is_a_clear_error(tmp_path: Path):
    registry = Registry(tmp_path)
    good = registry.add(model_file(tmp_path), metadata(), model_id="20260101T000000Z-ppo-good")
    bad = registry.add(model_file(tmp_path), metadata(), model_id="20260102T000000Z-ppo-bad0", set_latest=False)
    meta_path = bad.path / "metadata.json"
    meta_path.write_text("{not json")
    with pytest.raises(ModelCorrupted, match="metadata.json does not match its checksum"):
        registry.get(bad.model_id)
    with pytest.raises(ModelCorrupted, match="metadata.json is not valid JSON"):
        registry.get(bad.model_id, verify=False)
    data = orjson.loads((good.path / "metadata.json").read_bytes())
    del data["observation_size"]
    meta_path.write_bytes(orjson.dumps(data))
    with pytest.raises(ModelCorrupted, match="missing field.*observation_size"):
        registry.get(bad.model_id, verify=False)
    data["observation_size"] = "52"
    meta_path.write_bytes(orjson.dumps(data))
    with pytest.raises(ModelCorrupted, match="'observation_size' should be an integer"):
        registry.get(bad.model_id, verify=False)
    assert [r.model_id for r in registry.list()] == [good.model_id]  # the broken one is skipped, not fatal


def test_incompatible_models_are_refused_with_what_differs(tmp_path: Path):
    registry = Registry(tmp_path)
    record = registry.resolve(registry.add(model_file(tmp_path), metadata()).model_id)
    registry.check_compatible(record, SCHEMA, config_hash(ACTIONS), action_config=ACTIONS, observation_size=52)
    with pytest.raises(ModelIncompatible, match="observation schema hash differs") as caught:
        registry.check_compatible(record, "b" * 64, config_hash(ACTIONS))
    assert "action config" not in str(caught.value)
    other = {**ACTIONS, "pricing": "cross"}
    with pytest.raises(ModelIncompatible) as caught:
        registry.check_compatible(record, "b" * 64, config_hash(other), action_config=other, observation_size=60)
    message = str(caught.value)
    assert record.model_id in message
    assert "observation schema hash differs (model aaaaaaaaaaaaaaaa, this build bbbbbbbbbbbbbbbb)" in message
    assert "observation size differs (model 52, this build 60)" in message
    assert "action config hash differs" in message and "pricing (model 'join', this build 'cross')" in message


def test_explicit_ids_are_never_reused(tmp_path: Path):
    registry = Registry(tmp_path)
    registry.add(model_file(tmp_path, b"one"), metadata(), model_id="m-1")
    with pytest.raises(ModelExists):
        registry.add(model_file(tmp_path, b"two!"), metadata(), model_id="m-1")
    assert registry.resolve("m-1").model_path.read_bytes() == b"one"


def test_concurrent_writers_and_readers_threads(tmp_path: Path):
    registry = Registry(tmp_path)
    stop = threading.Event()
    seen_broken: list[str] = []

    def read_all() -> None:  # readers must never see half a model
        while not stop.is_set():
            for model_id in Registry(tmp_path).ids():
                problems = registry.verify(model_id)
                if problems:
                    seen_broken.append(f"{model_id}: {problems}")

    def write(i: int) -> str:
        content = bytes([i]) * (50_000 + i)
        return registry.add(lambda p: p.write_bytes(content), metadata(extra={"writer": i})).model_id

    reader = threading.Thread(target=read_all)
    reader.start()
    try:
        with ThreadPoolExecutor(8) as pool:
            ids = list(pool.map(write, range(24)))
    finally:
        stop.set()
        reader.join()
    assert seen_broken == []
    assert len(set(ids)) == 24 and sorted(ids) == sorted(registry.ids())
    for model_id in ids:
        record = registry.resolve(model_id)
        i = record.metadata.extra["writer"]
        assert record.model_path.read_bytes() == bytes([i]) * (50_000 + i)
    assert registry.latest_id() in ids
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def _race_for_one_id(root: str, i: int, start) -> str:
    start.wait()
    try:
        Registry(root).add(lambda p: p.write_bytes(bytes([i]) * 100_000),
                           metadata(extra={"writer": i}), model_id="contested")
    except ModelExists:
        return "lost"
    return f"won {i}"


def test_concurrent_writer_processes_racing_for_one_id(tmp_path: Path):
    context = multiprocessing.get_context("fork")
    start = context.Manager().Event()
    with context.Pool(6) as pool:
        pending = [pool.apply_async(_race_for_one_id, (str(tmp_path), i, start)) for i in range(6)]
        start.set()
        results = [p.get(60) for p in pending]
    winners = [r for r in results if r.startswith("won")]
    assert len(winners) == 1 and results.count("lost") == 5
    record = Registry(tmp_path).resolve()  # latest is the winner's, intact
    i = int(winners[0].split()[1])
    assert record.model_id == "contested" and record.metadata.extra["writer"] == i
    assert record.model_path.read_bytes() == bytes([i]) * 100_000
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_models_commands(tmp_path: Path, capsys):
    registry = Registry(tmp_path)
    first = registry.add(model_file(tmp_path), metadata(), model_id="20260101T000000Z-ppo-0001").model_id
    second = registry.add(model_file(tmp_path), metadata(), model_id="20260102T000000Z-ppo-0002").model_id
    assert main(["models", "--registry", str(tmp_path), "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[0] == "MODEL"
    assert lines[1].split()[:2] == ["*", second] and lines[2].split()[0] == first
    assert main(["models", "--registry", str(tmp_path), "set-latest", first]) == 0
    assert registry.latest_id() == first
    capsys.readouterr()
    assert main(["models", "--registry", str(tmp_path), "show"]) == 0
    shown = orjson.loads(capsys.readouterr().out)
    assert shown["model_id"] == first and shown["metadata"]["observation_size"] == 52
    assert main(["models", "--registry", str(tmp_path), "verify"]) == 0
    (registry.root / second / "model.zip").write_bytes(b"swapped")
    assert main(["models", "--registry", str(tmp_path), "verify"]) == 1
    out = capsys.readouterr().out
    assert f"{second}: FAILED: model.zip does not match its checksum" in out and f"{first}: OK" in out
    assert main(["models", "--registry", str(tmp_path), "show", "nope"]) == 2
    assert "no model 'nope'" in capsys.readouterr().err


def test_the_registry_stays_light():
    import subprocess
    import sys

    code = "import sys, kalshi_actor.registry; print(sorted({'torch', 'numpy', 'gymnasium'} & set(sys.modules)))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "[]\n"
