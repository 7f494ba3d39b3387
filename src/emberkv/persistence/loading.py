"""Loading the dataset from an RDB file, in slices so clients are answered meanwhile.

While loading, INFO reports progress (loading_* fields), the log says how far it got every second,
and every command not flagged ``loading`` gets ``-LOADING``. A missing file means an empty start. A
corrupt, truncated or unreadable file stops start-up with one line naming the file, the byte offset
and the reason: the data is never served, because the CRC-64 at the end is checked before loading is
declared done. A shutdown asked for during the load stops it (nothing is saved: the dataset in
memory is incomplete).

DEBUG RELOAD loads into a fresh keyspace and installs it only once the whole file checked out, so a
bad file leaves the dataset in memory as it was.
"""

from __future__ import annotations

import asyncio
import gc
import os
import time
from collections.abc import Generator
from typing import TYPE_CHECKING

from emberkv.keyspace.db import Keyspace
from emberkv.persistence.rdb.errors import RdbError
from emberkv.persistence.rdb.reader import LoadStats, RdbReader
from emberkv.persistence.saving import encoding_limits

if TYPE_CHECKING:
    from emberkv.server.app import Server

SLICE_BYTES = 2 * 1024 * 1024  # the default of loading-process-events-interval-bytes
PROGRESS_LOG_SECONDS = 1.0
DELAYED_SLICE_BYTES = 1024  # with key-load-delay: small slices, so the delay is spread over the load


class LoadError(Exception):
    """Start-up cannot continue; str() is the one line to log."""


async def load_rdb(server: Server, path: str) -> LoadStats | None:
    """Load path into the (empty) keyspace, serving clients between slices; None when there is no
    file or a shutdown stopped the load. Raises LoadError."""
    config = server.config
    delay_us = max(0, config["key-load-delay"])
    slice_bytes = DELAYED_SLICE_BYTES if delay_us else config["loading-process-events-interval-bytes"]
    steps = _load_steps(server, server.keyspace, path, slice_bytes)
    while True:
        try:
            keys = next(steps)
        except StopIteration as done:
            return done.value
        # key-load-delay (µs per key) is a test knob: it makes a small file load slowly enough to
        # watch -LOADING and the loading_* fields.
        await asyncio.sleep(delay_us * keys / 1_000_000)
        if server.shutdown_event.is_set():
            steps.close()
            server.log.warning("Loading stopped by a shutdown request.")
            return None


def load_rdb_now(server: Server, path: str, flush: bool = True, merge: bool = False) -> LoadStats:
    """DEBUG RELOAD: load path in one go into a fresh keyspace, then install it in place of the
    dataset, or without ``flush`` add it to the dataset (with ``merge`` loaded keys win, without it
    a key in both is an error). Raises LoadError, leaving the dataset untouched, for a bad or
    missing file."""
    ks = server.keyspace
    fresh = Keyspace(len(ks.dbs))
    try:
        next(_load_steps(server, fresh, path, None))
    except StopIteration as done:
        stats = done.value
    if stats is None:
        raise LoadError(f"The RDB file {path} does not exist")
    pairs = list(zip(ks.dbs, fresh.dbs, strict=True))
    if not flush and not merge:
        for mine, loaded in pairs:
            if not mine.data.keys().isdisjoint(loaded.data):
                raise LoadError(f"Duplicated key found in RDB file {path} (database {mine.id})")
    dirty = ks.dirty
    for mine, loaded in pairs:
        if flush or not mine.data:
            ks.flush_db(mine)  # WATCHers are told; the loaded dicts are then installed as they are
            mine.data, mine.expires = loaded.data, loaded.expires
            continue
        for key, value in loaded.data.items():
            ks.set_key(mine, key, value)
            when = loaded.expires.get(key)
            if when is not None:
                mine.expires[key] = when
    ks.dirty = dirty
    return stats


def _load_steps(server: Server, ks: Keyspace, path: str,
                slice_bytes: int | None) -> Generator[int, None, LoadStats | None]:
    """The load, as a generator that yields (the number of keys loaded by the slice) between slices."""
    state = server.persistence
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
    reader: RdbReader | None = None
    was_loading = state.loading  # True for the whole of start-up
    with f:
        state.loading = True
        state.loading_start_time = int(started)
        state.loading_loaded_bytes = 0
        state.loading_rdb_used_mem = 0
        try:
            total = os.fstat(f.fileno()).st_size
            state.loading_total_bytes = total
            reader = RdbReader(f, encoding_limits(server.config), server.config["rdbchecksum"], total)
            server.log.notice(f"Loading RDB produced by version "
                              f"{reader.aux.get(b'redis-ver', b'?').decode('utf-8', 'replace')}")
            state.loading_rdb_used_mem = _aux_int(reader.aux.get(b"used-mem"))
            last_log = started
            loaded = 0
            while not reader.load_into(ks, now_ms, stats, slice_bytes):
                state.loading_loaded_bytes = reader.bytes_read
                now = time.time()
                if now - last_log >= PROGRESS_LOG_SECONDS:
                    last_log = now
                    _log_progress(server, reader.bytes_read, total, now - started)
                yield stats.keys_loaded - loaded
                loaded = stats.keys_loaded
        except RdbError as exc:
            _discard(ks)
            raise LoadError(f"Internal error in RDB reading {path} at offset {exc.offset}: "
                            f"{exc.reason}. Exiting.") from exc
        except OSError as exc:
            _discard(ks)
            offset = reader.bytes_read if reader is not None else 0
            raise LoadError(f"Error reading the RDB file {path} at offset {offset}: {exc.strerror}. "
                            f"Exiting.") from exc
        except Exception as exc:  # noqa: BLE001 - never a traceback at start-up, whatever the file holds
            _discard(ks)
            offset = reader.bytes_read if reader is not None else 0
            raise LoadError(f"Internal error in RDB reading {path} at offset {offset}: "
                            f"{type(exc).__name__}: {exc}. Exiting.") from exc
        finally:
            state.loading = was_loading
            if gc_was_enabled:
                gc.enable()
    state.rdb_last_load_keys_loaded = stats.keys_loaded
    state.rdb_last_load_keys_expired = stats.keys_expired
    server.log.notice(f"Done loading RDB, keys loaded: {stats.keys_loaded}, keys expired: "
                      f"{stats.keys_expired}.")
    server.log.notice(f"DB loaded from disk: {time.time() - started:.3f} seconds")
    return stats


def _discard(ks: Keyspace) -> None:
    """Drop a partly loaded dataset (fresh dicts: nothing else may see the half-loaded ones)."""
    for db in ks.dbs:
        db.data = {}
        db.expires = {}


def _aux_int(value: bytes | None) -> int:
    try:
        return int(value) if value is not None else 0
    except ValueError:
        return 0


def _log_progress(server: Server, loaded: int, total: int, elapsed: float) -> None:
    percent = 100.0 * loaded / total if total else 0.0
    eta = elapsed * (total - loaded) / (loaded + 1)
    server.log.notice(f"Loading RDB: {percent:.2f}% done, ETA {eta:.0f} seconds")
