"""Appending to the AOF: the buffer, the incr file, and the three fsync policies (spec §3.6).

Effects are encoded into ``buf`` as commands run. Once per event-loop batch, before any reply of that
batch leaves, ``flush()`` writes the buffer with ``write(2)``:

* ``always``: then ``fdatasync`` in the loop thread. One fsync serves every client of the batch (group
  commit); nobody is answered before it returned.
* ``everysec``: at most once a second an fsync is handed to the background thread. While one is still
  running the write is postponed (the file's inode lock would stall the loop) for up to two seconds,
  then done anyway (``aof_delayed_fsync``); replies wait for the write in either case.
* ``no``: the kernel decides when the data reaches the disk.

A failed or short write is cut back with ``ftruncate`` to the last complete command (or, if even that
fails, the part that made it to the file is dropped from the buffer, so the file stays a clean prefix of
the stream); the data stays in the buffer and is written again later. A failed fsync is never retried:
after one, the kernel may have dropped the dirty pages and marked them clean, so no later fsync of that
file proves anything. The file is then left alone for good (``broken``) until a rewrite replaces it.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from emberkv.persistence.aof.format import EXEC, MULTI, encode_select, timestamp_annotation

_ARG_HEADERS = [b"$%d\r\n" % n for n in range(1024)]
_CMD_HEADERS = [b"*%d\r\n" % n for n in range(64)]
POSTPONE_LIMIT = 2  # seconds a write may wait for a running background fsync

# What flush() did with the buffer.
WRITTEN = 0  # written (and fsynced as the policy wants): the replies may go
POSTPONED = 1  # waiting for a background fsync: hold the replies
FAILED = 2  # the write or the fsync failed: the data is not safe


class Bio:
    """The background thread for fsync and close jobs, like Redis's bio thread: jobs run in order, and
    each reports back to the event loop. ``fsyncs`` counts the plain fsync jobs of the log (what
    postpones writes under everysec); closing a file the log left is a job of another kind."""

    def __init__(self, loop: Any) -> None:
        self.loop = loop
        self.jobs: deque = deque()
        self.ready = threading.Condition()
        self.pending = 0  # queued or running; only touched on the loop thread
        self.fsyncs = 0
        self.thread: threading.Thread | None = None

    def submit(self, fd: int, close: bool, done: Callable[[OSError | None], None] | None = None,
               fsync: bool = True) -> None:
        self.pending += 1
        counted = fsync and not close
        self.fsyncs += counted
        if self.thread is None:
            self.thread = threading.Thread(target=self._run, name="aof-bio", daemon=True)
            self.thread.start()
        with self.ready:
            self.jobs.append((fd, close, fsync, counted, done))
            self.ready.notify()

    def _run(self) -> None:
        while True:
            with self.ready:
                while not self.jobs:
                    self.ready.wait()
                fd, close, fsync, counted, done = self.jobs.popleft()
            error = None
            try:
                if fsync:
                    os.fdatasync(fd)
            except OSError as exc:
                error = exc
            if close:
                try:
                    os.close(fd)
                except OSError:
                    pass
            try:
                self.loop.call_soon_threadsafe(self._finished, error, counted, done)
            except RuntimeError:
                return  # the loop is gone: the process is exiting

    def _finished(self, error: OSError | None, counted: bool,
                  done: Callable[[OSError | None], None] | None) -> None:
        self.pending -= 1
        self.fsyncs -= counted
        if done is not None:
            done(error)

    def drain(self, timeout: float = 30.0) -> None:
        """Wait (blocking the loop) until every queued job has run: shutdown, switching AOF off."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.ready:
                if not self.jobs:
                    break
            time.sleep(0.001)


