"""Bringing the AOF up: at start-up (``start_aof``) and for DEBUG LOADAOF (``reload_aof``).

Start-up with ``appendonly yes`` (spec §3.8): an old single-file ``appendonly.aof`` in dir is first moved
into the AOF directory (crash-safely: the manifest naming it is written before the move, so an
interrupted upgrade is redone); then the base and incr files are replayed, in slices so that clients
get ``-LOADING`` meanwhile; then, when there was no AOF at all, a base file is written from the (empty)
dataset; the last incr file is opened for appending (or a new one created) and the manifest persisted.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import TYPE_CHECKING

from emberkv.persistence.aof.loader import EMPTY, NOT_EXIST, AofLoader, AofLoadError
from emberkv.persistence.aof.manifest import BASE, AofFile, write_manifest
from emberkv.persistence.aof.resp_base import RespBaseWriter
from emberkv.persistence.aof.rewrite import aof_base_aux, remove_stale_temp_files
from emberkv.persistence.aof.writer import open_incr
from emberkv.persistence.files import AtomicFile, fsync_dir
from emberkv.persistence.loading import DELAYED_SLICE_BYTES
from emberkv.persistence.rdb.writer import rdb_save_keyspace
from emberkv.persistence.saving import encoding_limits

if TYPE_CHECKING:
    from emberkv.persistence.aof.service import AofService

ON = "on"


async def start_aof(svc: AofService) -> None:
    """appendonly yes at start-up: load the AOF (never dump.rdb) and open it. Raises AofLoadError."""
    remove_stale_temp_files(os.getcwd())
    _upgrade_old_style(svc)
    server, config = svc.server, svc.config
    loader = AofLoader(server, svc.dir, svc.manifest, svc.appendfilename)
    # key-load-delay (µs per key or command) is a test knob: a small log loads slowly enough to watch
    # -LOADING and the loading_* fields.
    delay_us = max(0, config["key-load-delay"])
    steps = loader.steps(DELAYED_SLICE_BYTES if delay_us else config["loading-process-events-interval-bytes"])
    started = time.time()
    while True:
        try:
            loaded = next(steps)
        except StopIteration as done:
            result = done.value
            break
        await asyncio.sleep(delay_us * loaded / 1_000_000)
        if server.shutdown_event.is_set():
            steps.close()
            server.log.warning("Loading stopped by a shutdown request.")
            return
    if result not in (NOT_EXIST, EMPTY):
        svc.server.log.notice(f"DB loaded from append only file: {time.time() - started:.3f} seconds")
    svc.log.policy = str(svc.config["appendfsync"])
    _open_on_start(svc)
    state = svc.server.persistence
    if result == NOT_EXIST:
        # As Redis counts it: the base just written from an empty dataset is not part of the sizes.
        state.aof_current_size = svc.log.file_size
        state.aof_base_size = 0
    else:
        svc.refresh_sizes()
        state.aof_base_size = loader.base_size
    svc.delete_history()


def _upgrade_old_style(svc: AofService) -> None:
    """An ``appendonly.aof`` in dir from Redis <= 6.2 becomes the base of the multi-part layout."""
    old = svc.appendfilename
    if not os.path.isfile(old):
        return
    m = svc.manifest
    if os.path.isdir(svc.dir) and not m.empty and not (
            m.base is not None and not m.incrs and m.base.name == old
            and not os.path.exists(os.path.join(svc.dir, old))):
        return
    try:
        os.makedirs(svc.dir, exist_ok=True)
        m.base = AofFile(old, 1, BASE)
        m.base_seq = 1
        write_manifest(svc.manifest_path, m, old)
        os.rename(old, os.path.join(svc.dir, old))
        fsync_dir(svc.dir)
        fsync_dir(os.getcwd())
    except OSError as exc:
        raise AofLoadError(f"Error trying to migrate the old-style AOF file {old} into the AOF "
                           f"directory {svc.config['appenddirname']}: {exc.strerror}") from None
    svc.server.log.notice(f"Successfully migrated an old-style AOF file ({old}) into the AOF directory "
                           f"({svc.config['appenddirname']}).")


def _open_on_start(svc: AofService) -> None:
    name = svc.appendfilename
    manifest = svc.manifest.copy()
    try:
        os.makedirs(svc.dir, exist_ok=True)
        if manifest.empty:
            base = manifest.next_base(name, rdb=bool(svc.config["aof-use-rdb-preamble"]))
            _write_base_now(svc, os.path.join(svc.dir, base.name))
            svc.server.log.notice(f"Creating AOF base file {base.name} on server start")
        opened = bool(manifest.incrs)
        incr = manifest.incrs[-1] if opened else manifest.next_incr(name)
        fd, size = open_incr(os.path.join(svc.dir, incr.name), truncate=False)
        write_manifest(svc.manifest_path, manifest, name)
    except OSError as exc:
        raise AofLoadError(f"Can't open the append-only file: {exc.strerror}") from None
    svc.manifest = manifest
    svc.log.attach(fd, incr.name, size)
    svc.server.log.notice(f"{'Opening' if opened else 'Creating'} AOF incr file {incr.name} on server "
                           "start")
    svc.set_state(ON)


def _write_base_now(svc: AofService, path: str) -> None:
    """A base file from the dataset as it is, synchronously (start-up with no AOF yet)."""
    config = svc.config
    with AtomicFile(path, f"temp-rewriteaof-{os.getpid()}.aof") as f:
        if config["aof-use-rdb-preamble"]:
            rdb_save_keyspace(f, svc.server.keyspace, aof_base_aux(),
                              config["rdbcompression"], config["rdbchecksum"], encoding_limits(config))
        else:
            writer = RespBaseWriter(f, bool(config["aof-timestamp-enabled"]))
            writer.write_header()
            for db in svc.server.keyspace.dbs:
                if db.data:
                    writer.select_db(db.id)
                    for key, value in db.data.items():
                        writer.write_key(key, value, db.expires.get(key))
            writer.finish()


def reload_aof(svc: AofService) -> None:
    """DEBUG LOADAOF: write what is buffered, empty the dataset, load the files again. Raises
    AofLoadError (the dataset is then partial: the caller must not go on serving it)."""
    server = svc.server
    if svc.state == ON:
        svc.log.flush(force=True)
    svc.abort_rewrite()
    if server.rdb is not None:
        server.rdb.abort_bgsave()
    for db in server.keyspace.dbs:
        server.keyspace.flush_db(db)
    svc.read_manifest()
    svc.delete_history()
    loader = AofLoader(server, svc.dir, svc.manifest, svc.appendfilename)
    steps = loader.steps(None)
    while True:
        try:
            next(steps)
        except StopIteration:
            break
    server.keyspace.dirty = 0
    if svc.log.fd >= 0:
        # A torn tail may have been cut off the file being appended to.
        svc.log.file_size = svc.log.fsynced_size = os.fstat(svc.log.fd).st_size
        svc.refresh_sizes()
    server.log.notice("Append Only File loaded by DEBUG LOADAOF")
