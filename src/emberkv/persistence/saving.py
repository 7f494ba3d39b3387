"""RDB saving: SAVE, BGSAVE (the snapshot engine writing a temp file), save points, MISCONF,
the final save at shutdown and the save after FLUSHALL (spec §2.2–§2.6).

Every save writes ``temp-<pid>.rdb`` in ``dir``, fsyncs it, renames it over ``dbfilename`` and fsyncs
the directory; on any failure the temp file is removed, the old file is untouched, the error is logged
and ``rdb_last_bgsave_status`` becomes ``err`` (which, with stop-writes-on-bgsave-error and save points,
makes writes fail with MISCONF until a save succeeds).
"""

from __future__ import annotations

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


def encoding_limits(config) -> EncodingLimits:
    return EncodingLimits(
        config["hash-max-listpack-entries"], config["hash-max-listpack-value"],
        config["set-max-intset-entries"], config["zset-max-listpack-entries"],
        config["zset-max-listpack-value"], config["list-max-listpack-size"],
    )


def rdb_aux(server: Server, aof_base: bool = False) -> dict:
    return {
        b"redis-ver": REDIS_COMPAT_VERSION, b"redis-bits": 64, b"ctime": int(time.time()),
        b"used-mem": rss_bytes(), b"repl-stream-db": 0, b"repl-id": server.run_id,
        b"repl-offset": 0, b"aof-base": int(aof_base),
    }


class RdbSaver:
    """Owns the RDB file of one server: all saves go through here."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.state = server.persistence
        self.bgsave: Snapshot | None = None
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
        """SAVE: write the whole dataset now, blocking; True on success (errors are logged)."""
        server = self.server
        self.state.rdb_saves += 1
        dirty = server.keyspace.dirty
        try:
            with AtomicFile(self.path, f"temp-{os.getpid()}.rdb") as f:
                writer = self._writer(f)
                writer.write_header(rdb_aux(server))
                for db in server.keyspace.dbs:
                    if db.data:
                        writer.select_db(db.id, len(db.data), len(db.expires))
                        writer.write_keys(db.data.items(), db.expires)
                writer.finish()
        except OSError as exc:
            server.log.warning(f"Failed saving the DB: {exc.strerror or exc}")
            self.state.rdb_last_bgsave_ok = False
            return False
        server.log.notice("DB saved on disk")
        self._saved(dirty)
        return True

    def _writer(self, f) -> RdbWriter:
        config = self.server.config
        return RdbWriter(f, config["rdbcompression"], config["rdbchecksum"], encoding_limits(config))

    def _saved(self, dirty_at_start: int) -> None:
        ks = self.server.keyspace
        ks.dirty = max(0, ks.dirty - dirty_at_start)
        self.state.rdb_last_save_time = int(time.time())
        self.state.rdb_last_bgsave_ok = True

    # -- background ------------------------------------------------------------------------------

    def start_bgsave(self) -> bool:
        """Start a background save; False (logged, status err) if it could not even start."""
        server = self.server
        self.last_bgsave_try = time.time()
        self.state.rdb_saves += 1
        try:
            target = AtomicFile(self.path, f"temp-{os.getpid()}.rdb")
        except OSError as exc:
            server.log.warning(f"Failed opening the temp RDB file temp-{os.getpid()}.rdb (in server "
                               f"root dir {os.getcwd()}) for saving: {exc.strerror}")
            self.state.rdb_last_bgsave_ok = False
            return False
        self.bgsave_file = target
        self.bgsave_dirty = server.keyspace.dirty
        self.state.rdb_bgsave_in_progress = True
        self.state.rdb_bgsave_start = time.time()
        self.state.save_keys_processed = 0
        snapshot = Snapshot(
            server.keyspace, server.loop, self._writer(target), rdb_aux(server), self._bgsave_written,
            key_delay_us=max(0, server.config["rdb-key-save-delay"]), progress=self._progress,
        )
        self.bgsave = snapshot
        server.log.notice(f"Background saving started by pid {os.getpid()}")
        snapshot.start()
        self.state.save_keys_total = snapshot.keys_total
        return True

    def _progress(self, written: int) -> None:
        self.state.save_keys_processed = written

    def _bgsave_written(self, error: BaseException | None) -> None:
        """The snapshot finished writing (or failed): sync and rename off the event loop."""
        target = self.bgsave_file
        if error is not None or target is None:
            self._bgsave_done(error)
            return
        future = self.server.loop.run_in_executor(None, target.sync)
        future.add_done_callback(lambda f: self._bgsave_synced(f.exception()))

    def _bgsave_synced(self, error: BaseException | None) -> None:
        target = self.bgsave_file
        if error is None and target is not None and self.bgsave is not None:
            try:
                target.commit(synced=True)
            except OSError as exc:
                error = exc
        self._bgsave_done(error)

    def _bgsave_done(self, error: BaseException | None) -> None:
        if self.bgsave is None:
            return  # aborted meanwhile (FLUSHALL, SHUTDOWN, SAVE)
        server = self.server
        if self.bgsave_file is not None and error is not None:
            self.bgsave_file.discard()
        self.bgsave = None
        self.bgsave_file = None
        self.state.rdb_bgsave_in_progress = False
        self.state.rdb_last_bgsave_time_sec = int(time.time() - self.state.rdb_bgsave_start)
        self.state.save_keys_total = self.state.save_keys_processed = 0
        if error is None:
            server.log.notice("Background saving terminated with success")
            self._saved(self.bgsave_dirty)
        else:
            reason = getattr(error, "strerror", None) or str(error)
            server.log.warning(f"Write error saving DB on disk: {reason}")
            server.log.warning("Background saving error")
            self.state.rdb_last_bgsave_ok = False

    def abort_bgsave(self) -> None:
        """Stop a running background save without counting it as a failure (FLUSHALL, SHUTDOWN)."""
        snapshot, target = self.bgsave, self.bgsave_file
        if snapshot is None:
            return
        self.bgsave = None
        self.bgsave_file = None
        snapshot.abort(RuntimeError("aborted"))
        if target is not None:
            target.discard()
        self.state.rdb_bgsave_in_progress = False
        self.server.log.warning("Background saving terminated by the server")

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
        """Final save before exit: with save points unless NOSAVE, or when SAVE was asked."""
        self.abort_bgsave()
        if save is False or (save is None and not self.server.config["save"]):
            return True
        self.server.log.notice("Saving the final RDB snapshot before exiting.")
        return self.save()