class AofLog:
    """The incr file being appended to, and the buffer of what is not written yet."""

    def __init__(self, state: Any, bio: Bio, log: Any) -> None:
        self.state = state  # PersistenceState: INFO's aof_* fields
        self.bio = bio
        self.logger = log
        self.fd = -1
        self.name = ""
        self.buf = bytearray()
        self.selected_db = -1  # the db of the last SELECT written (-1: none yet in this file)
        self.timestamps = False
        self.last_ts = 0
        self.policy = "everysec"
        self.no_fsync_now: Callable[[], bool] = lambda: False  # no-appendfsync-on-rewrite says so
        self.file_size = 0  # bytes of the incr file that hold complete commands
        self.fsynced_size = 0
        self.last_fsync_sec = 0
        self.postponed_since = 0
        self.write_error: OSError | None = None  # the last write failed (cleared when one succeeds)
        self.broken: OSError | None = None  # an fsync failed: this file is never trusted again
        self.last_error_log = 0.0
        # Told when an fsync fails (the owner must refuse writes until a rewrite) and when a background
        # fsync ends (a postponed write may go).
        self.on_broken: Callable[[OSError], None] = lambda error: None
        self.on_fsynced: Callable[[], None] = lambda: None

    # -- appending -------------------------------------------------------------------------------

    def feed(self, effects: list[tuple[int, list[bytes]]], multi: bool) -> None:
        """Encode what a command (or a transaction, ``multi``) changed, as Redis propagates it."""
        buf = self.buf
        before = len(buf)
        if not multi and not self.timestamps and len(effects) == 1 and effects[0][0] == self.selected_db:
            # The common case (one write in the current database), without the general loop.
            argv = effects[0][1]
            n = len(argv)
            buf += _CMD_HEADERS[n] if n < 64 else b"*%d\r\n" % n
            for arg in argv:
                n = len(arg)
                buf += _ARG_HEADERS[n] if n < 1024 else b"$%d\r\n" % n
                buf += arg
                buf += b"\r\n"
            self.state.aof_buffer_length += len(buf) - before
            return
        if self.timestamps:
            now = int(time.time())
            if now > self.last_ts:
                self.last_ts = now
                buf += timestamp_annotation(now)
        if multi:
            if effects[0][0] != self.selected_db:
                self.selected_db = effects[0][0]
                buf += encode_select(self.selected_db)
            buf += MULTI
        for dbid, argv in effects:
            if dbid != self.selected_db:
                self.selected_db = dbid
                buf += encode_select(dbid)
            n = len(argv)
            buf += _CMD_HEADERS[n] if n < 64 else b"*%d\r\n" % n
            for arg in argv:
                n = len(arg)
                buf += _ARG_HEADERS[n] if n < 1024 else b"$%d\r\n" % n
                buf += arg
                buf += b"\r\n"
        if multi:
            buf += EXEC
        self.state.aof_buffer_length += len(buf) - before

    # -- writing ---------------------------------------------------------------------------------

    def flush(self, force: bool = False) -> int:
        """Write the buffer, fsyncing as the policy says; returns WRITTEN, POSTPONED or FAILED."""
        if self.fd < 0 or self.broken is not None:
            return FAILED if self.buf or self.broken is not None else WRITTEN
        if not self.buf:
            self._idle_fsync()
            return WRITTEN
        everysec = self.policy == "everysec"
        if everysec and not force and self.bio.fsyncs:
            now = int(time.time())
            if not self.postponed_since:
                self.postponed_since = now
                return POSTPONED
            if now - self.postponed_since < POSTPONE_LIMIT:
                return POSTPONED
            self.state.aof_delayed_fsync += 1
            self.logger.notice("Asynchronous AOF fsync is taking too long (disk is busy?). Writing the "
                               "AOF buffer without waiting for fsync to complete, this may slow down "
                               "Redis.")
        self.postponed_since = 0
        if not self._write():
            return FAILED
        if self.no_fsync_now():
            return WRITTEN
        if self.policy == "always":
            try:
                os.fdatasync(self.fd)
            except OSError as exc:
                self.fsync_failed(exc)
                return FAILED
            self.fsynced_size = self.file_size
            self.last_fsync_sec = int(time.time())
        elif everysec:
            now = int(time.time())
            if now > self.last_fsync_sec:
                if not self.bio.fsyncs:
                    self.background_fsync()
                self.last_fsync_sec = now
        return WRITTEN

    def _write(self) -> bool:
        buf = self.buf
        total = len(buf)
        written = 0
        try:
            while written < total:
                written += os.write(self.fd, memoryview(buf)[written:] if written else buf)
        except OSError as exc:
            self._write_failed(exc, written)
            return False
        self.file_size += total
        self.state.aof_current_size += total
        self.state.aof_buffer_length = 0
        self.buf = bytearray()
        if self.write_error is not None:
            self.write_error = None
            self.state.aof_last_write_ok = True
            self.logger.warning("AOF write error looks solved, Redis can write again.")
        return True

    def _write_failed(self, exc: OSError, written: int) -> None:
        """Undo a partial write; keep the data for the next attempt; refuse writes meanwhile."""
        if written:
            try:
                os.ftruncate(self.fd, self.file_size)
            except OSError as trunc:
                self.logger.warning("Could not remove short write from the append-only file. Redis "
                                    "may refuse to load the AOF the next time it starts. ftruncate: "
                                    f"{trunc.strerror}")
                # The written part stays in the file: drop it from the buffer so nothing is doubled.
                self.file_size += written
                self.state.aof_current_size += written
                del self.buf[:written]
                self.state.aof_buffer_length = len(self.buf)
        now = time.monotonic()
        if self.write_error is None or now - self.last_error_log > 30:
            self.last_error_log = now
            if written:
                self.logger.warning(f"Short write while writing to the AOF file: (nwritten={written}, "
                                    f"expected={written + len(self.buf)}): {exc.strerror}")
            else:
                self.logger.warning(f"Error writing to the AOF file: {exc.strerror}")
        self.write_error = exc
        self.state.aof_last_write_ok = False

    def fsync_failed(self, exc: OSError) -> None:
        if self.broken is None:
            self.logger.warning(f"Can't persist AOF for fsync error: {exc.strerror}. The AOF file "
                                f"{self.name} will not be written again: writes are refused until a "
                                "rewrite replaces it (BGREWRITEAOF).")
        self.broken = exc
        self.state.aof_last_write_ok = False
        self.on_broken(exc)

    def background_fsync(self) -> None:
        fd = self.fd
        size = self.file_size
        self.bio.submit(fd, close=False, done=lambda error: self._fsynced(fd, size, error))
        self.state.aof_pending_bio_fsync = self.bio.fsyncs

    def _fsynced(self, fd: int, size: int, error: OSError | None) -> None:
        self.state.aof_pending_bio_fsync = self.bio.fsyncs
        if error is not None:
            if fd == self.fd:
                self.fsync_failed(error)
            return
        if fd == self.fd:
            self.fsynced_size = max(self.fsynced_size, size)
        self.on_fsynced()

    def _idle_fsync(self) -> None:
        """everysec: data written but not fsynced yet gets its fsync within a second even if no new
        write comes."""
        if (self.policy == "everysec" and self.fsynced_size != self.file_size and not self.bio.fsyncs
                and int(time.time()) > self.last_fsync_sec and not self.no_fsync_now()):
            self.background_fsync()
            self.last_fsync_sec = int(time.time())

    def sync_now(self) -> OSError | None:
        """Write everything and fsync in this thread (shutdown, switching files, turning AOF off)."""
        if self.fd < 0 or self.broken is not None:
            return self.broken
        if self.buf and not self._write():
            return self.write_error
        try:
            os.fdatasync(self.fd)
        except OSError as exc:
            self.fsync_failed(exc)
            return exc
        self.fsynced_size = self.file_size
        return None

    # -- files -----------------------------------------------------------------------------------

    def attach(self, fd: int, name: str, size: int) -> None:
        """Append to fd (an open incr file of ``size`` bytes) from now on; a new file starts with a
        SELECT. The previous file, if any, is fsynced and closed in the background."""
        if self.fd >= 0:
            old = self.fd
            self.bio.submit(old, close=True, fsync=self.broken is None, done=self._old_file_synced)
        self.fd = fd
        self.name = name
        self.file_size = self.fsynced_size = size
        self.selected_db = -1
        self.broken = None
        self.last_fsync_sec = int(time.time())
        self.postponed_since = 0

    def _old_file_synced(self, error: OSError | None) -> None:
        self.state.aof_pending_bio_fsync = self.bio.fsyncs
        if error is not None:
            # The file we left may have lost data: the log is not complete any more.
            self.logger.warning(f"Fsync of the previous AOF file failed: {error.strerror}")
            self.state.aof_last_write_ok = False
            self.on_broken(error)
        self.on_fsynced()

    def detach(self) -> None:
        """Stop appending (AOF switched off): the file is closed after pending jobs."""
        if self.fd >= 0:
            self.bio.submit(self.fd, close=True, fsync=False)
        self.fd = -1
        self.name = ""
        self.buf = bytearray()
        self.state.aof_buffer_length = 0
        self.write_error = self.broken = None
        self.state.aof_last_write_ok = True
        self.selected_db = -1

    def discard_buffer(self) -> None:
        """Drop what is not written (a rewrite's snapshot holds it now)."""
        self.buf = bytearray()
        self.state.aof_buffer_length = 0

    @property
    def refusal(self) -> OSError | None:
        """Why writes must be refused now (MISCONF), or None."""
        return self.broken or self.write_error


def open_incr(path: str, truncate: bool) -> tuple[int, int]:
    """Open an incr file for appending: (fd, current size)."""
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | (os.O_TRUNC if truncate else 0)
    fd = os.open(path, flags, 0o644)
    return fd, os.fstat(fd).st_size
