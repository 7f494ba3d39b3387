"""The snapshot engine: a consistent image of the dataset as of one moment, written without fork.

CPython cannot fork a snapshot cheaply (a child that walks the data writes every reference count, so
the kernel copies most of the heap), so emberkv snapshots in-process, in small slices between client
requests, with key-level copy-on-write:

* At the start (T0) each database's key list is copied in one C-level step (a pointer per key, in
  pieces of KEY_PIECE keys), and the snapshot keeps references to the database's ``data`` and
  ``expires`` dicts. FLUSHALL, FLUSHDB and SWAPDB replace or move those dict objects, so the
  snapshot's view is unaffected by them.
* Phase 1 sorts each piece in place by ``bucket(key) = hash(key) & mask`` (~64 keys a bucket), a
  piece per step. Sorting in place keeps the extra memory at one pointer per key: grouping the keys
  into per-bucket lists would hold a second copy, and fragment the heap as those lists grow.
* Phase 2 writes whole buckets in bucket order, many per slice, taking each bucket's keys from the
  front of every sorted piece and freeing pieces as they run out (never half a bucket, except with
  ``rdb-key-save-delay``, which writes one key per step and marks those keys as written early). "Has
  the cursor passed this key?" is then answered in O(1) from the key alone: ``bucket(key) < cursor``.
* Every change to a key goes through ``Keyspace.before_change`` → ``before_change`` here, which writes
  the key's T0 value first if the cursor has not passed it yet (and remembers it in ``done_early``), or
  records that the key did not exist at T0 (``created``). Old values are released as soon as they are
  replaced, because they were written out first; extra memory is the key list plus the touched keys.

The engine is format-agnostic: an ``encoder`` turns (db, key, value, ttl) records into bytes (the RDB
writer, or the AOF command writer for a RESP base) and a ``sink`` takes the bytes (a file, a socket).
Records of a database the cursor has not reached yet are kept (as copies) until its section begins,
since a file holds each database's keys together under one SELECTDB.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from itertools import islice
from typing import Any, Protocol

from emberkv.keyspace.db import Database, Keyspace
from emberkv.keyspace.values import copy_value

BUCKET_SIZE = 64
SLICE_SECONDS = 0.002  # work per slice before yielding to clients
KEY_PIECE = 8192  # keys per piece of the start-time key list; one piece is sorted per step (~1 ms)
# Buckets written between two deadline checks: adapted so that a chunk takes about CHUNK_SECONDS,
# whatever the values cost to encode (a few keys of big hashes, or thousands of small strings).
CHUNK_SECONDS = 0.0005
MIN_CHUNK, FIRST_CHUNK, MAX_CHUNK = 1, 4, 1024
_EMPTY: list[bytes] = []  # stands in for a piece written out (never appended to)


class Encoder(Protocol):
    """What the engine needs from a file format (RdbWriter has exactly this shape)."""

    def write_header(self, aux: dict) -> None: ...
    def select_db(self, dbid: int, db_size: int, expires_size: int) -> None: ...
    def write_key(self, key: bytes, value: Any, expire_ms: int | None) -> None: ...
    def finish(self) -> None: ...


class _DbState:
    """One database's part of a snapshot."""

    __slots__ = ("dbid", "data", "expires", "pieces", "sorted", "pos", "partial", "mask", "buckets",
                 "cursor", "phase", "done_early", "created", "pending", "size", "expires_size")

    def __init__(self, db: Database) -> None:
        self.dbid = db.id
        self.data = db.data
        self.expires = db.expires
        it = iter(db.data)
        self.pieces: list[list[bytes]] = list(iter(lambda: list(islice(it, KEY_PIECE)), []))
        self.sorted = 0  # pieces sorted so far (phase 1)
        self.pos: list[int] = []  # per piece, the first key not taken yet (phase 2)
        # rdb-key-save-delay: the keys of bucket ``cursor`` not written yet, taken from the pieces.
        self.partial: list[bytes] | None = None
        self.size = len(db.data)
        self.expires_size = len(db.expires)
        buckets = 1
        while buckets * BUCKET_SIZE < self.size:
            buckets <<= 1
        self.buckets = buckets
        self.mask = buckets - 1
        self.cursor = 0
        self.phase = 0  # 0 not started, 1 sorting, 2 writing, 3 done
        self.done_early: set[bytes] = set()
        self.created: set[bytes] = set()
        # Records hooked before this database's section began: (key, copy of value, expire).
        self.pending: list[tuple[bytes, Any, int | None]] = []

    def take(self, end: int) -> list[bytes]:
        """The keys of every bucket below ``end`` not taken yet (they lead each sorted piece)."""
        mask, pieces, pos = self.mask, self.pieces, self.pos
        out: list[bytes] = []
        for i, piece in enumerate(pieces):
            start = p = pos[i]
            n = len(piece)
            while p < n and hash(piece[p]) & mask < end:
                p += 1
            if p != start:
                out += piece[start:p]
                if p == n:
                    pieces[i] = _EMPTY  # written out: free it
                    p = 0
                pos[i] = p
        return out


