"""The snapshot engine in-process: whatever clients do while a snapshot runs, the file holds the dataset
exactly as it was when the snapshot started (spec/snapshot-engine.md, "Cases to get right").

The engine runs on a fake loop that the test steps by hand, with ``key_delay_us`` so that each step
writes one key: commands are interleaved with the cursor at chosen points, through the real
dispatcher (so every write passes the keyspace's copy-on-write hook). The file is then read back and
compared with a synchronous save of the dataset taken at the start: values, encodings and TTLs.
"""

from __future__ import annotations

import io
import tracemalloc
from collections import deque
from typing import Any

import pytest

from emberkv.keyspace.db import Keyspace
from emberkv.keyspace.digest import dataset_digest
from emberkv.keyspace.values import HashValue, ListValue, SetValue, ZSetValue
from emberkv.persistence.rdb.reader import LoadStats, RdbReader
from emberkv.persistence.rdb.writer import RdbWriter, rdb_save_keyspace
from emberkv.persistence.snapshot import Snapshot
from tests.inproc import InProcessServer

FAR = 4102444800000  # 2100-01-01, in ms


class FakeLoop:
    """Collects the engine's callbacks; the test runs them one at a time."""

    def __init__(self) -> None:
        self.queue: deque = deque()

    def call_soon(self, callback, *args) -> None:
        self.queue.append((callback, args))

    def call_later(self, delay: float, callback, *args) -> None:
        self.queue.append((callback, args))

    def step(self) -> bool:
        if not self.queue:
            return False
        callback, args = self.queue.popleft()
        callback(*args)
        return True

    def run(self) -> None:
        while self.step():
            pass


def canonical(value: Any) -> Any:
    kind = type(value)
    if kind is ListValue:
        return ("list", tuple(value))
    if kind is HashValue:
        return ("hash", frozenset(value.items()), value.big)
    if kind is SetValue:
        return ("set", frozenset(value), value.big)
    if kind is ZSetValue:
        return ("zset", tuple(value.ranked), value.big)
    return ("string", bytes(value))


def dataset(ks: Keyspace) -> dict:
    """Every key of every database with its value and expire time, in comparable form."""
    return {
        (db.id, key): (canonical(value), db.expires.get(key))
        for db in ks.dbs for key, value in db.data.items()
    }


def load(data: bytes) -> Keyspace:
    ks = Keyspace()
    reader = RdbReader(io.BytesIO(data))
    reader.load_into(ks, None, LoadStats())  # None: keep keys whose time has passed since
    return ks


class Harness:
    """An in-process server and one snapshot of its dataset driven step by step."""

    def __init__(self, *options: str) -> None:
        self.srv = InProcessServer(*options)
        self.server = self.srv.server
        self.ks = self.server.keyspace
        self.c = self.srv.client()
        self.loop = FakeLoop()
        self.out = io.BytesIO()
        self.done: list = []
        self.snapshot: Snapshot | None = None
        self.at_start: dict = {}

    def start(self, key_delay_us: int = 1) -> Snapshot:
        # What a synchronous save at the start would hold, read back: loading decides the encoding
        # of a container that shrank after it went big (Redis does too), so compare with that.
        at_start = io.BytesIO()
        rdb_save_keyspace(at_start, self.ks)
        self.at_start = dataset(load(at_start.getvalue()))
        self.digest_at_start = dataset_digest(self.ks)
        self.snapshot = Snapshot(self.ks, self.loop, RdbWriter(self.out), {}, self.done.append,
                                 key_delay_us=key_delay_us)
        self.snapshot.start()
        return self.snapshot

    def steps(self, n: int) -> None:
        for _ in range(n):
            self.loop.step()

    def finish(self) -> Keyspace:
        self.loop.run()
        assert self.done == [None]
        assert self.ks.snapshot is None
        return load(self.out.getvalue())

    def assert_file_is_the_start_dataset(self) -> Keyspace:
        loaded = self.finish()
        assert dataset(loaded) == self.at_start
        assert dataset_digest(loaded) == self.digest_at_start
        return loaded

    def close(self) -> None:
        self.srv.close()


