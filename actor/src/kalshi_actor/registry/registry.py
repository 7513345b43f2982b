"""A directory of trained models: immutable folders, checksums, and a ``latest`` pointer.

Layout (any filesystem, e.g. a Kubernetes PVC; no symlinks)::

    ROOT/
      latest                      the id of the serving model, one line (replaced atomically)
      20261124T031502Z-ppo-3f2a/  one folder per model, never changed once published
        model.zip                 the policy (a stable-baselines3 zip; opaque here)
        metadata.json             ModelMetadata
        SHA256SUMS                sha256 of every other file (``sha256sum -c`` format)
      .tmp-.../                   a write in progress (ignored by readers)

Publishing is write-then-rename: a model is written and fsynced into a hidden temp
folder inside ROOT, then renamed to its id in one step. Readers therefore see a whole
model or none, and two writers never touch each other's files; a crashed writer leaves
only a hidden temp folder, swept later. Ids start with a UTC timestamp, so they sort by
creation time.

Every failure is a :class:`RegistryError` whose message says which model or file and what is wrong:
:class:`ModelNotFound` (no such id, nothing published, ``latest`` unset or dangling),
:class:`ModelCorrupted` (a checksum or the metadata), :class:`ModelIncompatible` (another
schema or action config), :class:`ModelLoadError` (raised by the loader: the checksums pass but
the policy does not load). A ``latest`` holding no model id (garbage, empty) is a RegistryError.

This module must stay light (the operator may import it): no torch, no numpy.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.metadata
import logging
import os
import platform
import re
import secrets
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson

log = logging.getLogger(__name__)

MODEL_FILE = "model.zip"
METADATA_FILE = "metadata.json"
CHECKSUMS_FILE = "SHA256SUMS"
LATEST_FILE = "latest"
METADATA_FORMAT = 1
ROOT_ENV = "KALSHI_MODEL_REGISTRY"  # where the CLI finds the registry when --registry is not given
DEFAULT_ROOT = "models"

_TMP_PREFIX = ".tmp-"
_STALE_TMP_S = 24 * 3600  # a temp folder this old belongs to a writer that died
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_FILE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_LIBRARIES = ("kalshi-actor", "stable-baselines3", "torch", "gymnasium", "numpy")

__all__ = [
    "Registry", "ModelMetadata", "ModelRecord", "RegistryError", "ModelNotFound", "ModelExists",
    "ModelCorrupted", "ModelIncompatible", "ModelLoadError", "config_hash", "default_root", "new_model_id",
    "listing", "describe",
]


class RegistryError(Exception):
    """Base of the registry's errors; the message says what to do."""


class ModelNotFound(RegistryError):
    """No such model id, an empty registry, or no ``latest`` set."""


class ModelExists(RegistryError):
    """A model with this id is already published (ids are never reused)."""


class ModelCorrupted(RegistryError):
    """A model's files do not match their checksums, or its metadata cannot be read."""


class ModelIncompatible(RegistryError):
    """The model was trained on another observation schema or action config than this build's."""


class ModelLoadError(RegistryError):
    """A model's files match their checksums but its policy does not load: a truncated or foreign file
    published with fresh checksums, or one saved by another library version. The message names the file."""


def config_hash(config: Mapping[str, Any]) -> str:
    """sha256 hex of a JSON-able config in canonical form (sorted keys): equal configs, equal hashes."""
    return hashlib.sha256(orjson.dumps(config, option=orjson.OPT_SORT_KEYS)).hexdigest()


def default_root() -> Path:
    """``$KALSHI_MODEL_REGISTRY``, else ``./models``."""
    return Path(os.environ.get(ROOT_ENV) or DEFAULT_ROOT)


def new_model_id(algorithm: str, now: datetime | None = None) -> str:
    """``20261124T031502Z-ppo-3f2a``: UTC creation time (sortable), algorithm, 4 random hex digits."""
    now = now or datetime.now(timezone.utc)
    algo = re.sub(r"[^a-z0-9]+", "", algorithm.lower()) or "model"
    return f"{now.astimezone(timezone.utc):%Y%m%dT%H%M%SZ}-{algo}-{secrets.token_hex(2)}"


