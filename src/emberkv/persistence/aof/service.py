"""The AOF attached to a server: its state (off, on, being switched on), and the hooks that make it work.

* ``effect_feeds``: every command's effects go to the log's buffer (``AofLog.feed``).
* ``reply_barrier``: after each event-loop batch, before any of its replies leaves, the buffer is
  written (and fsynced under ``always``). If the write is postponed (everysec, a background fsync still
  running), the batch's replies are held until it is done. If it fails, the clients of that batch are
  disconnected without a reply: their writes are in memory but not in the log, so they must not be
  told OK, and no error would be true either (the write did happen, and will be logged if the disk
  recovers). From then on writes are refused with ``-MISCONF`` while reads go on; the cron retries the
  write every second and writes resume by themselves once it succeeds. After a failed fsync the file is
  never trusted again: writes stay refused until a rewrite has replaced it (retried every few seconds).
* ``cron_jobs``: automatic and scheduled rewrites, everysec's idle fsync, retries.
* ``shutdown_jobs``: the final write and fsync.

CONFIG SET appendonly (``enable``/``disable``) is here too; start-up and DEBUG LOADAOF are in
opening.py, the rewrite in rewrite.py, reading files in loader.py.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

from emberkv.persistence.aof.manifest import Manifest, read_manifest, write_manifest
from emberkv.persistence.aof.rewrite import AofRewrite
from emberkv.persistence.aof.writer import POSTPONED, WRITTEN, AofLog, Bio

if TYPE_CHECKING:
    from emberkv.server.app import Server
    from emberkv.server.client import Client

OFF, ON, WAIT_REWRITE = "off", "on", "wait-rewrite"
BROKEN_REWRITE_RETRY = 5  # seconds between rewrites attempted to replace a file whose fsync failed
REWRITE_LIMIT_AFTER = 3  # consecutive failures before automatic rewrites are throttled
REWRITE_LIMIT_MAX_MINUTES = 60


class AofService:
    def __init__(self, server: Server) -> None:
        self.server = server
        self.config = server.config
        self.state = OFF
        self.bio = Bio(server.loop)
        self.log = AofLog(server.persistence, self.bio, server.log)
        self.log.no_fsync_now = self._no_fsync_now
        self.log.on_broken = self._fsync_failed
        self.log.on_fsynced = self.after_fsync
        self.manifest = Manifest()
        self.rewrite: AofRewrite | None = None
        self.held: dict[int, Client] = {}  # replies waiting for a postponed write
        self.needs_rewrite = False  # an fsync failed: writes refused until a rewrite succeeds
        self.fsync_error: OSError | None = None
        self.last_broken_try = 0.0
        self.last_write_retry = 0.0
        self.limit_until = 0.0
        self.limit_minutes = 0
        server.aof = self
        server.cron_jobs.append(self.cron)
        server.shutdown_jobs.insert(0, self.on_shutdown)
        server.write_guards.append(self.write_refusal)
        self.configure()
        config = self.config
        config.on_change("appendonly", self._appendonly_changed)
        for name in ("appendfsync", "aof-timestamp-enabled"):
            config.on_change(name, lambda _value: self.configure())
        config.on_change("aof-disable-auto-gc", lambda off: None if off else self.delete_history())

    # -- paths and settings ----------------------------------------------------------------------

    @property
    def appendfilename(self) -> str:
        return self.config["appendfilename"]

    @property
    def dir(self) -> str:
        return os.path.abspath(self.config["appenddirname"])

    @property
    def manifest_path(self) -> str:
        return os.path.join(self.dir, f"{self.appendfilename}.manifest")

    def configure(self) -> None:
        """Settings the log reads on its hot path (refreshed by the cron and on CONFIG SET)."""
        self.log.policy = str(self.config["appendfsync"])
        self.log.timestamps = bool(self.config["aof-timestamp-enabled"])

    def _no_fsync_now(self) -> bool:
        return bool(self.config["no-appendfsync-on-rewrite"]) and self.snapshot_running()

    def snapshot_running(self) -> bool:
        rdb = self.server.rdb
        return (self.server.keyspace.snapshot is not None or self.rewriting
                or (rdb is not None and rdb.bgsave is not None))

    @property
    def rewriting(self) -> bool:
        return self.rewrite is not None and not self.rewrite.done

    def set_state(self, state: str) -> None:
        self.state = state
        self.server.persistence.aof_enabled = state != OFF
        self.feeding(state == ON or (state == WAIT_REWRITE and self.log.fd >= 0))

    def feeding(self, on: bool) -> None:
        """Log effects (and hold replies for the log) or not. While AOF is being switched on, only
        once the rewrite's temporary incr file is open, as in Redis."""
        server = self.server
        attached = self.log.feed in server.effect_feeds
        if on and not attached:
            server.effect_feeds.append(self.log.feed)
            server.reply_barrier = self.barrier
        elif not on and attached:
            server.effect_feeds.remove(self.log.feed)
            server.reply_barrier = None
            self._release_held()

    def _fsync_failed(self, error: OSError) -> None:
        self.needs_rewrite = True
        self.fsync_error = error

    # -- group commit ----------------------------------------------------------------------------

    def barrier(self) -> None:
        """Runs after each batch, before its replies go out: make the batch's effects safe."""
        log = self.log
        if not log.buf:
            # Held replies whose effects another flush wrote since (the forced one before a rewrite).
            self._release_held()
            return
        if log.refusal is not None and not self.held:
            return  # already failing: this batch's writes were refused; the cron retries the rest
        status = log.flush()
        if status == WRITTEN:
            self._release_held()
            return
        waiting = self.server.waiting_replies
        if status == POSTPONED:
            self.held.update(waiting)
            waiting.clear()
            return
        self._drop_unsafe(list(waiting.values()))
        waiting.clear()

    def _release_held(self) -> None:
        held, self.held = self.held, {}
        for c in held.values():
            c.flush()

    def _drop_unsafe(self, clients: list[Client]) -> None:
        clients += self.held.values()
        self.held = {}
        if clients:
            reason = self.log.refusal
            self.server.log.warning(f"Closing {len(clients)} client(s) without a reply: their writes could "
                                    f"not be persisted to the AOF ({getattr(reason, 'strerror', reason)})")
        for c in clients:
            c.out.clear()
            c.close()

    def after_fsync(self) -> None:
        """A background fsync finished: a postponed write may go now."""
        if self.held and self.log.buf:
            self.barrier()

    def write_refusal(self) -> bytes | None:
        if self.state == OFF:
            return None
        error = self.log.refusal
        if error is None and self.needs_rewrite:
            error = self.fsync_error
        if error is None:
            return None
        return b"MISCONF Errors writing to the AOF file: " + (error.strerror or str(error)).encode()

    # -- cron ------------------------------------------------------------------------------------

    def cron(self) -> None:
        self.configure()
        server = self.server
        now = time.time()
        if not self.rewriting and not self.snapshot_running():
            self._maybe_rewrite(now)
        if self.state == OFF:
            return
        log = self.log
        if self.held:
            self.barrier()
        elif server.waiting_replies:
            pass  # the barrier that runs right after this writes the buffer with those replies
        elif log.buf:
            if log.write_error is None or now - self.last_write_retry >= 1:
                self.last_write_retry = now
                log.flush()
        else:
            log.flush()  # everysec: fsync data written since the last fsync

    def _maybe_rewrite(self, now: float) -> None:
        state = self.server.persistence
        if state.aof_rewrite_scheduled and not self._limited(now):
            self.start_rewrite()
        elif self.needs_rewrite and now - self.last_broken_try >= BROKEN_REWRITE_RETRY:
            self.last_broken_try = now
            self.server.log.warning("Starting an AOF rewrite to replace the AOF file that failed to fsync")
            self.start_rewrite()
        elif self.state == ON and self._growth_trigger() and not self._limited(now):
            growth = state.aof_current_size * 100 // max(1, state.aof_base_size) - 100
            self.server.log.notice(f"Starting automatic rewriting of AOF on {growth}% growth")
            self.start_rewrite()

    def _growth_trigger(self) -> bool:
        config, state = self.config, self.server.persistence
        percentage = config["auto-aof-rewrite-percentage"]
        if not percentage or state.aof_current_size <= config["auto-aof-rewrite-min-size"]:
            return False
        return state.aof_current_size * 100 // max(1, state.aof_base_size) - 100 >= percentage

    def _limited(self, now: float) -> bool:
        """After repeated failures, automatic rewrites wait 1, 2, 4 ... 60 minutes between tries."""
        if self.server.persistence.aof_rewrites_consecutive_failures < REWRITE_LIMIT_AFTER:
            self.limit_until, self.limit_minutes = 0.0, 0
            return False
        if self.limit_until:
            if now < self.limit_until:
                return True
            self.limit_until = 0.0
            return False
        self.limit_minutes = min(REWRITE_LIMIT_MAX_MINUTES, max(1, self.limit_minutes * 2))
        self.limit_until = now + self.limit_minutes * 60
        self.server.log.warning("Background AOF rewrite has repeatedly failed and triggered the limit, will "
                                f"retry in {self.limit_minutes} minutes")
        return True

    # -- rewrites --------------------------------------------------------------------------------

    def start_rewrite(self) -> bool:
        """Start a background rewrite now; False (logged, status err) if it could not start."""
        state = self.server.persistence
        state.aof_rewrite_scheduled = False
        rewrite = AofRewrite(self)
        if not rewrite.start():
            state.aof_last_bgrewrite_ok = False
            state.aof_rewrites_consecutive_failures += 1
            if self.state == WAIT_REWRITE:
                state.aof_rewrite_scheduled = True  # AOF is being switched on: keep trying
                self.feeding(False)
                self.log.detach()
            return False
        self.rewrite = rewrite
        state.aof_rewrite_in_progress = True
        state.aof_rewrite_start = rewrite.started
        state.aof_rewrites += 1
        return True

    def rewrite_done(self, ok: bool, seconds: float) -> None:
        state = self.server.persistence
        state.aof_rewrite_in_progress = False
        state.aof_last_rewrite_time_sec = int(seconds)
        state.aof_last_bgrewrite_ok = ok
        if not ok:
            state.aof_rewrites_consecutive_failures += 1
            if self.state == WAIT_REWRITE:
                # Not on yet: what the temporary incr file got is redone by the next attempt.
                state.aof_rewrite_scheduled = True
                self.feeding(False)
                self.log.detach()
            return
        state.aof_rewrites_consecutive_failures = 0
        if self.needs_rewrite:
            self.needs_rewrite = False
            self.fsync_error = None
            state.aof_last_write_ok = self.log.refusal is None
            self.server.log.warning("The AOF file that failed to fsync was replaced by a rewrite: writes are "
                                    "accepted again.")
        if self.state == WAIT_REWRITE:
            self.set_state(ON)
        self.refresh_sizes()
        state.aof_base_size = state.aof_current_size
        self.delete_history()

    def abort_rewrite(self) -> None:
        if self.rewriting:
            self.rewrite.abort()
            self.server.persistence.aof_rewrite_in_progress = False

    def delete_history(self) -> None:
        """Remove the files a rewrite made obsolete (unless aof-disable-auto-gc), then list them no more."""
        history = self.manifest.history
        if not history or self.config["aof-disable-auto-gc"]:
            return
        for f in history:
            self.server.log.notice(f"Removing the history file {f.name} in the background")
            path = os.path.join(self.dir, f.name)
            self.server.loop.run_in_executor(None, _unlink_quietly, path)
        manifest = self.manifest.copy()
        manifest.history = []
        try:
            write_manifest(self.manifest_path, manifest, self.appendfilename)
        except OSError as exc:
            self.server.log.warning(f"Can't persist the AOF manifest: {exc.strerror}")
            return
        self.manifest = manifest

    def refresh_sizes(self) -> None:
        """aof_current_size: the base and every incr file (the one being written counted as written)."""
        state = self.server.persistence
        listed = ([self.manifest.base] if self.manifest.base is not None else []) + self.manifest.incrs
        size = sum(_size(os.path.join(self.dir, f.name)) for f in listed if f.name != self.log.name)
        state.aof_current_size = size + (self.log.file_size if self.log.fd >= 0 else 0)

    # -- switching on and off at run time --------------------------------------------------------

    def enable(self) -> str | None:
        """CONFIG SET appendonly yes: start logging with a rewrite. An error text, or None."""
        if self.state != OFF:
            return None
        self.set_state(WAIT_REWRITE)
        server = self.server
        if self.snapshot_running() and not self.rewriting:
            server.persistence.aof_rewrite_scheduled = True
            server.log.warning("AOF was enabled but there is already another background operation. An AOF "
                               "background was scheduled to start when possible.")
            return None
        if self.rewriting:
            server.log.warning("AOF was enabled but there is already an AOF rewriting in background. "
                               "Stopping background AOF and starting a rewrite now.")
            self.abort_rewrite()
        if not self.start_rewrite():
            server.persistence.aof_rewrite_scheduled = False
            self.set_state(OFF)
            server.log.warning("Redis needs to enable the AOF but can't trigger a background AOF rewrite "
                               "operation. Check the above logs for more info about the error.")
            return "Unable to turn on AOF. Check server logs."
        return None

    def _appendonly_changed(self, on: bool) -> None:
        from emberkv.server.config import ConfigError

        if not on:
            self.disable()
        elif (error := self.enable()) is not None:
            raise ConfigError(error)

    def disable(self) -> None:
        """CONFIG SET appendonly no: write and fsync what is buffered, close the file, stop a rewrite."""
        if self.state == OFF:
            return
        if self.state == ON:
            error = self.log.sync_now()
            if error is not None:
                self.server.log.warning(f"Fail to fsync the AOF file: {error.strerror or error}")
        self.abort_rewrite()
        self.server.persistence.aof_rewrite_scheduled = False
        self.log.detach()
        self.needs_rewrite = False
        self.set_state(OFF)

    # -- start-up --------------------------------------------------------------------------------

    def read_manifest(self) -> None:
        """Read the manifest (done even with appendonly no, as Redis does). Raises ManifestError."""
        manifest = read_manifest(self.manifest_path) if os.path.isdir(self.dir) else None
        self.manifest = manifest or Manifest()

    # -- shutdown --------------------------------------------------------------------------------

    def on_shutdown(self, save: bool | None) -> bool:
        if self.rewriting:
            if self.state == WAIT_REWRITE:
                # The first rewrite is the whole AOF: stopping now would lose the dataset's log.
                self.server.log.warning("Writing initial AOF, can't exit.")
                return False
            self.server.log.warning("There is a child rewriting the AOF. Killing it!")
        self.abort_rewrite()
        if self.state != OFF and self.log.fd >= 0:
            self.server.log.notice("Calling fsync() on the AOF file.")
            error = self.log.sync_now()
            if error is not None:
                self.server.log.warning(f"Fail to fsync the AOF file: {error.strerror or error}.")
            self._release_held()
        self.bio.drain()
        return True


def _size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
