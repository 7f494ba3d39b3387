"""Where backups live: a directory or an S3 bucket prefix, behind one interface.

Layout (both kinds)::

    <catalog>/<id>/dump.rdb[.zst]     the snapshot (zstd-compressed unless --no-compress)
    <catalog>/<id>/manifest.json      written last: a backup is listed only once its manifest exists

A new backup is prepared in a local staging directory. For a directory catalog that is
``<catalog>/.incoming-<id>`` (same filesystem), and publishing is one ``rename`` of the whole directory
after everything in it was fsynced, so a crash leaves either nothing listed or a complete backup.
Deleting renames the backup out of the way first (``.deleting-<id>``), so a half-deleted backup is never
listed either. The S3 catalog (s3catalog.py) uploads the object first and the manifest last.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from abc import ABC, abstractmethod
from typing import BinaryIO

from emberkv.backup.errors import EXIT_CORRUPT, EXIT_NOT_FOUND, EXIT_STORAGE, BackupError, storage_error
from emberkv.backup.manifest import MANIFEST_NAME, Manifest
from emberkv.persistence.files import fsync_dir

INCOMING = ".incoming-"
DELETING = ".deleting-"
STALE_SECONDS = 86400  # a staging area this old belongs to a run that is not coming back


class Staging:
    """A local directory where a new backup's object is written before it is published."""

    def __init__(self, path: str, owned_parent: str | None = None) -> None:
        self.dir = path
        self.owned_parent = owned_parent  # a temporary directory to remove with it (S3)

    def path(self, name: str) -> str:
        return os.path.join(self.dir, name)

    def discard(self) -> None:
        shutil.rmtree(self.owned_parent or self.dir, ignore_errors=True)


class Catalog(ABC):
    """The operations every catalog offers; ids are resolved by exact match or unique prefix."""

    location: str

    @abstractmethod
    def manifests(self) -> tuple[list[Manifest], list[str]]:
        """Every listed backup, oldest first, and a note for each manifest that could not be read."""

    @abstractmethod
    def staging(self, backup_id: str) -> Staging: ...

    @abstractmethod
    def publish(self, staging: Staging, manifest: Manifest, progress=None) -> None:
        """Store the staged object, then the manifest; the backup is listed from then on."""

    @abstractmethod
    def open_object(self, manifest: Manifest) -> BinaryIO:
        """The stored object's bytes (still compressed), as a readable stream."""

    @abstractmethod
    def delete(self, manifest: Manifest) -> None: ...

    @abstractmethod
    def fetch_local(self, manifest: Manifest, tmp_dir: str | None, progress=None) -> tuple[str, Staging | None]:
        """A local file holding the stored object (downloaded if need be), and what to discard after."""

    def cleanup(self) -> list[str]:
        """Remove what interrupted runs left behind (never listed, so never a backup); what was removed."""
        return []

    def get(self, backup_id: str) -> Manifest:
        found, _ = self.manifests()
        if backup_id == "latest" and found:
            return found[-1]
        exact = [m for m in found if m.id == backup_id]
        if exact:
            return exact[0]
        matches = [m for m in found if m.id.startswith(backup_id)] if backup_id else []
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise BackupError(f"backup id {backup_id!r} is ambiguous in {self.location}: "
                              f"{', '.join(m.id for m in matches[:5])}", EXIT_NOT_FOUND)
        raise BackupError(f"no backup {backup_id!r} in {self.location}", EXIT_NOT_FOUND)