@dataclass(frozen=True)
class ModelMetadata:
    """What a model is and what it needs. Written once, with the model, as ``metadata.json``.

    ``observation_schema_hash`` and ``action_config_hash`` are what loading checks
    (:meth:`Registry.check_compatible`). ``action_config_hash`` defaults to
    :func:`config_hash` of ``action_config``. ``training_time_s`` is wall seconds.
    ``model_id``, ``created_at`` (ISO 8601 UTC, microseconds) and ``library_versions``
    are filled in by :meth:`Registry.add`.
    """

    algorithm: str
    observation_schema_hash: str
    observation_size: int
    action_config: dict[str, Any]
    action_config_hash: str = ""
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    training_sessions: list[str] = field(default_factory=list)
    training_time_s: float = 0.0
    evaluation: dict[str, Any] = field(default_factory=dict)  # metrics by name (or by baseline)
    parent: str | None = None  # the model this one was trained from (lineage)
    created_at: str = ""
    library_versions: dict[str, str] = field(default_factory=dict)
    model_id: str = ""
    extra: dict[str, Any] = field(default_factory=dict)  # anything else a trainer wants to keep

    def __post_init__(self) -> None:
        if not self.action_config_hash:
            object.__setattr__(self, "action_config_hash", config_hash(self.action_config))

    def as_dict(self) -> dict[str, Any]:
        return {"format": METADATA_FORMAT, **asdict(self)}

    @classmethod
    def from_dict(cls, data: Any) -> ModelMetadata:
        """Parse ``metadata.json``'s object; raises ValueError naming the bad field."""
        if not isinstance(data, dict):
            raise ValueError("metadata is not a JSON object")
        if data.get("format", METADATA_FORMAT) != METADATA_FORMAT:
            raise ValueError(f"unsupported metadata format {data.get('format')!r} (this build reads {METADATA_FORMAT})")
        known = {f.name: f for f in fields(cls)}
        missing = [name for name in ("algorithm", "observation_schema_hash", "observation_size", "action_config")
                   if name not in data]
        if missing:
            raise ValueError(f"missing field(s): {', '.join(missing)}")
        values = {name: value for name, value in data.items() if name in known}
        for name, kind in _FIELD_TYPES.items():
            if name in values and values[name] is not None and not isinstance(values[name], kind):
                raise ValueError(f"field {name!r} should be {_kind_name(kind)}, "
                                 f"got {type(values[name]).__name__}")
        if isinstance(values["observation_size"], bool) or values["observation_size"] <= 0:
            raise ValueError("field 'observation_size' should be a positive integer")
        return cls(**values)


_FIELD_TYPES: dict[str, type | tuple[type, ...]] = {
    "algorithm": str, "observation_schema_hash": str, "observation_size": int, "action_config": dict,
    "action_config_hash": str, "hyperparameters": dict, "training_sessions": list,
    "training_time_s": (int, float), "evaluation": dict, "parent": str, "created_at": str,
    "library_versions": dict, "model_id": str, "extra": dict,
}


def _kind_name(kind: type | tuple[type, ...]) -> str:
    return "a number" if isinstance(kind, tuple) else {"str": "a string", "int": "an integer", "dict": "an object",
                                                        "list": "a list"}[kind.__name__]


@dataclass(frozen=True)
class ModelRecord:
    """A published model: where its files are and what it is."""

    model_id: str
    path: Path  # the model's folder
    metadata: ModelMetadata

    @property
    def model_path(self) -> Path:
        """The policy file, for ``PPO.load(record.model_path)``."""
        return self.path / MODEL_FILE

    def file(self, name: str) -> Path:
        """An extra file stored with the model (see ``extra_files`` of :meth:`Registry.add`)."""
        return self.path / name