@pytest.fixture
def h():
    harness = Harness()
    yield harness
    harness.close()


def fill(c, n: int = 300, db: int = 0) -> None:
    """n keys of every type (both encodings of each container), a fifth of them with a TTL."""
    c("SELECT", db)
    for i in range(n):
        kind = i % 6
        key = f"k{i}"
        if kind == 0:
            c("SET", key, f"value-{i}")
        elif kind == 1:
            c("RPUSH", key, "a", "b", i)
        elif kind == 2:
            c("HSET", key, "f", i, "g", "x" * (70 if i % 4 == 0 else 3))
        elif kind == 3:
            c("SADD", key, *(range(3) if i % 4 else [f"m{j}" for j in range(3)]))
        elif kind == 4:
            c("ZADD", key, 1, "a", 2.5, "b" * (100 if i % 4 == 0 else 1))
        else:
            c("SET", key, i)
        if i % 5 == 0:
            c("PEXPIREAT", key, FAR + i)
    c("SELECT", 0)


def test_untouched_dataset_is_written_whole_with_ttls_and_encodings(h):
    fill(h.c, 400)
    fill(h.c, 50, db=3)
    h.start()
    h.assert_file_is_the_start_dataset()


def test_every_key_is_written_once(h):
    fill(h.c, 500)
    h.start(key_delay_us=0)
    h.finish()
    keys = [e.key for e in RdbReader(io.BytesIO(h.out.getvalue())).entries()]
    assert len(keys) == len(set(keys)) == 500


WRITES = [
    ("DEL", "{k}"), ("UNLINK", "{k}"), ("GETDEL", "{k}"), ("LPOP", "{k}", 5), ("HDEL", "{k}", "f", "g"),
    ("SPOP", "{k}", 10), ("ZREM", "{k}", "a", "b"), ("ZREMRANGEBYRANK", "{k}", 0, -1), ("EXPIRE", "{k}", 0),
    ("PEXPIREAT", "{k}", 1), ("SET", "{k}", "new"), ("SET", "{k}", "new", "KEEPTTL"), ("APPEND", "{k}", "more"),
    ("SETRANGE", "{k}", 2, "zz"), ("INCR", "{k}"), ("INCRBYFLOAT", "{k}", 1.5), ("SETBIT", "{k}", 100, 1),
    ("RPUSH", "{k}", "new"), ("LSET", "{k}", 0, "new"), ("LTRIM", "{k}", 0, 0), ("HSET", "{k}", "new", "v"),
    ("HINCRBY", "{k}", "f", 1), ("SADD", "{k}", "new"), ("SMOVE", "{k}", "{o}", 1), ("ZADD", "{k}", 9, "new"),
    ("ZINCRBY", "{k}", 1, "a"), ("EXPIRE", "{k}", 1000), ("PERSIST", "{k}"), ("RENAME", "{k}", "renamed"),
    ("RENAME", "{k}", "{o}"), ("MOVE", "{k}", 2), ("MOVE", "{k}", 1), ("COPY", "{k}", "{o}", "REPLACE"),
    ("SORT", "{k}", "ALPHA", "STORE", "{o}"), ("LMOVE", "{k}", "{o}", "LEFT", "RIGHT"),
    ("SINTERSTORE", "{o}", "{k}", "{k}"), ("ZUNIONSTORE", "{o}", 1, "{k}"), ("RESTORE", "{k}", 0, "dump", "REPLACE"),
]


