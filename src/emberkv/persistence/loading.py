"""Loading the dataset from an RDB file, in slices so clients are answered meanwhile.

While loading, INFO reports progress (loading_* fields) and every command not flagged ``loading``
gets ``-LOADING``. A missing file means an empty start. A corrupt, truncated or unreadable file stops
start-up with one line naming the file, the byte offset and the reason: the data is never served,
because the CRC-64 at the end is checked before loading is declared done.
"""

from __future__ import annotations

import asyncio
import gc
import os
import time
from collections.abc import Generator
from typing import TYPE_CHECKING

from emberkv.persistence.rdb.errors import RdbError
from emberkv.persistence.rdb.reader import LoadStats, RdbReader
from emberkv.persistence.saving import encoding_limits

if TYPE_CHECKING:
    from emberkv.server.app import Server

SLICE_BYTES = 2 * 1024 * 1024  # like loading-process-events-interval-bytes
PROGRESS_LOG_SECONDS = 1.0


class LoadError(Exception):
    """Start-up cannot continue; str() is the one line to log."""


async def load_rdb(server: Server, path: str) -> LoadStats | None:
    """Load path into the (empty) keyspace, serving clients between slices; None when there is no
    file. Raises LoadError."""
    steps = _load_steps(server, path, SLICE_BYTES)
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value
        await asyncio.sleep(0)


def load_rdb_now(server: Server, path: str) -> LoadStats | None:
    """Load path in one go (DEBUG RELOAD); raises LoadError."""
    steps = _load_steps(server, path, None)
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value


def _load_steps(server: Server, path: str, slice_bytes: int | None,
                now_ms: int | None = -1) -> Generator[None, None, LoadStats | None]:
    """The load, as a generator that yields between slices of the file."""
    state = server.persistence
    if now_ms == -1:
        now_ms = int(time.time() * 1000)
    try:
        f = open(path, "rb")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise LoadError(f"Fatal error loading the DB {path}: {exc.strerror}. Exiting.") from exc
    stats = LoadStats()
    started = time.time()
    gc_was_enabled = gc.isenabled()
    gc.disable()  # millions of new objects, none freed: the cyclic collector would only slow this down
    with f:
        total = os.fstat(f.fileno()).st_size
        state.loading = True
        state.loading_start_time = int(started)
        state.loading_total_bytes = total
        state.loading_loaded_bytes = 0
        try:
            reader = RdbReader(f, encoding_limits(server.config), server.config["rdbchecksum"], total)
            server.log.notice(f"Loading RDB produced by version "
                              f"{reader.aux.get(b'redis-ver', b'?').decode('utf-8', 'replace')}")
            last_log = started
            while not reader.load_into(server.keyspace, now_ms, stats, slice_bytes):
                state.loading_loaded_bytes = reader.bytes_read
                now = time.time()
                if now - last_log >= PROGRESS_LOG_SECONDS:
                    last_log = now
                    _log_progress(server, reader.bytes_read, total, now - started)
                yield
        except RdbError as exc:
            for db in server.keyspace.dbs:
                db.data.clear()
                db.expires.clear()
            raise LoadError(f"Short read or corrupt RDB file {path}: {exc.reason} at offset "
                            f"{exc.offset}. Exiting.") from exc
        except OSError as exc:
            raise LoadError(f"Error reading the RDB file {path}: {exc.strerror}. Exiting.") from exc
        finally:
            state.loading = False
            if gc_was_enabled:
                gc.enable()
    state.rdb_last_load_keys_loaded = stats.keys_loaded
    state.rdb_last_load_keys_expired = stats.keys_expired
    server.log.notice(f"Done loading RDB, keys loaded: {stats.keys_loaded}, keys expired: "
                      f"{stats.keys_expired}.")
    server.log.notice(f"DB loaded from disk: {time.time() - started:.3f} seconds")
    return stats


def _log_progress(server: Server, loaded: int, total: int, elapsed: float) -> None:
    percent = 100.0 * loaded / total if total else 0.0
    eta = elapsed * (total - loaded) / (loaded + 1)
    server.log.notice(f"Loading RDB: {percent:.2f}% done, ETA {eta:.0f} seconds")
