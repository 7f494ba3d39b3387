"""The AOF load's short paths: SET, INCR, LPUSH and RPUSH applied inline leave the dataset exactly as
their handlers leave it (edge cases included: wrong types, non-integers, overflow, TTLs, transactions,
databases), and a command bigger than many reads is read in a few growing pieces."""

from __future__ import annotations

import pytest

from emberkv.keyspace.values import ListValue
from emberkv.persistence.aof import format as aof_format
from emberkv.persistence.aof.format import encode_command
from tests.aof_support import AofServer, resp, write_aof_dir
from tests.inproc import InProcessServer

FAR = b"%d" % (4_000_000_000_000)  # an absolute expire time in ms, far in the future

COUNTERS = [
    [b"SET", b"c", b"998"], [b"INCR", b"c"], [b"INCR", b"c"], [b"INCR", b"c"], [b"INCR", b"c"],
    [b"INCR", b"new"], [b"incr", b"new"], [b"SET", b"neg", b"-5"], [b"INCR", b"neg"],
    [b"SET", b"lead", b"007"], [b"INCR", b"lead"], [b"SET", b"s", b"abc"], [b"INCR", b"s"],
    [b"SET", b"big", b"9223372036854775806"], [b"INCR", b"big"], [b"INCR", b"big"],
    [b"RPUSH", b"l", b"a"], [b"INCR", b"l"], [b"APPEND", b"r", b"41"], [b"INCR", b"r"],
    [b"SET", b"t", b"5"], [b"PEXPIREAT", b"t", FAR], [b"INCR", b"t"],
]
STRINGS = [
    [b"SET", b"a", b"1"], [b"SET", b"a", b"2"], [b"RPUSH", b"l", b"x"], [b"SET", b"l", b"now a string"],
    [b"PEXPIREAT", b"a", FAR], [b"SET", b"a", b"3"], [b"SET", b"k", b"v", b"PXAT", FAR],
    [b"set", b"lower", b"case"], [b"SET", b"empty", b""],
]
LISTS = [
    [b"LPUSH", b"l", b"a"], [b"LPUSH", b"l", b"b", b"c"], [b"RPUSH", b"l", b"d"], [b"RPUSH", b"l", b"e", b"f"],
    [b"SET", b"s", b"x"], [b"LPUSH", b"s", b"y"], [b"RPUSH", b"s", b"z", b"w"], [b"lpush", b"m", b"1"],
    [b"rpush", b"m", b"2"], [b"PEXPIREAT", b"m", FAR], [b"LPUSH", b"m", b"0"],
]
TRANSACTIONS = [
    [b"SET", b"a", b"1"], [b"MULTI"], [b"SET", b"a", b"5"], [b"INCR", b"a"], [b"LPUSH", b"l", b"x"],
    [b"RPUSH", b"l", b"y"], [b"EXEC"], [b"INCR", b"a"], [b"SELECT", b"1"], [b"SET", b"a", b"in db 1"],
    [b"INCR", b"n"], [b"LPUSH", b"l", b"1"], [b"SELECT", b"0"], [b"INCR", b"n"],
]


def snapshot(server) -> dict:
    """Every key of every database: its type, its contents and its expire time."""
    out = {}
    for db in server.keyspace.dbs:
        for key, value in db.data.items():
            contents = list(value) if type(value) is ListValue else bytes(value)
            out[(db.id, key)] = (type(value).__name__, contents, db.expires.get(key))
    return out


def through_handlers(commands: list[list[bytes]]) -> dict:
    srv = InProcessServer()
    try:
        c = srv.client()
        for argv in commands:
            c(*argv)
        return snapshot(srv.server)
    finally:
        srv.close()


def through_load(tmp_path, monkeypatch, commands: list[list[bytes]]) -> dict:
    monkeypatch.chdir(tmp_path)
    write_aof_dir(tmp_path, resp([b"SELECT", b"0"], *commands))
    h = AofServer(loglevel="warning")
    try:
        assert h.started
        return snapshot(h.server)
    finally:
        h.close()


@pytest.mark.parametrize("commands", [COUNTERS, STRINGS, LISTS, TRANSACTIONS],
                         ids=["counters", "strings", "lists", "transactions"])
def test_loading_leaves_the_dataset_the_handlers_leave(tmp_path, monkeypatch, commands):
    expected = through_handlers(commands)
    assert through_load(tmp_path, monkeypatch, commands) == expected


def test_counters_past_the_small_number_table_go_on_counting(tmp_path, monkeypatch):
    commands = [[b"INCR", b"c"]] * 1050
    got = through_load(tmp_path, monkeypatch, commands)
    assert got[(0, b"c")] == ("bytes", b"1050", None)


def test_a_command_bigger_than_many_reads_is_read_in_a_few_growing_pieces(tmp_path, monkeypatch):
    feeds = []
    original = aof_format.AofReader.feed

    def counting_feed(self, data):
        feeds.append(len(data))
        original(self, data)

    monkeypatch.setattr(aof_format.AofReader, "feed", counting_feed)
    value = bytes(range(256)) * 16384  # 4 MB, 256 reads of the usual size
    commands = [[b"SET", b"big", value], [b"RPUSH", b"l", value[:100], value]]
    torn = encode_command([b"SET", b"torn", value])[:-1000]
    monkeypatch.chdir(tmp_path)
    write_aof_dir(tmp_path, resp([b"SELECT", b"0"], *commands) + torn)
    h = AofServer(loglevel="warning")
    try:
        assert h.started
        data = h.server.keyspace.dbs[0].data
        assert data[b"big"] == value and list(data[b"l"]) == [value[:100], value] and b"torn" not in data
    finally:
        h.close()
    assert len(feeds) < 40
    incr = tmp_path / "appendonlydir" / "appendonly.aof.1.incr.aof"
    assert incr.stat().st_size == len(resp([b"SELECT", b"0"], *commands))  # the torn tail was cut off