@pytest.mark.parametrize("command", WRITES, ids=lambda c: " ".join(str(a) for a in c))
@pytest.mark.parametrize("steps", [0, 40, 150, 290])
def test_a_write_during_the_snapshot_never_reaches_the_file(h, command, steps):
    """The command goes to every key of database 0 (300 keys in 8 buckets: some written already,
    some in the bucket being written, some not reached) and of database 1 (not begun)."""
    fill(h.c, 300)
    fill(h.c, 40, db=1)
    dump = h.c("DUMP", "k1")
    h.start()
    h.steps(steps)
    for db, n in ((0, 300), (1, 40)):
        h.c("SELECT", db)
        for i in range(n):
            fields = {"{k}": f"k{i}", "{o}": f"k{(i + 7) % n}", "dump": dump}
            h.c(*[fields.get(a, a) if isinstance(a, str) else a for a in command])
    h.assert_file_is_the_start_dataset()


def test_keys_created_during_the_snapshot_are_not_in_it(h):
    fill(h.c, 100)
    h.start()
    h.steps(20)
    h.c("SET", "brand-new", "v")
    h.c("RPUSH", "new-list", "x")
    h.c("SELECT", 7)
    h.c("SET", "in-an-empty-db", "v")
    h.assert_file_is_the_start_dataset()


def test_a_key_deleted_and_created_again_is_in_it_once_with_its_start_value(h):
    fill(h.c, 100)
    h.start()
    for key in ("k0", "k1", "k50", "k99"):
        h.c("DEL", key)
        h.c("SET", key, "again")
        h.c("DEL", key)
        h.c("RPUSH", key, "again")
        h.steps(5)
    loaded = h.assert_file_is_the_start_dataset()
    keys = [e.key for e in RdbReader(io.BytesIO(h.out.getvalue())).entries()]
    assert len(keys) == len(set(keys)) == len(loaded.dbs[0].data)


def test_keys_expiring_lazily_or_actively_are_in_it_with_their_start_ttl(h):
    fill(h.c, 50)
    now = h.ks.now_ms
    for i in range(20):
        h.c("SET", f"short{i}", "v", "PXAT", now + 300)
    h.start()
    h.srv.advance(0.35)
    h.c("GET", "short0")  # lazily expired
    h.c("EXISTS", "short1")
    h.server.cron()  # the active cycle takes the rest
    assert h.c("DBSIZE") == 50
    h.assert_file_is_the_start_dataset()


def test_flushall_flushdb_and_swapdb_during_the_snapshot(h):
    fill(h.c, 80)
    fill(h.c, 80, db=1)
    fill(h.c, 80, db=2)
    h.start()
    h.steps(30)
    h.c("SWAPDB", 0, 2)
    h.c("SET", "k1", "after the swap")  # database 0 now holds what was database 2
    h.c("SELECT", 2)
    h.c("DEL", "k2")
    h.c("FLUSHDB")
    h.c("SELECT", 1)
    h.c("RPUSH", "k1", "x")
    h.steps(30)
    h.c("FLUSHALL")
    h.c("SET", "k3", "after flushall")
    h.assert_file_is_the_start_dataset()


def test_changes_to_databases_the_cursor_has_not_reached_keep_their_start_value(h):
    fill(h.c, 200)
    fill(h.c, 60, db=5)
    snapshot = h.start()
    h.steps(10)
    assert snapshot.current is not None and snapshot.current.dbid == 0
    h.c("SELECT", 5)
    for i in range(60):
        h.c("RPUSH", f"k{i}", "changed") if i % 6 == 1 else h.c("DEL", f"k{i}")
    assert h.c("DBSIZE") == 10
    h.assert_file_is_the_start_dataset()


def test_run_to_completion_finishes_at_once(h):
    fill(h.c, 100)
    snapshot = h.start()
    h.steps(5)
    h.c("DEL", "k7")
    snapshot.run_to_completion()
    assert snapshot.finished and h.done == [None]
    h.assert_file_is_the_start_dataset()


def test_without_delay_slices_stop_at_the_deadline(h, monkeypatch):
    fill(h.c, 3000)
    monkeypatch.setattr("emberkv.persistence.snapshot.SLICE_SECONDS", 0.0)
    h.start(key_delay_us=0)
    slices = 0
    while h.loop.step():
        slices += 1
    assert slices > 5  # a slice does one unit of work past its deadline, then yields
    assert dataset(load(h.out.getvalue())) == h.at_start


