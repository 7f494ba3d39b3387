"""``backup restore ID --data-dir DIR``: install a backup for a server that is not running yet.

Without ``--appendonly`` the RDB becomes ``DIR/dump.rdb`` (or ``--dbfilename``). With it, the RDB becomes
the base of a fresh multi-part AOF directory, as Redis 7.0 lays it out (spec §3.2, §3.3)::

    DIR/appendonlydir/appendonly.aof.1.base.rdb    the snapshot
    DIR/appendonlydir/appendonly.aof.1.incr.aof    empty
    DIR/appendonlydir/appendonly.aof.manifest      "file ... seq 1 type b" / "file ... seq 1 type i"

(a server started with ``appendonly yes`` ignores dump.rdb, so that is the only way to restore into one).

Nothing existing is overwritten without ``--force``. The bytes are checked against the manifest's size
and SHA-256 (which were taken from the fully decoded file when the backup was made) *before* anything is
put in place, and the swap is atomic: a temp file + fsync + rename for dump.rdb; for the AOF directory a
complete new directory renamed into place, the old one (with --force) moved aside first and removed
only after. An interrupted or refused restore leaves the target as it was.
"""

from __future__ import annotations

import os
import shutil

from emberkv.backup.catalog import Catalog
from emberkv.backup.errors import EXIT_CORRUPT, EXIT_EXISTS, BackupError, storage_error
from emberkv.backup.manifest import Manifest
from emberkv.backup.progress import Reporter
from emberkv.backup.streams import READ_SIZE
from emberkv.backup.verify import open_rdb
from emberkv.persistence.files import AtomicFile, fsync_dir


def restore_offline(catalog: Catalog, manifest: Manifest, data_dir: str, reporter: Reporter, force: bool = False,
                    appendonly: bool = False, dbfilename: str = "dump.rdb", appenddirname: str = "appendonlydir",
                    appendfilename: str = "appendonly.aof") -> str:
    """Install the backup; returns the path of what was written."""
    data_dir = os.path.abspath(data_dir)
    try:
        os.makedirs(data_dir, exist_ok=True)
    except OSError as exc:
        raise storage_error(exc, f"cannot create {data_dir}") from None
    if appendonly:
        return _restore_aof(catalog, manifest, data_dir, reporter, force, appenddirname, appendfilename)
    target = os.path.join(data_dir, dbfilename)
    if os.path.exists(target) and not force:
        raise BackupError(f"{target} already exists: use --force to replace it", EXIT_EXISTS)
    try:
        out = AtomicFile(target, f"temp-restore-{os.getpid()}.rdb")
    except OSError as exc:
        raise storage_error(exc, f"cannot write in {data_dir}") from None
    try:
        _copy_checked(catalog, manifest, out, reporter)
        out.commit()
    except OSError as exc:
        out.discard()
        raise storage_error(exc, f"cannot write {target}") from None
    except BaseException:
        out.discard()
        raise
    return target


def _restore_aof(catalog: Catalog, manifest: Manifest, data_dir: str, reporter: Reporter, force: bool,
                 dirname: str, filename: str) -> str:
    target = os.path.join(data_dir, dirname)
    if os.path.exists(target) and os.listdir(target) and not force:
        raise BackupError(f"{target} already holds an AOF: use --force to replace it", EXIT_EXISTS)
    pid = os.getpid()
    building = os.path.join(data_dir, f".restore-{pid}-{dirname}")
    old = os.path.join(data_dir, f".replaced-{pid}-{dirname}")
    base = f"{filename}.1.base.rdb"
    incr = f"{filename}.1.incr.aof"
    try:
        os.mkdir(building)
        with open(os.path.join(building, base), "wb") as f:
            _copy_checked(catalog, manifest, f, reporter)
            f.flush()
            os.fsync(f.fileno())
        for name, content in ((incr, b""),
                              (f"{filename}.manifest", f"file {base} seq 1 type b\nfile {incr} seq 1 type i\n".encode())):
            with open(os.path.join(building, name), "wb") as f:
                f.write(content)
                f.flush()
                os.fsync(f.fileno())
        fsync_dir(building)
        if os.path.exists(target):
            os.rename(target, old)
        os.rename(building, target)
        fsync_dir(data_dir)
    except OSError as exc:
        shutil.rmtree(building, ignore_errors=True)
        if os.path.exists(old) and not os.path.exists(target):
            os.rename(old, target)
        raise storage_error(exc, f"cannot write {target}") from None
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    shutil.rmtree(old, ignore_errors=True)
    return target


def _copy_checked(catalog: Catalog, manifest: Manifest, out, reporter: Reporter) -> None:
    """Copy the backup's RDB to out; BackupError(EXIT_CORRUPT) unless it is byte for byte the one recorded."""
    with reporter.task(f"restoring {manifest.id}", manifest.stored_size) as task:
        stored, rdb, raw = open_rdb(catalog, manifest, task.update)
        try:
            while data := rdb.read(READ_SIZE):
                out.write(data)
        except BackupError as exc:
            if exc.code != EXIT_CORRUPT:
                raise
            raise BackupError(f"backup {manifest.id} is corrupt ({exc.message}): nothing was restored; run "
                              "'emberkv backup verify' for details", EXIT_CORRUPT) from None
        finally:
            close = getattr(raw, "close", None)
            if close is not None:
                close()
    if rdb.count != manifest.size or rdb.hexdigest() != manifest.sha256:
        raise BackupError(f"backup {manifest.id} is corrupt (its RDB does not match the manifest's size and "
                          "SHA-256): nothing was restored; run 'emberkv backup verify' for details", EXIT_CORRUPT)
