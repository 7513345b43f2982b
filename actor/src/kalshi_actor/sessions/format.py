"""Session files: WebSocket frames as received (or as the simulator produced them), with times.

A session is one UTF-8 text file, append-only, one record per line::

    #kalshi-session v1 {"source": "sim", "markets": 4}
    1782873105308599000<TAB>{"type":"orderbook_snapshot","sid":1,"seq":1,"msg":{...}}
    1782873105309673000<TAB>{"type":"orderbook_delta","sid":1,"seq":2,"msg":{...}}

- Line 1 is the header: the magic ``#kalshi-session``, the format version, and a JSON
  object of free metadata (source, host, markets, clock kind...).
- Every other line is ``recv_ts_ns`` (integer nanoseconds since the Unix epoch, the
  receive time; virtual time for simulated sessions), a TAB, and the raw frame exactly
  as sent. JSON never holds a raw newline inside a string, so a frame is one line; a
  pretty-printed frame's newlines (whitespace between tokens) are written as spaces,
  which leaves its JSON meaning unchanged.
- Crash safety: a record exists once its ``\\n`` is written. Readers stop at the last
  complete line and ignore a half-written tail; a writer appending to such a file
  first cuts the tail off. ``flush_every`` bounds what a crash can lose (``fsync`` for
  power loss too).
- No compression: a gzip stream's tail is not crash-safe. Compress finished sessions
  if you like; :func:`read_frames` reads ``.gz`` files too (up to the last complete
  record of a truncated one).

Evaluation-only data of a simulated session lives in a sidecar file next to it, never in the frame
log, so nothing that reads frames (:func:`read_frames`, replay, training) can see it: the latent
sidecar ``<session>.latent.npz`` (:func:`latent_path`; ``x.session`` and ``x.session.gz`` share
``x.session.latent.npz``) is a NumPy ``.npz`` archive of

- ``version``: int64 ``[1]``;
- ``tickers``: str ``[n]``, sorted; ``regimes``: str ``[n]``, each market's regime name (``""``: none);
- ``offsets``: int64 ``[n + 1]``; market ``i``'s samples are ``[offsets[i], offsets[i + 1])`` of
- ``ts_ms``: int64, virtual milliseconds since the Unix epoch, non-decreasing per market, and
  ``p``: float64, the simulator's latent YES probability (0..1) from that time on (a step
  function: see :func:`latent_at`), sampled when the market is listed and at every change.

Written whole, by :func:`write_latent`, after the session (a temp file renamed into place).
"""

from __future__ import annotations

import asyncio
import gzip
import os
import time
import zlib
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    import numpy as np

MAGIC = b"#kalshi-session"
VERSION = 1
LATENT_VERSION = 1
LATENT_SUFFIX = ".latent.npz"

__all__ = ["SessionError", "SessionWriter", "market_info", "read_header", "read_frames", "replay", "MAGIC", "VERSION",
           "latent_path", "write_latent", "read_latent", "read_regimes", "latent_at", "replace_session",
           "LATENT_VERSION"]

# The REST market fields a session header keeps under "market_info" (what replay and training need later:
# close times and the tick grid), as ``{ticker: {field: wire value}}``, plus the market's fee schedule
# (``fee_type``, ``fee_multiplier``: its series', which REST markets do not carry).
MARKET_INFO_FIELDS = ("ticker", "event_ticker", "market_type", "title", "status", "open_time", "close_time",
                      "expected_expiration_time", "latest_expiration_time", "settlement_timer_seconds",
                      "can_close_early", "price_level_structure", "price_ranges", "notional_value_dollars",
                      "strike_type")


