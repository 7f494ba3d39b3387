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

    def write(self, data: bytes) -> int:
        return self.file.write(data)

    def sync(self) -> None:
        """Flush and fsync the temporary file (may be run in a worker thread)."""
        self.file.flush()
        os.fsync(self.file.fileno())

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
