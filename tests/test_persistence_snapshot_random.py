"""The snapshot engine under random interleavings: random writes of every kind (including RENAME, MOVE,
SWAPDB, FLUSHDB/FLUSHALL) between random numbers of engine steps, a key per step or a bucket per
step; the file must always hold the dataset as it was at the start (see test_persistence_snapshot)."""

from __future__ import annotations

from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emberkv.persistence import snapshot as snapshot_module
from tests.test_persistence_snapshot import Harness

KEYS = [f"k{i}" for i in range(40)]
key = st.sampled_from(KEYS)
small = st.integers(-3, 3)
member = st.sampled_from(["a", "b", "c", "1", "2", "x" * 70])
COMMANDS = st.one_of(
    st.tuples(st.just("SET"), key, st.sampled_from(["v", "1", "x" * 50])),
    st.tuples(st.just("SET"), key, st.just("w"), st.just("KEEPTTL")),
    st.tuples(st.sampled_from(["DEL", "INCR", "PERSIST", "GETDEL", "LPOP", "SPOP"]), key),
    st.tuples(st.just("APPEND"), key, member),
    st.tuples(st.just("EXPIRE"), key, st.sampled_from([0, 100, 10**6])),
    st.tuples(st.sampled_from(["RPUSH", "SADD", "SREM", "LREM"] ), key, member).map(
        lambda t: t if t[0] != "LREM" else ("LREM", t[1], 0, t[2])),
    st.tuples(st.just("HSET"), key, member, member),
    st.tuples(st.just("HDEL"), key, member),
    st.tuples(st.just("ZADD"), key, small, member),
    st.tuples(st.just("ZREM"), key, member),
    st.tuples(st.sampled_from(["RENAME", "COPY", "SMOVE", "LMOVE"]), key, key).map(
        lambda t: t + (("LEFT", "RIGHT") if t[0] == "LMOVE" else ("a",) if t[0] == "SMOVE" else ())),
    st.tuples(st.just("MOVE"), key, st.integers(0, 2)),
    st.tuples(st.just("SELECT"), st.integers(0, 2)),
    st.tuples(st.just("SWAPDB"), st.integers(0, 2), st.integers(0, 2)),
    st.tuples(st.sampled_from(["FLUSHDB", "FLUSHALL"])),
)
OPS = st.lists(st.one_of(COMMANDS, st.tuples(st.just("STEP"), st.integers(1, 40))), max_size=80)
SETUP = st.lists(COMMANDS, min_size=5, max_size=60)


@pytest.mark.parametrize("mode", ["a key per step", "a bucket per step"])
@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(setup=SETUP, ops=OPS)
def test_random_writes_interleaved_with_the_cursor_never_reach_the_file(mode, setup, ops):
    """Databases 0 and 1 hold 150 keys each (4 buckets): the random keys k0..k39 sit in every
    bucket, so the writes land behind, at and ahead of the cursor. Without a delay, a step is made
    to write exactly one bucket."""
    h = Harness()
    try:
        for db in (0, 1):
            h.c("SELECT", db)
            for i in range(150):
                h.c("SET", f"k{i}", i) if i % 3 else h.c("RPUSH", f"k{i}", i, "x")
        h.c("SELECT", 0)
        for command in setup:
            if command[0] not in ("FLUSHDB", "FLUSHALL"):
                h.c(*command)
        h.c("SELECT", 0)
        with mock.patch.multiple(snapshot_module, SLICE_SECONDS=0.0, CHUNK_SECONDS=0.0,
                                 FIRST_CHUNK=1):
            h.start(key_delay_us=1 if mode == "a key per step" else 0)
            for op in ops:
                if op[0] == "STEP":
                    h.steps(op[1])
                else:
                    h.c(*op)
            h.assert_file_is_the_start_dataset()
    finally:
        h.close()
