"""The keyspace: databases of key -> value with expire times, and the few functions all access goes through.

Every command reads and writes keys only through ``lookup_read``, ``lookup_write``, ``add_key``,
``set_key``, ``delete_key``, ``set_expire``, ``remove_expire`` and ``modified``. They are the single choke
point for:

* lazy expiry (a key past its time is deleted the moment anyone looks at it),
* the ``dirty`` counter (changes since the last save, for save points and INFO),
* WATCH (a change to a watched key aborts that client's next EXEC),
* the snapshot engine's copy-on-write hook (``before_change`` runs before a key is first changed, so a
  background snapshot can write the key's old value first),
* keyspace notifications and waking clients blocked on a key.

Handlers that change a container in place (LPUSH, HSET, ...) fetch it with ``lookup_write`` and report
the change with ``modified`` afterwards.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol


class SnapshotHook(Protocol):
    def before_change(self, db: Database, key: bytes) -> None: ...


class Database:
    """One numbered database: ``data`` holds values, ``expires`` absolute expire times in ms."""

    __slots__ = ("id", "data", "expires", "watched", "expire_scan", "expire_scan_pos")

    def __init__(self, dbid: int) -> None:
        self.id = dbid
        self.data: dict[bytes, Any] = {}
        self.expires: dict[bytes, int] = {}
        # key -> clients WATCHing it; touched on every change.
        self.watched: dict[bytes, set] = {}
        # Active expiry walks a copy of the expiring keys, refreshed when it reaches the end.
        self.expire_scan: list[bytes] = []
        self.expire_scan_pos = 0

    def __len__(self) -> int:
        return len(self.data)


# Notification classes (notify-keyspace-events letters), as bit flags.
NOTIFY_KEYSPACE = 1 << 0  # K
NOTIFY_KEYEVENT = 1 << 1  # E
NOTIFY_GENERIC = 1 << 2  # g
NOTIFY_STRING = 1 << 3  # $
NOTIFY_LIST = 1 << 4  # l
NOTIFY_SET = 1 << 5  # s
NOTIFY_HASH = 1 << 6  # h
NOTIFY_ZSET = 1 << 7  # z
NOTIFY_EXPIRED = 1 << 8  # x
NOTIFY_EVICTED = 1 << 9  # e
NOTIFY_STREAM = 1 << 10  # t
NOTIFY_KEY_MISS = 1 << 11  # m
NOTIFY_NEW = 1 << 12  # n


def wall_ms() -> int:
    return int(time.time() * 1000)


class Keyspace:
    """All databases plus the cross-cutting state the access functions maintain."""

    def __init__(self, databases: int = 16) -> None:
        self.dbs = [Database(i) for i in range(databases)]
        self.dirty = 0
        # Read once per command by the dispatcher (and frozen for the length of an EXEC).
        self.now_ms = wall_ms()
        self.snapshot: SnapshotHook | None = None
        self.stat_expired_keys = 0
        self.stat_keyspace_hits = 0
        self.stat_keyspace_misses = 0
        # Set by the server: called with (db, key) when a key expires, to log a DEL and notify.
        self.on_expired: Callable[[Database, bytes], None] | None = None
        # Keyspace notifications: the configured class flags and the publisher.
        self.notify_flags = 0
        self.notifier: Callable[[int, bytes, Database, bytes], None] | None = None
        # Keys that clients are blocked on ((dbid, key) -> count) and the ones made ready by a write.
        self.blocking_keys: dict[tuple[int, bytes], int] = {}
        self.ready_keys: list[tuple[Database, bytes]] = []

    # -- reading ---------------------------------------------------------------------------------

    def lookup_read(self, db: Database, key: bytes) -> Any:
        """The value at key, or None when missing or expired (an expired key is deleted here)."""
        value = db.data.get(key)
        if value is None:
            self.stat_keyspace_misses += 1
            if self.notify_flags & NOTIFY_KEY_MISS:
                self.notify(NOTIFY_KEY_MISS, b"keymiss", db, key)
            return None
        if db.expires and key in db.expires and self.expire_if_needed(db, key):
            self.stat_keyspace_misses += 1
            if self.notify_flags & NOTIFY_KEY_MISS:
                self.notify(NOTIFY_KEY_MISS, b"keymiss", db, key)
            return None
        self.stat_keyspace_hits += 1
        return value

    def exists(self, db: Database, key: bytes) -> bool:
        """Like lookup_read, without touching the hit/miss statistics."""
        if key not in db.data:
            return False
        return not (db.expires and key in db.expires and self.expire_if_needed(db, key))

    def expire_if_needed(self, db: Database, key: bytes) -> bool:
        """Delete key if its time has passed; True when it was (logically) expired."""
        when = db.expires.get(key)
        if when is None or when > self.now_ms:
            return False
        self.expire_key(db, key)
        return True

    def expire_key(self, db: Database, key: bytes) -> None:
        self._before_change(db, key)
        del db.data[key]
        del db.expires[key]
        self.stat_expired_keys += 1
        self._touch_watchers(db, key)
        if self.on_expired is not None:
            self.on_expired(db, key)
        self.notify(NOTIFY_EXPIRED, b"expired", db, key)

    # -- writing ---------------------------------------------------------------------------------

    def lookup_write(self, db: Database, key: bytes) -> Any:
        """The value at key for a command about to change it in place (or None if missing).

        Runs the snapshot hook first, so a running snapshot keeps the key's value as it was."""
        value = db.data.get(key)
        if value is None:
            return None
        if db.expires and key in db.expires and self.expire_if_needed(db, key):
            return None
        if self.snapshot is not None:
            self.snapshot.before_change(db, key)
        return value

    def add_key(self, db: Database, key: bytes, value: Any) -> None:
        """Create a key that does not exist (callers have checked)."""
        if self.snapshot is not None:
            self.snapshot.before_change(db, key)
        db.data[key] = value
        self.dirty += 1
        self._touch_watchers(db, key)
        if self.notify_flags & NOTIFY_NEW:
            self.notify(NOTIFY_NEW, b"new", db, key)

    def set_key(self, db: Database, key: bytes, value: Any, keepttl: bool = False) -> None:
        """Create or overwrite key (SET semantics: the TTL goes unless keepttl)."""
        if self.snapshot is not None:
            self.snapshot.before_change(db, key)
        if self.notify_flags & NOTIFY_NEW and key not in db.data:
            db.data[key] = value
            self.notify(NOTIFY_NEW, b"new", db, key)
        else:
            db.data[key] = value
        if not keepttl and db.expires:
            db.expires.pop(key, None)
        self.dirty += 1
        if db.watched:
            self._touch_watchers(db, key)

    def delete_key(self, db: Database, key: bytes) -> bool:
        """Remove key and its TTL; False when it did not exist (expired keys count as missing)."""
        if key not in db.data:
            return False
        if db.expires and key in db.expires and self.expire_if_needed(db, key):
            return False
        self._before_change(db, key)
        del db.data[key]
        if db.expires:
            db.expires.pop(key, None)
        self.dirty += 1
        self._touch_watchers(db, key)
        return True

    def modified(self, db: Database, key: bytes, changes: int = 1) -> None:
        """Report an in-place change to key's value (after lookup_write)."""
        self.dirty += changes
        if db.watched:
            self._touch_watchers(db, key)

    def set_expire(self, db: Database, key: bytes, when_ms: int) -> None:
        self._before_change(db, key)
        db.expires[key] = when_ms
        self.dirty += 1
        self._touch_watchers(db, key)

    def remove_expire(self, db: Database, key: bytes) -> bool:
        if key not in db.expires:
            return False
        self._before_change(db, key)
        del db.expires[key]
        self.dirty += 1
        self._touch_watchers(db, key)
        return True

    # -- whole databases -------------------------------------------------------------------------

    def flush_db(self, db: Database) -> int:
        """Empty one database; returns how many keys it held.

        A running snapshot keeps the old dicts (it holds its own references), so no hook is needed."""
        removed = len(db.data)
        for key in list(db.watched):
            if key in db.data:
                self._touch_watchers(db, key)
        db.data = {}
        db.expires = {}
        db.expire_scan = []
        db.expire_scan_pos = 0
        self.dirty += removed
        return removed

    def swap_db(self, a: int, b: int) -> None:
        da, db_ = self.dbs[a], self.dbs[b]
        for d in (da, db_):
            for key in list(d.watched):
                self._touch_watchers(d, key)
        da.data, db_.data = db_.data, da.data
        da.expires, db_.expires = db_.expires, da.expires
        da.expire_scan, db_.expire_scan = [], []
        da.expire_scan_pos = db_.expire_scan_pos = 0
        self.dirty += 1

    # -- hooks -----------------------------------------------------------------------------------

    def _before_change(self, db: Database, key: bytes) -> None:
        if self.snapshot is not None:
            self.snapshot.before_change(db, key)

    def _touch_watchers(self, db: Database, key: bytes) -> None:
        clients = db.watched.get(key) if db.watched else None
        if clients:
            for client in clients:
                client.dirty_cas = True

    def notify(self, cls: int, event: bytes, db: Database, key: bytes) -> None:
        if self.notify_flags & cls and self.notifier is not None:
            self.notifier(cls, event, db, key)

    def signal_ready(self, db: Database, key: bytes) -> None:
        """A list or zset at key may have become non-empty: clients blocked on it get another try."""
        if self.blocking_keys and (db.id, key) in self.blocking_keys:
            self.ready_keys.append((db, key))
