"""AOF rewrite: a new base file from a snapshot while new writes go to a new incr file (spec §3.7).

At the start, in one step of the event loop: the buffer is written out, a new incr file is created and
listed in the manifest (so from now on the log is base + old incrs + new incr, complete at every
moment), appends switch to it, and the snapshot engine takes its image of the dataset. The snapshot then
writes ``temp-rewriteaof-bg-<pid>.aof`` in ``dir`` slice by slice (an RDB with ``aof-base`` 1, or
commands) while clients are served. When it is complete and fsynced, it is renamed to the next base name
in the AOF directory and the manifest is replaced atomically: the new base plus the current incr file;
the old base and incr files become history and are deleted. If anything fails, or the server dies, the
previous manifest still lists a complete log, and the temporary file is removed.

With AOF being switched on (``CONFIG SET appendonly yes``) the new writes go to ``temp-<name>.incr``,
which is renamed into place and listed only when the first rewrite succeeds.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

from emberkv.persistence.aof.manifest import write_manifest
from emberkv.persistence.aof.resp_base import RespBaseWriter
from emberkv.persistence.aof.writer import WRITTEN, open_incr
from emberkv.persistence.rdb.writer import RdbWriter
from emberkv.persistence.saving import encoding_limits
from emberkv.persistence.snapshot import Snapshot
from emberkv.server.info import rss_bytes

if TYPE_CHECKING:
    from emberkv.persistence.aof.service import AofService

INCREMENTAL_FSYNC_BYTES = 4 * 1024 * 1024  # aof-rewrite-incremental-fsync


class _BaseFile:
    """The temporary base file; with incremental fsync, data is pushed to disk every 4 MB on a
    worker thread while the snapshot goes on, so the final fsync is short."""

    def __init__(self, path: str, loop, incremental: bool) -> None:
        self.path = path
        self.f = open(path, "wb")  # noqa: SIM115 - closed by close()
        self.loop = loop
        self.incremental = incremental
        self.unsynced = 0
        self.syncs: list = []

    def write(self, data: bytes) -> int:
        n = self.f.write(data)
        self.unsynced += n
        if self.incremental and self.unsynced >= INCREMENTAL_FSYNC_BYTES:
            self.unsynced = 0
            self.f.flush()
            self.syncs.append(self.loop.run_in_executor(None, os.fdatasync, self.f.fileno()))
        return n

    def sync(self) -> None:
        """Flush and fsync (on a worker thread)."""
        self.f.flush()
        os.fsync(self.f.fileno())

    def close(self) -> None:
        try:
            self.f.close()
        except OSError:
            pass

    def discard(self) -> None:
        for pending in self.syncs:  # their outcome no longer matters: don't let it be reported as lost
            pending.add_done_callback(lambda f: f.cancelled() or f.exception())
        self.close()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


class AofRewrite:
    """One background rewrite, from start() to the manifest swap (or failure)."""

    def __init__(self, service: AofService) -> None:
        self.svc = service
        self.server = service.server
        self.snapshot: Snapshot | None = None
        self.base: _BaseFile | None = None
        self.started = 0.0
        self.rdb = True
        self.done = False
        self.finishing = None

    def start(self) -> bool:
        """Switch appends to a new incr file and start the snapshot; False (logged) on failure."""
        svc, server = self.svc, self.server
        config = server.config
        try:
            os.makedirs(svc.dir, exist_ok=True)
        except OSError as exc:
            server.log.warning(f"Can't open or create append-only dir {config['appenddirname']}: "
                               f"{exc.strerror}")
            return False
        if not self._switch_incr():
            return False
        self.rdb = bool(config["aof-use-rdb-preamble"])
        temp = os.path.abspath(f"temp-rewriteaof-bg-{os.getpid()}.aof")
        try:
            self.base = _BaseFile(temp, server.loop, bool(config["aof-rewrite-incremental-fsync"]))
        except OSError as exc:
            server.log.warning(f"Can't open the temporary AOF base file {os.path.basename(temp)}: "
                               f"{exc.strerror}")
            return False
        if self.rdb:
            encoder = RdbWriter(self.base, config["rdbcompression"], config["rdbchecksum"],
                                encoding_limits(config))
        else:
            encoder = RespBaseWriter(self.base, bool(config["aof-timestamp-enabled"]))
        self.started = time.time()
        self.snapshot = Snapshot(server.keyspace, server.loop, encoder, aof_base_aux(),
                                 self._written, key_delay_us=max(0, config["rdb-key-save-delay"]))
        server.log.notice(f"Background append only file rewriting started by pid {os.getpid()}")
        self.snapshot.start()
        return True

    def _switch_incr(self) -> bool:
        """Everything logged so far goes to the current file; what follows goes to a new one."""
        svc, log = self.svc, self.svc.log
        if svc.state == "off":
            return True
        name = svc.appendfilename
        if svc.needs_rewrite:
            log.discard_buffer()  # the file is not trusted; the snapshot holds these effects
        else:
            # What is buffered belongs to the old file: if it cannot be written there, the new file
            # would start with effects the snapshot also holds, so the rewrite must not start.
            error = log.sync_now() if log.policy == "always" else (
                None if log.flush(force=True) == WRITTEN else log.refusal)
            if error is not None:
                self.server.log.warning(f"Can't flush the AOF buffer before a rewrite: {_reason(error)}")
                return False
        if svc.state == "wait-rewrite":
            incr_name, manifest = f"temp-{name}.incr", None
        else:
            manifest = svc.manifest.copy()
            incr_name = manifest.next_incr(name).name
        try:
            fd, size = open_incr(os.path.join(svc.dir, incr_name), truncate=True)
        except OSError as exc:
            self.server.log.warning(f"Can't open the append-only file {incr_name}: {exc.strerror}")
            return False
        if manifest is not None:
            try:
                write_manifest(svc.manifest_path, manifest, name)
            except OSError as exc:
                os.close(fd)
                self.server.log.warning(f"Can't persist the AOF manifest: {exc.strerror}")
                return False
            svc.manifest = manifest
        self.server.log.notice(f"Creating AOF incr file {incr_name} on background rewrite")
        log.attach(fd, incr_name, size)
        svc.feeding(True)
        svc.refresh_sizes()
        return True

    # -- the end ---------------------------------------------------------------------------------

    def _written(self, error: BaseException | None) -> None:
        """The snapshot is complete (or failed): fsync on a worker thread, then swap the manifest."""
        if self.done:
            return
        base = self.base
        if error is not None or base is None:
            self.fail(f"Write error writing the AOF base file: {_reason(error)}")
            return
        loop = self.server.loop

        async def finish() -> None:
            try:
                for pending in base.syncs:
                    await pending
                await loop.run_in_executor(None, base.sync)
            except (OSError, ValueError) as exc:  # ValueError: aborted meanwhile, the file is closed
                self.fail(f"Error syncing the temporary AOF base file: {_reason(exc)}")
                return
            self._commit()

        self.finishing = loop.create_task(finish())  # a task nobody holds may be collected mid-way

    def _commit(self) -> None:
        if self.done:
            return
        svc, server = self.svc, self.server
        log = server.log
        name = svc.appendfilename
        base = self.base
        assert base is not None
        base.close()
        log.notice("Background AOF rewrite terminated with success")
        manifest = svc.manifest.copy()
        new_base = manifest.next_base(name, rdb=self.rdb)
        base_path = os.path.join(svc.dir, new_base.name)
        try:
            os.rename(base.path, base_path)
        except OSError as exc:
            self.fail(f"Error trying to rename the temporary AOF base file {os.path.basename(base.path)} "
                      f"into {new_base.name}: {exc.strerror}")
            return
        log.notice(f"Successfully renamed the temporary AOF base file {os.path.basename(base.path)} into "
                   f"{new_base.name}")
        temp_incr = renamed_incr = None
        if svc.state == "wait-rewrite":
            temp_incr = os.path.join(svc.dir, f"temp-{name}.incr")
            incr = manifest.next_incr(name)
            renamed_incr = os.path.join(svc.dir, incr.name)
            try:
                os.rename(temp_incr, renamed_incr)
            except OSError as exc:
                _unlink(base_path)
                self.fail(f"Error trying to rename the temporary AOF incr file temp-{name}.incr into "
                          f"{incr.name}: {exc.strerror}")
                return
            log.notice(f"Successfully renamed the temporary AOF incr file temp-{name}.incr into "
                       f"{incr.name}")
        manifest.incrs_to_history(keep_last=svc.state != "off")
        try:
            write_manifest(svc.manifest_path, manifest, name)
        except OSError as exc:
            _unlink(base_path)
            if temp_incr is not None and renamed_incr is not None:
                os.rename(renamed_incr, temp_incr)
            self.fail(f"Can't persist the AOF manifest: {exc.strerror}")
            return
        svc.manifest = manifest
        if renamed_incr is not None:
            svc.log.name = os.path.basename(renamed_incr)
        self.done = True
        svc.rewrite_done(ok=True, seconds=time.time() - self.started)
        log.notice("Background AOF rewrite finished successfully")

    def fail(self, reason: str) -> None:
        if self.done:
            return
        self.done = True
        if self.base is not None:
            self.base.discard()
        self.server.log.warning(reason)
        self.server.log.warning("Background AOF rewrite terminated with error")
        self.svc.rewrite_done(ok=False, seconds=time.time() - self.started)

    def abort(self) -> None:
        """Stop now (AOF switched off, shutdown, DEBUG LOADAOF): not counted as a failure."""
        if self.done:
            return
        self.done = True
        if self.snapshot is not None:
            self.snapshot.abort(RuntimeError("aborted"))
        if self.base is not None:
            self.base.discard()
        self.server.log.notice("Killing running AOF rewrite")


def aof_base_aux() -> dict:
    """The AUX fields of an RDB base: Redis writes no replication fields there, and aof-base 1."""
    return {b"used-mem": rss_bytes(), b"aof-base": 1}


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _reason(error: BaseException | None) -> str:
    return (getattr(error, "strerror", None) or str(error)) if error is not None else "unknown"


def remove_stale_temp_files(directory: str) -> None:
    """Temporary base files a killed server left behind in dir: never part of any manifest."""
    try:
        names = os.listdir(directory or ".")
    except OSError:
        return
    for name in names:
        if name.startswith("temp-rewriteaof-") and name.endswith(".aof"):
            _unlink(os.path.join(directory, name))