class Snapshot:
    """One running snapshot; ``start()`` it, and ``on_done(error_or_None)`` is called at the end."""

    def __init__(self, ks: Keyspace, loop, encoder: Encoder, aux: dict,
                 on_done: Callable[[BaseException | None], None], key_delay_us: int = 0,
                 progress: Callable[[int], None] | None = None) -> None:
        self.ks = ks
        self.loop = loop
        self.encoder = encoder
        self.aux = aux
        self.on_done = on_done
        self.key_delay_us = key_delay_us
        # Told keys_written after each slice (INFO's current_save_keys_processed).
        self.progress = progress
        # The encoder's bulk path for many keys of one database (RdbWriter.write_keys), if it has one.
        self._write_keys = getattr(encoder, "write_keys", None)
        self.states: list[_DbState] = []
        self.by_dict: dict[int, _DbState] = {}
        self.current: _DbState | None = None
        self.keys_written = 0
        self.keys_total = 0
        self.finished = False
        self.started_at = 0.0
        # A slow consumer (a replica's socket) pauses the slices; the copy-on-write hook still runs.
        self.paused = False
        self._scheduled = False
        self._chunk = FIRST_CHUNK

    # -- life cycle ------------------------------------------------------------------------------

    def start(self) -> None:
        self.started_at = time.time()
        self.states = [_DbState(db) for db in self.ks.dbs if db.data]
        self.by_dict = {id(s.data): s for s in self.states}
        self.keys_total = sum(s.size for s in self.states)
        try:
            self.encoder.write_header(self.aux)
        except BaseException as exc:  # noqa: BLE001 - reported to the owner, never raised into the loop
            self._finish(exc)
            return
        self.ks.snapshot = self
        self._schedule()

    def pause(self) -> None:
        """Stop producing slices until ``resume()``: the sink cannot take more for now."""
        self.paused = True

    def resume(self) -> None:
        if self.paused:
            self.paused = False
            if not self.finished and not self._scheduled:
                self._schedule()

    def _schedule(self, delay: float = 0.0) -> None:
        self._scheduled = True
        if delay:
            self.loop.call_later(delay, self._step)
        else:
            self.loop.call_soon(self._step)

    def abort(self, reason: BaseException) -> None:
        if not self.finished:
            self._finish(reason)

    def run_to_completion(self) -> None:
        """Finish synchronously (SAVE, SHUTDOWN, DEBUG RELOAD while a snapshot runs)."""
        while not self.finished:
            self._work(deadline=None)

    def _finish(self, error: BaseException | None) -> None:
        self.finished = True
        if self.ks.snapshot is self:
            self.ks.snapshot = None
        self.states = []
        self.by_dict = {}
        self.on_done(error)

    def _step(self) -> None:
        self._scheduled = False
        if self.finished or self.paused:
            return
        if self.key_delay_us:
            # rdb-key-save-delay is per key: one key per step, then wait that long.
            self._work(deadline=None, one_key=True)
            if not self.finished and not self.paused:
                self._schedule(self.key_delay_us / 1_000_000)
            return
        self._work(deadline=time.perf_counter() + SLICE_SECONDS)
        if not self.finished and not self.paused:
            self._schedule()

    # -- the work --------------------------------------------------------------------------------

    def _work(self, deadline: float | None, one_key: bool = False) -> None:
        """Advance until the deadline (or one key written); finishes the snapshot at the end."""
        try:
            while True:
                state = self.current
                if state is None or state.phase == 3:
                    state = self._next_db()
                    if state is None:
                        self.encoder.finish()
                        self._finish(None)
                        return
                if state.phase == 1:
                    self._sort_piece(state)
                elif one_key:
                    if self._write_one(state):
                        break
                else:
                    began = time.perf_counter()
                    self._write_buckets(state, self._chunk)
                    took = time.perf_counter() - began
                    if took < CHUNK_SECONDS / 2:
                        self._chunk = min(MAX_CHUNK, self._chunk * 2)
                    elif took > CHUNK_SECONDS * 2:
                        self._chunk = max(MIN_CHUNK, self._chunk // 2)
                if deadline is not None and time.perf_counter() >= deadline:
                    break
        except BaseException as exc:  # noqa: BLE001 - disk full, encoder bug: fail this save only
            self._finish(exc)
            return
        if self.progress is not None:
            self.progress(self.keys_written)

    def _next_db(self) -> _DbState | None:
        for state in self.states:
            if state.phase == 0:
                self.current = state
                state.phase = 1
                self.encoder.select_db(state.dbid, state.size, state.expires_size)
                for key, value, expire in state.pending:
                    self._emit(key, value, expire)
                state.pending = []
                return state
        return None

    def _sort_piece(self, state: _DbState) -> None:
        if state.sorted < len(state.pieces):
            mask = state.mask
            state.pieces[state.sorted].sort(key=lambda key: hash(key) & mask)
            state.sorted += 1
        if state.sorted == len(state.pieces):
            state.pos = [0] * len(state.pieces)
            state.phase = 2

    def _write_buckets(self, state: _DbState, count: int) -> None:
        """Write the next ``count`` buckets whole. Keys are gathered first and encoded in one call:
        the hook cannot run in between, so the order within the chunk does not matter."""
        end = min(state.cursor + count, state.buckets)
        keys = state.take(end)
        if state.partial is not None:  # the rest of a bucket begun one key at a time
            keys += state.partial
            state.partial = None
        state.cursor = end
        if end == state.buckets:
            state.phase = 3
        data, early = state.data, state.done_early
        items: list[tuple[bytes, Any]] = []
        append = items.append
        for key in keys:
            # A key no longer in data was deleted since T0: the hook wrote it before that.
            value = data.get(key)
            if value is not None and not (early and key in early):
                append((key, value))
        if items:
            if self._write_keys is not None:
                self._write_keys(items, state.expires)
            else:
                expires, write_key = state.expires, self.encoder.write_key
                for key, value in items:
                    write_key(key, value, expires.get(key) if expires else None)
            self.keys_written += len(items)

    def _write_one(self, state: _DbState) -> bool:
        """One key of the current bucket (rdb-key-save-delay); False when the bucket ran out first.

        The bucket is then only partly written, so "bucket(key) < cursor" does not cover the keys
        already written from it: they go into ``done_early``, which the hook checks first."""
        if state.cursor >= state.buckets:
            state.phase = 3
            return False
        if state.partial is None:
            state.partial = state.take(state.cursor + 1)
        bucket, early = state.partial, state.done_early
        while bucket:
            key = bucket.pop()
            value = state.data.get(key)
            if value is None or key in early:
                continue
            early.add(key)
            self._emit(key, value, state.expires.get(key) if state.expires else None)
            return True
        state.partial = None
        state.cursor += 1
        return False

    def _emit(self, key: bytes, value: Any, expire: int | None) -> None:
        self.encoder.write_key(key, value, expire)
        self.keys_written += 1

    # -- the copy-on-write hook ------------------------------------------------------------------

    def before_change(self, db: Database, key: bytes) -> None:
        """Called by the keyspace before key is created, changed, expired, renamed or deleted."""
        state = self.by_dict.get(id(db.data))
        if state is None or key in state.done_early or key in state.created:
            return
        value = state.data.get(key)
        if value is None:
            state.created.add(key)  # did not exist at T0 (every creation since passes here)
            return
        if state.phase == 3 or (state.phase == 2 and (hash(key) & state.mask) < state.cursor):
            return  # the cursor has written it already
        expire = state.expires.get(key) if state.expires else None
        if state.phase == 0:
            # Its section has not begun: keep a copy, since the value is about to change in place.
            state.pending.append((key, copy_value(value), expire))
        else:
            try:
                self._emit(key, value, expire)
            except BaseException as exc:  # noqa: BLE001
                self.loop.call_soon(self.abort, exc)
                return
        state.done_early.add(key)
