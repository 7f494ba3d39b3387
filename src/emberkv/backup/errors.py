"""What can go wrong in a backup command, as one exception type carrying its exit code.

Every failure a user can cause or meet (an unreachable server, a wrong password, a full disk, a missing
bucket, a corrupt backup, an unknown id) is raised as ``BackupError`` with a one-line message and one
of the named exit codes below; the CLI prints the message and exits with the code, never a traceback.
"""

from __future__ import annotations

import errno

EXIT_OK = 0
EXIT_ERROR = 1  # anything not covered below (an internal error is reported, not raised)
EXIT_USAGE = 2  # bad arguments (argparse's own code)
EXIT_UNREACHABLE = 3  # cannot connect to the server, or the connection broke
EXIT_AUTH = 4  # the server refused our credentials (or wants some)
EXIT_NOT_FOUND = 5  # no backup with that id in the catalog
EXIT_CORRUPT = 6  # a backup failed verification (checksum, CRC-64, decoding, digest)
EXIT_STORAGE = 7  # the catalog or a data directory cannot be read or written (full disk, no bucket)
EXIT_EXISTS = 8  # the restore target already holds data and --force was not given
EXIT_PARTIAL = 9  # an online restore stopped part way: the target holds some of the keys
EXIT_MISMATCH = 10  # restore finished but the target's DEBUG DIGEST differs from the backup's
EXIT_SERVER = 11  # the server answered with an error we cannot work around
EXIT_INTERRUPTED = 130  # Ctrl-C

EXIT_NAMES = {
    EXIT_OK: "ok", EXIT_ERROR: "error", EXIT_USAGE: "usage", EXIT_UNREACHABLE: "unreachable",
    EXIT_AUTH: "auth", EXIT_NOT_FOUND: "not-found", EXIT_CORRUPT: "corrupt", EXIT_STORAGE: "storage",
    EXIT_EXISTS: "exists", EXIT_PARTIAL: "partial", EXIT_MISMATCH: "mismatch", EXIT_SERVER: "server",
    EXIT_INTERRUPTED: "interrupted",
}


class BackupError(Exception):
    """A failure to report as one line, with the exit code that classifies it."""

    def __init__(self, message: str, code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def storage_error(exc: OSError, doing: str) -> BackupError:
    """An OSError met while reading or writing files, worded for the operator."""
    reason = exc.strerror or str(exc)
    if exc.errno == errno.ENOSPC:
        reason = "no space left on device"
    elif exc.errno == errno.EFBIG:
        reason = "file too large (file size limit reached)"
    where = f" ({exc.filename})" if exc.filename else ""
    return BackupError(f"{doing}: {reason}{where}", EXIT_STORAGE)