class Registry:
    """Models under one directory. Safe for many concurrent readers and writers, threads or processes.

    >>> registry = Registry("/models")                                   # doctest: +SKIP
    >>> record = registry.add(model.save, ModelMetadata(...))             # publish; becomes latest
    >>> record = registry.resolve(None)                                  # latest, checksums verified
    >>> registry.check_compatible(record, SCHEMA_HASH, action_config_hash(cfg))
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"Registry({os.fspath(self.root)!r})"

    # --- writing ---

    def add(self, model: str | os.PathLike[str] | Callable[[Path], object], metadata: ModelMetadata, *,
            model_id: str | None = None, extra_files: Mapping[str, str | os.PathLike[str]] | None = None,
            set_latest: bool = True) -> ModelRecord:
        """Publish a model; returns its record.

        ``model`` is the model file to copy, or a function that writes the model file to
        the path it is given (e.g. an SB3 model's ``save``). ``extra_files`` maps file
        names to paths copied beside it (e.g. normalisation statistics). The id is new
        (:func:`new_model_id`) unless given; an existing id raises :class:`ModelExists`.
        ``set_latest`` points ``latest`` at the new model.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        self._sweep_stale_temp()
        if model_id is not None:
            _check_id(model_id)
        now = datetime.now(timezone.utc)
        final_id = model_id or new_model_id(metadata.algorithm, now)
        metadata = _replace(metadata, model_id=final_id, created_at=metadata.created_at or _iso(now),
                            library_versions=metadata.library_versions or _library_versions())
        for name in extra_files or {}:
            if not _FILE.fullmatch(name) or name in (MODEL_FILE, METADATA_FILE, CHECKSUMS_FILE):
                raise ValueError(f"extra file name {name!r} is not allowed")
        tmp = _make_temp_dir(self.root)
        try:
            target = tmp / MODEL_FILE
            if callable(model):
                model(target)
                if not target.is_file():
                    raise RegistryError(f"the model writer did not create {target.name} (it wrote "
                                        f"{sorted(p.name for p in tmp.iterdir()) or 'nothing'})")
            else:
                shutil.copyfile(model, target)
            for name, source in (extra_files or {}).items():
                shutil.copyfile(source, tmp / name)
            (tmp / METADATA_FILE).write_bytes(orjson.dumps(metadata.as_dict(), option=orjson.OPT_INDENT_2))
            sums = {p.name: _sha256(p) for p in sorted(tmp.iterdir())}
            (tmp / CHECKSUMS_FILE).write_text("".join(f"{digest}  {name}\n" for name, digest in sums.items()))
            for path in tmp.iterdir():
                _fsync_file(path)
            _fsync_dir(tmp)
            final_id = self._publish(tmp, final_id, explicit=model_id is not None, metadata=metadata)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        if set_latest:
            self.set_latest(final_id)
        log.info("model %s published in %s", final_id, self.root)
        return self.get(final_id, verify=False)

    def _publish(self, tmp: Path, model_id: str, *, explicit: bool, metadata: ModelMetadata) -> str:
        """Rename the finished temp folder to its id; a fresh id on a (rare) collision of generated ids."""
        for _ in range(20):
            target = self.root / model_id
            if not target.exists():
                try:
                    os.rename(tmp, target)  # atomic; fails if another writer got there first with files
                except OSError:
                    if not target.exists():
                        raise
                else:
                    _fsync_dir(self.root)
                    return model_id
            if explicit:
                raise ModelExists(f"model {model_id} already exists in {self.root}; ids are never reused")
            model_id = new_model_id(metadata.algorithm)
            (tmp / METADATA_FILE).write_bytes(orjson.dumps(_replace(metadata, model_id=model_id).as_dict(),
                                                           option=orjson.OPT_INDENT_2))
            _rewrite_checksums(tmp)
        raise RegistryError(f"could not find a free model id in {self.root}")

    def set_latest(self, model_id: str) -> None:
        """Point ``latest`` at a published model (atomic replace; the last writer wins)."""
        self.get(model_id, verify=False)  # exists and is readable
        _write_atomic(self.root / LATEST_FILE, (model_id + "\n").encode())

    # --- reading ---

    def ids(self) -> list[str]:
        """Every published model id, newest first (by id, i.e. by creation second)."""
        if not self.root.is_dir():
            return []
        return sorted((p.name for p in self.root.iterdir()
                       if p.is_dir() and not p.name.startswith(".") and _ID.fullmatch(p.name)), reverse=True)

    def list(self) -> list[ModelRecord]:
        """Every readable model, newest first (by ``created_at``). Unreadable ones are logged and skipped."""
        records = []
        for model_id in self.ids():
            try:
                records.append(self.get(model_id, verify=False))
            except RegistryError as exc:
                log.warning("skipping %s: %s", model_id, exc)
        records.sort(key=lambda r: (r.metadata.created_at, r.model_id), reverse=True)
        return records

    def latest_id(self) -> str | None:
        """The id ``latest`` names, or None when it was never set; a :class:`RegistryError` naming the file
        when it holds no model id (binary garbage, empty, several lines: a hand edit or a damaged volume)."""
        path = self.root / LATEST_FILE
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            text = data.decode().strip()
        except UnicodeDecodeError:
            raise _broken_latest(path, f"holds {len(data)} bytes that are not text") from None
        if not text:
            raise _broken_latest(path, "is empty")
        if not _ID.fullmatch(text) or text == LATEST_FILE:
            raise _broken_latest(path, f"holds {text[:80]!r}, which is not a model id")
        return text

    def get(self, model_id: str, *, verify: bool = True) -> ModelRecord:
        """A model by id, its checksums verified unless ``verify=False``."""
        _check_id(model_id)
        path = self.root / model_id
        if not path.is_dir():
            known = self.ids()
            hint = f"known: {', '.join(known[:5])}{' ...' if len(known) > 5 else ''}" if known else "it is empty"
            raise ModelNotFound(f"no model {model_id!r} in {self.root} ({hint})")
        if verify:
            problems = self.verify(model_id)
            if problems:
                raise ModelCorrupted(f"model {model_id} is corrupted: {'; '.join(problems)}")
        return ModelRecord(model_id, path, _read_metadata(path, model_id))

    def resolve(self, model_id: str | None = None) -> ModelRecord:
        """The model to load: ``model_id``, or ``latest`` when None (or ``"latest"``), checksums verified."""
        if model_id in (None, "", LATEST_FILE):
            latest = self.latest_id()
            if latest is None:
                if not self.ids():
                    raise ModelNotFound(f"no models in {self.root}: train one first (kalshi-actor train)")
                raise ModelNotFound(f"no latest model set in {self.root}: "
                                    f"choose one with `kalshi-actor models set-latest ID`")
            try:
                return self.get(latest)
            except ModelNotFound:
                raise ModelNotFound(f"latest points to {latest!r}, which is not in {self.root}") from None
        return self.get(model_id)

    def verify(self, model_id: str) -> list[str]:
        """Problems with a model's files (empty when every checksum matches and nothing is missing or extra)."""
        _check_id(model_id)
        path = self.root / model_id
        if not path.is_dir():
            raise ModelNotFound(f"no model {model_id!r} in {self.root}")
        try:
            expected = _read_checksums(path / CHECKSUMS_FILE)
        except FileNotFoundError:
            return [f"{CHECKSUMS_FILE} is missing"]
        except ValueError as exc:
            return [str(exc)]
        problems = []
        present = {p.name for p in path.iterdir() if p.name != CHECKSUMS_FILE}
        for name in (MODEL_FILE, METADATA_FILE):
            if name not in expected:
                problems.append(f"{CHECKSUMS_FILE} does not cover {name}")
        for name, digest in expected.items():
            if name not in present:
                problems.append(f"{name} is missing")
            elif _sha256(path / name) != digest:
                problems.append(f"{name} does not match its checksum")
        problems.extend(f"unexpected file {name}" for name in sorted(present - expected.keys()))
        return problems

    def check_compatible(self, record: ModelRecord, observation_schema_hash: str, action_config_hash: str, *,
                         action_config: Mapping[str, Any] | None = None,
                         observation_size: int | None = None) -> None:
        """Refuse a model trained for another observation schema or action config than the caller's.

        Raises :class:`ModelIncompatible` naming every difference. Pass ``action_config``
        too and the message names the differing keys.
        """
        meta = record.metadata
        problems = []
        if meta.observation_schema_hash != observation_schema_hash:
            problems.append(f"observation schema hash differs (model {meta.observation_schema_hash[:16]}, "
                            f"this build {observation_schema_hash[:16]})")
        if observation_size is not None and meta.observation_size != observation_size:
            problems.append(f"observation size differs (model {meta.observation_size}, this build {observation_size})")
        if meta.action_config_hash != action_config_hash:
            detail = ""
            if action_config is not None:
                keys = sorted(k for k in set(meta.action_config) | set(action_config)
                              if meta.action_config.get(k, _MISSING) != action_config.get(k, _MISSING))
                if keys:
                    detail = "; differing keys: " + ", ".join(
                        f"{k} (model {meta.action_config.get(k, '<absent>')!r}, "
                        f"this build {action_config.get(k, '<absent>')!r})" for k in keys)
            problems.append(f"action config hash differs (model {meta.action_config_hash[:16]}, "
                            f"this build {action_config_hash[:16]}){detail}")
        if problems:
            raise ModelIncompatible(f"model {record.model_id} cannot be used: {'; '.join(problems)}")

    # --- housekeeping ---

    def _sweep_stale_temp(self) -> None:
        cutoff = time.time() - _STALE_TMP_S
        for path in self.root.glob(_TMP_PREFIX + "*"):
            try:
                if path.stat().st_mtime < cutoff:
                    shutil.rmtree(path, ignore_errors=True)
            except FileNotFoundError:
                pass  # another writer swept it


_MISSING = object()


def _check_id(model_id: str) -> None:
    if not isinstance(model_id, str) or not _ID.fullmatch(model_id) or model_id == LATEST_FILE:
        raise ModelNotFound(f"{model_id!r} is not a model id (letters, digits, '.', '_', '-'; not 'latest')")


def _broken_latest(path: Path, problem: str) -> RegistryError:
    return RegistryError(f"{path} {problem}: point it at a model with `kalshi-actor models set-latest ID`")


def _read_metadata(path: Path, model_id: str) -> ModelMetadata:
    try:
        data = orjson.loads((path / METADATA_FILE).read_bytes())
    except FileNotFoundError:
        raise ModelCorrupted(f"model {model_id}: {METADATA_FILE} is missing") from None
    except orjson.JSONDecodeError as exc:
        raise ModelCorrupted(f"model {model_id}: {METADATA_FILE} is not valid JSON ({exc})") from None
    try:
        meta = ModelMetadata.from_dict(data)
    except (ValueError, TypeError) as exc:
        raise ModelCorrupted(f"model {model_id}: broken {METADATA_FILE}: {exc}") from None
    if meta.model_id and meta.model_id != model_id:
        raise ModelCorrupted(f"model {model_id}: {METADATA_FILE} says it is {meta.model_id!r}")
    return meta


def _read_checksums(path: Path) -> dict[str, str]:
    sums = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        digest, sep, name = line.partition("  ")
        if not sep or len(digest) != 64 or not _FILE.fullmatch(name.lstrip("*")):
            raise ValueError(f"{CHECKSUMS_FILE} line {number} is malformed")
        sums[name.lstrip("*")] = digest.lower()
    return sums


def _rewrite_checksums(folder: Path) -> None:
    sums = {p.name: _sha256(p) for p in sorted(folder.iterdir()) if p.name != CHECKSUMS_FILE}
    (folder / CHECKSUMS_FILE).write_text("".join(f"{digest}  {name}\n" for name, digest in sums.items()))
    for path in folder.iterdir():
        _fsync_file(path)
    _fsync_dir(folder)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _make_temp_dir(root: Path) -> Path:
    path = Path(tempfile.mkdtemp(prefix=_TMP_PREFIX, dir=root))
    path.chmod(0o755)  # mkdtemp makes it private; a published model is readable by the actor pods
    return path


def _write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` in one step (temp file in the same folder, fsync, rename)."""
    tmp = path.with_name(f"{_TMP_PREFIX}{path.name}-{secrets.token_hex(6)}")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return  # some platforms cannot open a directory; the rename is still atomic
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems refuse fsync on directories
    finally:
        os.close(fd)


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _library_versions() -> dict[str, str]:
    """Installed versions, read from package metadata (importing torch here would make the registry heavy)."""
    versions = {"python": platform.python_version()}
    for name in _LIBRARIES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return versions


def _replace(meta: ModelMetadata, **changes: Any) -> ModelMetadata:
    return dataclasses.replace(meta, **changes)


# --- what `kalshi-actor models ...` prints ---


def listing(registry: Registry) -> str:
    """A table of the models, newest first; ``*`` marks latest (a broken ``latest`` is noted, not fatal)."""
    try:
        latest, problem = registry.latest_id(), None
    except RegistryError as exc:
        latest, problem = None, str(exc)
    records = registry.list()
    if not records:
        return f"no models in {registry.root}"
    rows = [("", "MODEL", "ALGORITHM", "CREATED", "OBS SCHEMA", "ACTIONS", "PARENT")]
    for r in records:
        m = r.metadata
        rows.append(("*" if r.model_id == latest else "", r.model_id, m.algorithm, m.created_at[:19] + "Z",
                     m.observation_schema_hash[:12], m.action_config_hash[:12], m.parent or "-"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    skipped = len(registry.ids()) - len(records)
    if skipped:
        lines.append(f"({skipped} unreadable model folder(s) skipped; run `kalshi-actor models verify`)")
    if problem:
        lines.append(f"(no latest: {problem})")
    return "\n".join(lines)


def describe(record: ModelRecord) -> dict[str, Any]:
    """A model's metadata and file paths, as one JSON-able dict."""
    return {"model_id": record.model_id, "path": os.fspath(record.path), "model_path": os.fspath(record.model_path),
            "metadata": record.metadata.as_dict()}