def market_info(markets: Iterable[Any], fees: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The header's ``market_info`` from REST market models (``kalshi.models.Market``) and each market's
    fee schedule (``fees[ticker]``, a :class:`~kalshi_actor.trading.fees.FeeSchedule`).

    Headers written before the fee schedule was kept lack ``fee_type``/``fee_multiplier``: readers then
    use their default schedule (see :class:`~kalshi_actor.marketdata.MarketInfo`)."""
    info = {}
    for m in markets:
        fields = {k: v for k, v in m.to_wire().items() if k in MARKET_INFO_FIELDS}
        fields.update(fees[m.ticker].to_dict())
        info[m.ticker] = fields
    return info


class SessionError(ValueError):
    """Not a session file, an unsupported version, or a corrupt record."""


def _header_line(meta: dict[str, Any]) -> bytes:
    return MAGIC + b" v%d " % VERSION + orjson.dumps(meta) + b"\n"


def _parse_header(line: bytes, path: os.PathLike[str] | str) -> dict[str, Any]:
    if not line.startswith(MAGIC + b" v"):
        raise SessionError(f"{os.fspath(path)}: not a session file (no {MAGIC.decode()} header)")
    version, _, meta = line[len(MAGIC) + 2:].partition(b" ")
    if not version.isdigit() or int(version) != VERSION:
        raise SessionError(f"{os.fspath(path)}: unsupported session version {version.decode(errors='replace')!r}")
    try:
        value = orjson.loads(meta) if meta.strip() else {}
    except orjson.JSONDecodeError as exc:
        raise SessionError(f"{os.fspath(path)}: bad header metadata: {exc}") from None
    if not isinstance(value, dict):
        raise SessionError(f"{os.fspath(path)}: header metadata must be a JSON object")
    return value


class SessionWriter:
    """Appends frames to a session file (creating it with a header, or continuing an existing one).

    >>> with SessionWriter("s.session", {"source": "demo"}) as w:  # doctest: +SKIP
    ...     w.write(raw_frame)                        # stamped with time.time_ns()
    ...     w.write(raw_frame, recv_ts_ns=virtual_ns)  # or with a given (virtual) time
    """

    def __init__(self, path: str | os.PathLike[str], meta: dict[str, Any] | None = None, *,
                 flush_every: int = 256, fsync: bool = False) -> None:
        self.path = Path(path)
        self.flush_every = max(1, flush_every)
        self.fsync = fsync
        self.records = 0
        self._unflushed = 0
        if self.path.exists() and self.path.stat().st_size > 0:
            self.meta = read_header(self.path)
            _cut_partial_tail(self.path)
            self._file: IO[bytes] = open(self.path, "ab")
        else:
            self.meta = dict(meta or {})
            self._file = open(self.path, "wb")
            self._file.write(_header_line(self.meta))
            self._file.flush()

    def write(self, raw: bytes | str, recv_ts_ns: int | None = None) -> None:
        """Append one frame (bytes or str, exactly as received)."""
        data = raw.encode() if isinstance(raw, str) else bytes(raw)
        data = data.rstrip(b"\r\n")
        if b"\n" in data or b"\r" in data:
            data = data.replace(b"\r", b" ").replace(b"\n", b" ")
        ts = time.time_ns() if recv_ts_ns is None else recv_ts_ns
        self._file.write(b"%d\t%b\n" % (ts, data))
        self.records += 1
        self._unflushed += 1
        if self._unflushed >= self.flush_every:
            self.flush()

    def flush(self) -> None:
        self._file.flush()
        if self.fsync:
            os.fsync(self._file.fileno())
        self._unflushed = 0

    def close(self) -> None:
        if not self._file.closed:
            self.flush()
            self._file.close()

    def __enter__(self) -> SessionWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _cut_partial_tail(path: Path) -> None:
    """Truncate a half-written last record so appended records start on a fresh line."""
    with open(path, "rb+") as f:
        size = f.seek(0, os.SEEK_END)
        if size == 0:
            return
        f.seek(size - 1)
        if f.read(1) == b"\n":
            return
        block = 1 << 16
        pos = size
        while pos > 0:
            start = max(0, pos - block)
            f.seek(start)
            chunk = f.read(pos - start)
            cut = chunk.rfind(b"\n")
            if cut >= 0:
                f.truncate(start + cut + 1)
                return
            pos = start
        raise SessionError(f"{path}: the header itself is incomplete")


def _open(path: Path) -> IO[bytes]:
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def read_header(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The session's metadata (the header's JSON object)."""
    path = Path(path)
    with _open(path) as f:
        line = f.readline()
    if not line.endswith(b"\n"):
        raise SessionError(f"{path}: the header is incomplete")
    return _parse_header(line.rstrip(b"\n"), path)


def read_frames(path: str | os.PathLike[str]) -> Iterator[tuple[int, bytes]]:
    """Yield ``(recv_ts_ns, raw frame bytes)`` for every complete record, in file order."""
    path = Path(path)
    with _open(path) as f:
        header = f.readline()
        if not header.endswith(b"\n"):
            raise SessionError(f"{path}: the header is incomplete")
        _parse_header(header.rstrip(b"\n"), path)
        number = 1
        try:
            for line in f:
                number += 1
                if not line.endswith(b"\n"):
                    return  # a half-written last record: the session ends before it
                ts, tab, raw = line.partition(b"\t")
                if not tab or not ts.isdigit():
                    raise SessionError(f"{path}:{number}: not a 'recv_ts_ns<TAB>frame' record")
                yield int(ts), raw[:-1]
        except (EOFError, zlib.error, gzip.BadGzipFile):
            return  # a truncated .gz: everything complete before the cut was yielded


async def replay(path: str | os.PathLike[str], *, speed: float | None = 1.0) -> AsyncIterator[tuple[int, bytes]]:
    """Yield a session's frames paced like the recording (``speed`` 2.0 = twice as fast; None = no pacing)."""
    loop = asyncio.get_running_loop()
    start_wall = loop.time()
    first_ts: int | None = None
    for ts, raw in read_frames(path):
        if speed is not None:
            if first_ts is None:
                first_ts = ts
            due = start_wall + (ts - first_ts) / 1e9 / speed
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
        yield ts, raw


# --- the latent sidecar (evaluation only) ---


def latent_path(path: str | os.PathLike[str]) -> Path:
    """Where a session's latent sidecar is: ``x.session`` (or ``x.session.gz``) -> ``x.session.latent.npz``."""
    path = Path(path)
    base = path.with_suffix("") if path.suffix == ".gz" else path
    return base.with_name(base.name + LATENT_SUFFIX)


def write_latent(path: str | os.PathLike[str], series: Mapping[str, tuple[Iterable[int], Iterable[float]]],
                 regimes: Mapping[str, str] | None = None) -> Path:
    """Write the latent sidecar of session ``path``: ``series[ticker] = (ts_ms, p)`` and, optionally, each
    market's regime name. Atomic (temp file, then rename). Returns the sidecar's path."""
    import numpy as np

    regimes = regimes or {}
    tickers = sorted(series)
    ts = [np.asarray(series[t][0], dtype=np.int64) for t in tickers]
    ps = [np.asarray(series[t][1], dtype=np.float64) for t in tickers]
    for ticker, a, b in zip(tickers, ts, ps):
        if a.shape != b.shape or a.ndim != 1:
            raise ValueError(f"latent series of {ticker}: ts_ms and p must be 1-d and of one length")
    offsets = np.zeros(len(tickers) + 1, dtype=np.int64)
    np.cumsum([len(a) for a in ts], out=offsets[1:])
    target = latent_path(path)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        np.savez(f, version=np.array([LATENT_VERSION], dtype=np.int64), tickers=np.array(tickers, dtype=str),
                 regimes=np.array([regimes.get(t, "") for t in tickers], dtype=str), offsets=offsets,
                 ts_ms=np.concatenate(ts) if ts else np.zeros(0, np.int64),
                 p=np.concatenate(ps) if ps else np.zeros(0, np.float64))
    os.replace(tmp, target)
    return target


def replace_session(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
    """``os.replace`` a session and its latent sidecar (when it has one; a stale sidecar at ``dst`` is removed)."""
    sidecar = latent_path(src)
    if sidecar.exists():
        os.replace(sidecar, latent_path(dst))
    else:
        latent_path(dst).unlink(missing_ok=True)
    os.replace(src, dst)


def _load_latent(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    import numpy as np

    sidecar = latent_path(path)
    if not sidecar.exists():
        raise SessionError(f"{os.fspath(path)}: no latent data (no {sidecar.name} next to it: a recorded session, "
                           "or one generated without the latent sidecar)")
    try:
        with np.load(sidecar, allow_pickle=False) as z:
            data = {k: z[k] for k in ("version", "tickers", "regimes", "offsets", "ts_ms", "p")}
    except (OSError, ValueError, KeyError) as exc:
        raise SessionError(f"{sidecar}: not a latent sidecar: {exc}") from None
    if data["version"].tolist() != [LATENT_VERSION]:
        raise SessionError(f"{sidecar}: unsupported latent sidecar version {data['version'].tolist()!r}")
    return data


def read_latent(path: str | os.PathLike[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """A simulated session's latent YES probabilities: ``{ticker: (ts_ms int64, p float64)}``, each sorted by
    time (read-only arrays). Evaluation only. :class:`SessionError` when the session has no sidecar."""
    data = _load_latent(path)
    offsets, ts, p = data["offsets"], data["ts_ms"], data["p"]
    out = {}
    for i, ticker in enumerate(data["tickers"].tolist()):
        a, b = ts[offsets[i]:offsets[i + 1]], p[offsets[i]:offsets[i + 1]]
        a.flags.writeable = b.flags.writeable = False
        out[ticker] = (a, b)
    return out


def read_regimes(path: str | os.PathLike[str]) -> dict[str, str]:
    """Each market's regime name (evaluation only): the latent sidecar's (every market, relisted ones too), else
    the header's ``regimes`` (the markets listed at the start). :class:`SessionError` when neither has any."""
    try:
        data = _load_latent(path)
    except SessionError:
        regimes = read_header(path).get("regimes")
        if not regimes:
            raise SessionError(f"{os.fspath(path)}: no regimes (no latent sidecar, no header 'regimes')") from None
        return dict(regimes)
    return {t: r for t, r in zip(data["tickers"].tolist(), data["regimes"].tolist()) if r}


def latent_at(series: tuple[np.ndarray, np.ndarray], ts_ms: int | np.ndarray) -> float | np.ndarray:
    """The latent probability in force at ``ts_ms`` (one time, or an array of them): the last sample at or before
    it (a step function); NaN before the first sample."""
    import numpy as np

    ts, p = series
    i = np.searchsorted(ts, ts_ms, side="right") - 1
    if np.ndim(i) == 0:
        return float(p[i]) if i >= 0 else float("nan")
    return np.where(i >= 0, p[np.maximum(i, 0)], np.nan) if len(p) else np.full(np.shape(i), np.nan)
