"""Crash-safe file replacement: nobody rewrites a file in place.

``AtomicFile`` writes to a temporary file in the target's directory; ``commit()`` flushes, fsyncs,
renames it over the target and fsyncs the directory, so after a crash the target is either the old
file or the complete new one. On any error (or ``discard()``) the temporary file is removed and the
target is untouched.
"""

from __future__ import annotations

import os


def fsync_dir(path: str) -> None:
    """Make a rename in directory ``path`` durable."""
    fd = os.open(path or ".", os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class AtomicFile:
    def __init__(self, target: str, temp_name: str | None = None) -> None:
        self.target = os.path.abspath(target)
        self.dir = os.path.dirname(self.target)
        self.temp = os.path.join(self.dir, temp_name or f"temp-{os.getpid()}-{os.path.basename(target)}")
        self.file = open(self.temp, "wb")  # noqa: SIM115 - closed by commit() or discard()
        self._loop = None
        self._sync_every = 0
        self._unsynced = 0
        self._sync_error: BaseException | None = None
        self.background_syncs: list = []  # the fdatasync futures started by write()

    def sync_in_background(self, loop, every_bytes: int) -> None:
        """Push the data to disk every ``every_bytes`` written, on a worker thread (Redis's
        rdb-save-incremental-fsync): the final fsync is then short, and the kernel never holds so many
        dirty pages that writes from the event loop stall."""
        self._loop = loop
        self._sync_every = every_bytes

    def write(self, data: bytes) -> int:
        n = self.file.write(data)
        if self._sync_every:
            self._unsynced += n
            if self._unsynced >= self._sync_every:
                self._unsynced = 0
                self.file.flush()
                done = self._loop.run_in_executor(None, os.fdatasync, self.file.fileno())
                done.add_done_callback(self._synced)
                self.background_syncs = [f for f in self.background_syncs if not f.done()] + [done]
        return n

    def _synced(self, done) -> None:
        # An I/O error may be reported to one fsync only: keep it for the final one.
        if not done.cancelled() and done.exception() is not None and self._sync_error is None:
            self._sync_error = done.exception()

    def sync(self) -> None:
        """Flush and fsync the temporary file (may be run in a worker thread; after the background
        syncs have finished, so that an error one of them saw is raised here)."""
        self.file.flush()
        os.fsync(self.file.fileno())
        if self._sync_error is not None:
            raise self._sync_error

    def commit(self, synced: bool = False) -> None:
        """Make the new content the target's; on failure the target is left as it was."""
        try:
            if not synced:
                self.sync()
            self.file.close()
            os.replace(self.temp, self.target)
            fsync_dir(self.dir)
        except BaseException:
            self.discard()
            raise

    def discard(self) -> None:
        try:
            self.file.close()
        except OSError:
            pass
        try:
            os.unlink(self.temp)
        except FileNotFoundError:
            pass

    def __enter__(self) -> AtomicFile:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.discard()


def atomic_write(target: str, data: bytes) -> None:
    """Replace target with data, crash-safely."""
    with AtomicFile(target) as f:
        f.write(data)
