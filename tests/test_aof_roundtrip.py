"""Property: whatever writes run, the AOF reproduces the dataset. Random command sequences (every data
type, transactions, databases, TTLs, random pops) run on a server with the AOF on, sometimes with a
rewrite in the middle; loading the files back (DEBUG LOADAOF) must give the same DEBUG DIGEST. This
checks every command's logged effects, not only the ones the propagation tests name."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import emberkv.commands  # noqa: F401  (registers the command table)
from emberkv.commands.table import COMMANDS
from tests.aof_support import AofServer

KEYS = ["a", "b", "c", "l", "s", "h", "z"]
VALUES = ["1", "2", "-7", "x", "hello", "3.5", "", "0"]

TEMPLATES = [
    ("SET", "k", "v"), ("SET", "k", "v", "EX", "1000"), ("SET", "k", "v", "PX", "100000", "NX"),
    ("SET", "k", "v", "GET"), ("SETEX", "k", "1000", "v"), ("GETSET", "k", "v"), ("GETDEL", "k"),
    ("GETEX", "k", "EX", "1000"), ("GETEX", "k", "PERSIST"), ("APPEND", "k", "v"), ("INCR", "k"),
    ("INCRBY", "k", "v"), ("DECR", "k"), ("INCRBYFLOAT", "k", "v"), ("SETRANGE", "k", "2", "v"),
    ("DEL", "k"), ("UNLINK", "k"), ("EXPIRE", "k", "1000"), ("EXPIRE", "k", "-1"), ("PEXPIREAT", "k", "1"),
    ("PERSIST", "k"), ("RENAME", "k", "k2"), ("COPY", "k", "k2"), ("MOVE", "k", "1"),
    ("LPUSH", "k", "v", "v"), ("RPUSH", "k", "v"), ("LPOP", "k"), ("RPOP", "k", "2"), ("LSET", "k", "0", "v"),
    ("LINSERT", "k", "BEFORE", "v", "v"), ("LREM", "k", "0", "v"), ("LTRIM", "k", "1", "-1"),
    ("LMOVE", "k", "k2", "LEFT", "RIGHT"), ("BLPOP", "k", "0.01"), ("LMPOP", "1", "k", "RIGHT", "COUNT", "2"),
    ("SADD", "k", "v", "v"), ("SREM", "k", "v"), ("SPOP", "k"), ("SPOP", "k", "2"), ("SMOVE", "k", "k2", "v"),
    ("SINTERSTORE", "k2", "k", "k"), ("HSET", "k", "v", "v"), ("HDEL", "k", "v"), ("HINCRBY", "k", "v", "3"),
    ("HINCRBYFLOAT", "k", "v", "1.5"), ("HSETNX", "k", "v", "v"), ("ZADD", "k", "1", "v"),
    ("ZADD", "k", "INCR", "2.5", "v"), ("ZINCRBY", "k", "1", "v"), ("ZREM", "k", "v"), ("ZPOPMIN", "k"),
    ("ZPOPMAX", "k", "2"), ("BZPOPMIN", "k", "0.01"), ("ZREMRANGEBYRANK", "k", "0", "0"),
    ("ZUNIONSTORE", "k2", "2", "k", "k"), ("SELECT", "1"), ("SELECT", "0"), ("SWAPDB", "0", "1"),
    ("FLUSHDB",), ("MULTI",), ("EXEC",), ("DISCARD",),
]


def available(template: tuple) -> bool:
    return template[0].lower().encode() in COMMANDS


def command() -> st.SearchStrategy:
    templates = [t for t in TEMPLATES if available(t)]

    def fill(template, key, key2, value):
        return [key if a == "k" else key2 if a == "k2" else value if a == "v" else a for a in template]

    return st.builds(fill, st.sampled_from(templates), st.sampled_from(KEYS), st.sampled_from(KEYS),
                     st.sampled_from(VALUES))


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    import os

    cwd = os.getcwd()
    os.chdir(tmp_path_factory.mktemp("aof-roundtrip"))
    h = AofServer(loglevel="warning")
    yield h
    h.close()
    os.chdir(cwd)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(commands=st.lists(command(), min_size=1, max_size=40), rewrite_at=st.integers(min_value=-1, max_value=40))
def test_loading_the_aof_gives_back_the_dataset(server, commands, rewrite_at):
    c = server.client()
    c("FLUSHALL")
    for i, argv in enumerate(commands):
        if i == rewrite_at:
            c("BGREWRITEAOF")
        c(*argv)
    c("EXEC")  # closes a transaction left open (an error reply otherwise, which is fine)
    server.wait(lambda: not server.aof.rewriting)
    before = c("DEBUG", "DIGEST")
    assert c("DEBUG", "LOADAOF") == b"OK"
    assert c("DEBUG", "DIGEST") == before, commands
