"""RDB saving: SAVE, BGSAVE (the snapshot engine writing a temp file), save points, MISCONF,
the final save at shutdown and the save after FLUSHALL (spec §2.2–§2.6).

Every save writes ``temp-<pid>.rdb`` in ``dir``, fsyncs it, renames it over ``dbfilename`` and fsyncs
the directory; on any failure the temp file is removed, the old file is untouched, the error is logged
and ``rdb_last_bgsave_status`` becomes ``err`` (which, with stop-writes-on-bgsave-error and save points,
makes writes fail with MISCONF until a save succeeds).
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import TYPE_CHECKING

from emberkv import REDIS_COMPAT_VERSION
from emberkv.persistence.files import AtomicFile
from emberkv.persistence.rdb.limits import EncodingLimits
from emberkv.persistence.rdb.writer import RdbWriter
from emberkv.persistence.snapshot import Snapshot
from emberkv.server.info import rss_bytes

if TYPE_CHECKING:
    from emberkv.server.app import Server

MISCONF = (
    b"MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. "
    b"Commands that may modify the data set are disabled, because this instance is configured to "
    b"report errors during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). "
    b"Please check the Redis logs for details about the RDB error."
)
BGSAVE_RETRY_DELAY = 5  # seconds between automatic retries after a failed background save
INCREMENTAL_FSYNC_BYTES = 4 * 1024 * 1024  # rdb-save-incremental-fsync: a background fsync this often


def encoding_limits(config) -> EncodingLimits:
    return EncodingLimits(
        config["hash-max-listpack-entries"], config["hash-max-listpack-value"],
        config["set-max-intset-entries"], config["zset-max-listpack-entries"],
        config["zset-max-listpack-value"], config["list-max-listpack-size"],
    )


def rdb_aux(server: Server, aof_base: bool = False) -> dict:
    """The AUX fields of a file this server writes. Like Redis, the replication fields only once
    there is replication state (a replica has synced from this server)."""
    aux: dict = {b"redis-ver": REDIS_COMPAT_VERSION, b"redis-bits": 64, b"ctime": int(time.time()),
                 b"used-mem": rss_bytes()}
    if getattr(server, "replication", None) is not None:
        aux.update({b"repl-stream-db": 0, b"repl-id": server.run_id, b"repl-offset": 0})
    aux[b"aof-base"] = int(aof_base)
    return aux


def _cwd(server: Server) -> str:
    try:
        return os.getcwd()
    except OSError:  # the directory was removed under us: the configured name is all we have
        return server.config["dir"]


class _FailedStart:
    """Stands in for the snapshot of a BGSAVE that failed before it began, until the failure is
    reported on the next loop turn (so BGSAVE still answers "started", as Redis does)."""

    def abort(self, reason: BaseException) -> None:
        pass


class RdbSaver:
    """Owns the RDB file of one server: all saves go through here."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.state = server.persistence
        self.bgsave: Snapshot | _FailedStart | None = None
        self.bgsave_file: AtomicFile | None = None
        self.bgsave_dirty = 0
        self.bgsave_scheduled = False
        self.last_bgsave_try = 0.0
        server.cron_jobs.append(self.cron)
        server.shutdown_jobs.append(self.on_shutdown)
        server.flushall_hooks.append(self.after_flushall)
        server.write_guards.append(self.write_refusal)

    @property
    def path(self) -> str:
        return os.path.abspath(self.server.config["dbfilename"])

    # -- foreground ------------------------------------------------------------------------------

    def save(self) -> bool:
        """Write the whole dataset now, blocking (SAVE, FLUSHALL, SHUTDOWN, DEBUG RELOAD); True on
        success. A failure is logged and sets the status to err: emberkv refuses writes after any
        failed save (Redis only after a failed BGSAVE), since the data is not on disk either way."""
        server = self.server
        dirty = server.keyspace.dirty
        try:
            target = self._open_temp()
        except OSError:
            self.state.rdb_last_bgsave_ok = False
            return False
        try:
            with target:
                writer = self._writer(target)
                writer.write_header(rdb_aux(server))
                for db in server.keyspace.dbs:
                    if db.data:
                        writer.select_db(db.id, len(db.data), len(db.expires))
                        writer.write_keys(db.data.items(), db.expires)
                writer.finish()
        except OSError as exc:
            server.log.warning(f"Write error saving DB on disk: {exc.strerror or exc}")
            self.state.rdb_last_bgsave_ok = False
            return False
        server.log.notice("DB saved on disk")
        self._saved(dirty)
        return True

    def _open_temp(self) -> AtomicFile:
        """The temp file of a save, in ``dir``; a failure is logged as Redis logs it, then raised."""
        name = f"temp-{os.getpid()}.rdb"
        try:
            return AtomicFile(self.path, name)
        except OSError as exc:
            self.server.log.warning(f"Failed opening the temp RDB file {name} (in server root dir "
                                    f"{_cwd(self.server)}) for saving: {exc.strerror}")
            raise

    def _writer(self, f) -> RdbWriter:
        config = self.server.config
        return RdbWriter(f, config["rdbcompression"], config["rdbchecksum"], encoding_limits(config))

    def _saved(self, dirty_at_start: int) -> None:
        ks = self.server.keyspace
        ks.dirty = max(0, ks.dirty - dirty_at_start)
        self.state.rdb_last_save_time = int(time.time())
        self.state.rdb_last_bgsave_ok = True

    # -- background ------------------------------------------------------------------------------

    def start_bgsave(self) -> None:
        """Start a background save. A failure to even open the temp file is reported like any other
        failure of the save (logged, status err), after "Background saving started", as in Redis."""
        server = self.server
        self.last_bgsave_try = time.time()
        self.state.rdb_saves += 1
        self.state.rdb_bgsave_in_progress = True
        self.state.rdb_bgsave_start = time.time()
        self.state.save_keys_processed = 0
        self.bgsave_dirty = server.keyspace.dirty
        server.log.notice(f"Background saving started by pid {os.getpid()}")
        try:
            target = self._open_temp()
        except OSError as exc:
            failed = self.bgsave = _FailedStart()
            server.loop.call_soon(self._bgsave_done, failed, exc)
            return
        if server.config["rdb-save-incremental-fsync"]:
            target.sync_in_background(server.loop, INCREMENTAL_FSYNC_BYTES)
        self.bgsave_file = target
        snapshot = Snapshot(
            server.keyspace, server.loop, self._writer(target), rdb_aux(server),
            lambda error: self._bgsave_written(snapshot, target, error),
            key_delay_us=max(0, server.config["rdb-key-save-delay"]), progress=self._progress,
        )
        self.bgsave = snapshot
        snapshot.start()
        if not snapshot.finished:
            self.state.save_keys_total = snapshot.keys_total

    def _progress(self, written: int) -> None:
        self.state.save_keys_processed = written

    # Each step below names the save it belongs to: a save aborted meanwhile (FLUSHALL, SHUTDOWN)
    # may have been followed by a new one, which a late callback of the old one must not touch.

    def _bgsave_written(self, owner: Snapshot, target: AtomicFile, error: BaseException | None) -> None:
        """The snapshot finished writing (or failed): sync and rename off the event loop."""
        if error is not None:
            self._bgsave_done(owner, error)
            return
        loop = self.server.loop

        def final_sync(_=None) -> None:
            future = loop.run_in_executor(None, target.sync)
            future.add_done_callback(lambda f: self._bgsave_synced(owner, target, f.exception()))

        if target.background_syncs:
            asyncio.gather(*target.background_syncs, return_exceptions=True).add_done_callback(final_sync)
        else:
            final_sync()

    def _bgsave_synced(self, owner: Snapshot, target: AtomicFile, error: BaseException | None) -> None:
        if self.bgsave is not owner:
            return  # aborted meanwhile: abort_bgsave removed the temp file
        if error is None:
            try:
                target.commit(synced=True)
            except OSError as exc:
                error = exc
        self._bgsave_done(owner, error)

    def _bgsave_done(self, owner: Snapshot | _FailedStart, error: BaseException | None) -> None:
        if self.bgsave is not owner:
            return  # aborted meanwhile
        server = self.server
        target = self.bgsave_file
        if target is not None and error is not None:
            target.discard()
        self.bgsave = None
        self.bgsave_file = None
        self._stopped()
        if error is None:
            server.log.notice("Background saving terminated with success")
            self._saved(self.bgsave_dirty)
        else:
            if target is not None:  # a failure to open the temp file was logged already
                reason = getattr(error, "strerror", None) or str(error)
                server.log.warning(f"Write error saving DB on disk: {reason}")
            server.log.warning("Background saving error")
            self.state.rdb_last_bgsave_ok = False

    def _stopped(self) -> None:
        state = self.state
        state.rdb_bgsave_in_progress = False
        # Whole seconds between the two clock readings, as Redis counts them.
        state.rdb_last_bgsave_time_sec = int(time.time()) - int(state.rdb_bgsave_start)
        state.save_keys_total = state.save_keys_processed = 0

    def abort_bgsave(self, why: str = "Background saving terminated by the server") -> None:
        """Stop a running background save without counting it as a failure (FLUSHALL, SHUTDOWN, DEBUG
        RELOAD): the temp file goes, the old file stays, the status is unchanged."""
        snapshot, target = self.bgsave, self.bgsave_file
        if snapshot is None:
            return
        self.bgsave = None
        self.bgsave_file = None
        snapshot.abort(RuntimeError("aborted"))
        if target is not None:
            target.discard()
        self._stopped()
        self.server.log.warning(why)

    # -- hooks -----------------------------------------------------------------------------------

    def cron(self) -> None:
        """Save points, and a scheduled BGSAVE whose turn has come."""
        if self.bgsave is not None or self.server.keyspace.snapshot is not None:
            return
        if self.bgsave_scheduled:
            self.bgsave_scheduled = False
            self.start_bgsave()
            return
        now = time.time()
        dirty = self.server.keyspace.dirty
        elapsed = now - self.state.rdb_last_save_time
        for seconds, changes in self.server.config["save"]:
            if dirty >= changes and elapsed > seconds and (
                    self.state.rdb_last_bgsave_ok or now - self.last_bgsave_try > BGSAVE_RETRY_DELAY):
                self.server.log.notice(f"{changes} changes in {seconds} seconds. Saving...")
                self.start_bgsave()
                return

    def write_refusal(self) -> bytes | None:
        config = self.server.config
        if (not self.state.rdb_last_bgsave_ok and config["stop-writes-on-bgsave-error"]
                and config["save"]):
            return MISCONF
        return None

    def after_flushall(self) -> None:
        self.abort_bgsave()
        if self.server.config["save"]:
            self.save()

    def on_shutdown(self, save: bool | None) -> bool:
        """Final save before exit: with save points unless NOSAVE, or when SAVE was asked; never
        while loading (the dataset in memory is incomplete: saving it would truncate the file)."""
        self.abort_bgsave("A background save is in progress: stopping it before exiting.")
        if self.state.loading:
            return True
        if save is False or (save is None and not self.server.config["save"]):
            return True
        self.server.log.notice("Saving the final RDB snapshot before exiting.")
        return self.save()