def test_writes_between_the_slices_of_a_fast_snapshot_never_reach_the_file(h, monkeypatch):
    """Without a delay, whole chunks of buckets go per slice: keys all over the keyspace (behind,
    at and ahead of the cursor) change between slices."""
    fill(h.c, 3000)
    monkeypatch.setattr("emberkv.persistence.snapshot.SLICE_SECONDS", 0.0)
    h.start(key_delay_us=0)
    turn = 0
    while h.loop.step():
        turn += 1
        for i in range(turn % 7, 3000, 97):
            h.c("DEL", f"k{i}") if turn % 2 else h.c("SET", f"k{i}", "changed", "EX", 100)
            h.c("RPUSH", f"k{i + 1}", "x")
    assert turn > 5
    assert h.done == [None]
    assert dataset(load(h.out.getvalue())) == h.at_start
    keys = [e.key for e in RdbReader(io.BytesIO(h.out.getvalue())).entries()]
    assert len(keys) == len(set(keys))


class FailingSink:
    def __init__(self, after: int) -> None:
        self.left = after

    def write(self, data: bytes) -> int:
        self.left -= len(data)
        if self.left < 0:
            raise OSError(28, "No space left on device")
        return len(data)


def test_a_failing_sink_ends_the_snapshot_with_the_error_and_unhooks_it(h, monkeypatch):
    fill(h.c, 2000)
    monkeypatch.setattr("emberkv.persistence.rdb.writer.FLUSH_AT", 256)
    snapshot = Snapshot(h.ks, h.loop, RdbWriter(FailingSink(5000)), {}, h.done.append, key_delay_us=0)
    snapshot.start()
    h.loop.run()
    assert len(h.done) == 1 and isinstance(h.done[0], OSError)
    assert h.ks.snapshot is None
    assert h.c("SET", "k0", "still writable") == b"OK"


def test_a_sink_failing_inside_the_hook_aborts_on_the_next_turn(h, monkeypatch):
    fill(h.c, 50)
    monkeypatch.setattr("emberkv.persistence.rdb.writer.FLUSH_AT", 1)
    sink = FailingSink(10**6)
    snapshot = Snapshot(h.ks, h.loop, RdbWriter(sink), {}, h.done.append, key_delay_us=1)
    snapshot.start()
    h.loop.step()
    sink.left = -1
    assert h.c("DEL", "k10", "k11", "k12") == 3  # the command itself is not failed
    h.loop.run()
    assert len(h.done) == 1 and isinstance(h.done[0], OSError)


class NullSink:
    def write(self, data: bytes) -> int:
        return len(data)


def test_extra_memory_of_an_idle_snapshot_is_a_few_pointers_per_key(h):
    data = h.ks.dbs[0].data
    for i in range(100_000):
        data[b"key:%d" % i] = b"value:%d" % i
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        snapshot = Snapshot(h.ks, h.loop, RdbWriter(NullSink()), {}, h.done.append)
        snapshot.start()
        h.loop.run()
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert h.done == [None]
    # The key list (8 bytes a key, sorted in place) and a 1 MB output buffer at most.
    assert peak < 100_000 * 10 + (1 << 21), peak


def test_extra_memory_while_keys_change_is_only_the_changed_keys(h):
    fill(h.c, 600)
    snapshot = h.start()
    h.steps(4)
    for i in range(0, 600, 3):
        h.c("DEL", f"k{i}")
    for i in range(1, 600, 3):
        h.c("EXISTS", f"k{i}")  # reads do not touch the snapshot
    state = snapshot.current
    assert state is not None and len(state.done_early) + len(state.created) <= 200 + 4
    h.c("SET", "new", "v")
    assert "new" not in state.done_early and b"new" in state.created
    h.assert_file_is_the_start_dataset()