class DirCatalog(Catalog):
    def __init__(self, path: str) -> None:
        self.root = os.path.abspath(path)
        self.location = self.root

    def _require(self) -> None:
        if not os.path.isdir(self.root):
            raise BackupError(f"catalog directory {self.root} does not exist", EXIT_STORAGE)

    def manifests(self) -> tuple[list[Manifest], list[str]]:
        self._require()
        found: list[Manifest] = []
        problems: list[str] = []
        try:
            names = sorted(os.listdir(self.root))
        except OSError as exc:
            raise storage_error(exc, f"cannot list {self.root}") from None
        for name in names:
            if name.startswith("."):
                continue
            path = os.path.join(self.root, name, MANIFEST_NAME)
            try:
                with open(path, "rb") as f:
                    data = f.read()
            except FileNotFoundError:
                continue  # not a backup (or one being deleted by hand)
            except OSError as exc:
                problems.append(f"{name}: {exc.strerror}")
                continue
            try:
                found.append(Manifest.from_json(data, path))
            except BackupError as exc:
                problems.append(exc.message)
        found.sort(key=lambda m: (m.created, m.id))
        return found, problems

    def staging(self, backup_id: str) -> Staging:
        path = os.path.join(self.root, INCOMING + backup_id)
        try:
            os.makedirs(self.root, exist_ok=True)
            os.mkdir(path)
        except OSError as exc:
            raise storage_error(exc, f"cannot create the backup in {self.root}") from None
        return Staging(path)

    def publish(self, staging: Staging, manifest: Manifest, progress=None) -> None:
        target = os.path.join(self.root, manifest.id)
        try:
            with open(staging.path(manifest.object), "rb+") as f:
                os.fsync(f.fileno())
            with open(staging.path(MANIFEST_NAME), "wb") as f:
                f.write(manifest.to_json())
                f.flush()
                os.fsync(f.fileno())
            fsync_dir(staging.dir)
            os.rename(staging.dir, target)
            fsync_dir(self.root)
        except OSError as exc:
            raise storage_error(exc, f"cannot store the backup in {self.root}") from None
        if progress is not None:
            progress(manifest.stored_size, manifest.stored_size)

    def open_object(self, manifest: Manifest) -> BinaryIO:
        path = os.path.join(self.root, manifest.id, manifest.object)
        try:
            return open(path, "rb")
        except OSError as exc:
            raise BackupError(f"backup {manifest.id} has no readable data ({path}: {exc.strerror})",
                              EXIT_CORRUPT if isinstance(exc, FileNotFoundError) else EXIT_STORAGE) from None

    def cleanup(self) -> list[str]:
        """Half-deleted backups, and staging areas of runs that stopped more than a day ago."""
        removed = []
        for name in os.listdir(self.root) if os.path.isdir(self.root) else []:
            path = os.path.join(self.root, name)
            try:
                stale = name.startswith(DELETING) or (
                    name.startswith(INCOMING) and time.time() - os.stat(path).st_mtime > STALE_SECONDS)
            except OSError:
                continue
            if stale:
                shutil.rmtree(path, ignore_errors=True)
                removed.append(name)
        return removed

    def fetch_local(self, manifest: Manifest, tmp_dir: str | None, progress=None) -> tuple[str, Staging | None]:
        path = os.path.join(self.root, manifest.id, manifest.object)
        if not os.path.isfile(path):
            raise BackupError(f"backup {manifest.id} has no data file ({path})", EXIT_CORRUPT)
        return path, None

    def delete(self, manifest: Manifest) -> None:
        path = os.path.join(self.root, manifest.id)
        doomed = os.path.join(self.root, DELETING + manifest.id)
        try:
            os.rename(path, doomed)
            fsync_dir(self.root)
        except OSError as exc:
            raise storage_error(exc, f"cannot delete backup {manifest.id}") from None
        shutil.rmtree(doomed, ignore_errors=True)


def local_staging(tmp_dir: str | None, backup_id: str) -> Staging:
    """A private temporary directory for catalogs that are not local (S3)."""
    try:
        parent = tempfile.mkdtemp(prefix="emberkv-backup-", dir=tmp_dir)
    except OSError as exc:
        raise storage_error(exc, "cannot create a temporary directory") from None
    path = os.path.join(parent, backup_id)
    os.mkdir(path)
    return Staging(path, owned_parent=parent)


def open_catalog(location: str, s3_options: dict | None = None) -> Catalog:
    """A catalog for ``DIR`` or ``s3://bucket/prefix``."""
    if location.startswith("s3://"):
        from emberkv.backup.s3catalog import S3Catalog

        return S3Catalog(location, **(s3_options or {}))
    return DirCatalog(location)
