"""What the AOF logs: effects, not requests (spec §3.5). One test per rewritten command checks the exact
argv written, with the clock frozen so absolute times are known; then the framing rules (SELECT when
the database changes, MULTI/EXEC around transactions with two or more writes, nothing for commands
that changed nothing, DEL for expired keys, #TS annotations)."""

from __future__ import annotations

import pytest

from emberkv.commands import transactions
from emberkv.commands.table import COMMANDS
from emberkv.server import dispatch
from tests.aof_support import AofServer, incr_commands

NOW = 1_795_211_431_000  # ms, frozen for every command


@pytest.fixture
def aof(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(dispatch, "_time", lambda: NOW / 1000)
    monkeypatch.setattr(transactions, "wall_ms", lambda: NOW)
    h = AofServer("--appendfsync", "always")
    assert h.started
    yield h
    h.close()


def needs(*names: str) -> None:
    missing = [n for n in names if n.encode() not in COMMANDS]
    if missing:
        pytest.skip(f"{', '.join(missing)} not implemented in this tree yet")


def logged(h: AofServer, setup: list[tuple], command: tuple) -> list[list[bytes]]:
    """What running ``command`` (after ``setup``) appended to the log, SELECT aside."""
    c = h.client()
    for args in setup:
        reply = c(*args)
        assert not isinstance(reply, Exception), (args, reply)
    before = len(incr_commands())
    reply = c(*command)
    assert not isinstance(reply, Exception), (command, reply)
    return [argv for argv in incr_commands()[before:] if argv[0] != b"SELECT"]


def ms(offset: int) -> bytes:
    return b"%d" % (NOW + offset)


@pytest.mark.parametrize("setup, command, expected", [
    ([], ("SET", "k", "v", "EX", "100"), [[b"SET", b"k", b"v", b"PXAT", ms(100_000)]]),
    ([], ("SET", "k", "v", "PX", "100", "NX"), [[b"SET", b"k", b"v", b"PXAT", ms(100)]]),
    ([("SET", "k", "old")], ("SET", "k", "v", "EXAT", "2000000000", "GET"),
     [[b"SET", b"k", b"v", b"PXAT", b"2000000000000"]]),
    ([], ("SET", "k", "v", "PXAT", "4102444800000", "XX"), []),
    ([("SET", "k", "old")], ("SET", "k", "v", "GET"), [[b"SET", b"k", b"v"]]),
    ([("SET", "k", "old", "EX", "10")], ("SET", "k", "v", "KEEPTTL"), [[b"SET", b"k", b"v", b"KEEPTTL"]]),
    ([], ("set", "k", "v"), [[b"set", b"k", b"v"]]),
])
def test_set_with_a_relative_expiry_is_logged_with_an_absolute_one(aof, setup, command, expected):
    assert logged(aof, setup, command) == expected


@pytest.mark.parametrize("setup, command, expected", [
    ([], ("SETEX", "k", "100", "v"), [[b"SET", b"k", b"v", b"PXAT", ms(100_000)]]),
    ([], ("PSETEX", "k", "100", "v"), [[b"SET", b"k", b"v", b"PXAT", ms(100)]]),
    ([("SET", "k", "old")], ("GETSET", "k", "v"), [[b"SET", b"k", b"v"]]),
    ([("SET", "k", "v")], ("GETEX", "k", "EX", "100"), [[b"PEXPIREAT", b"k", ms(100_000)]]),
    ([("SET", "k", "v")], ("GETEX", "k", "PXAT", "4102444800000"), [[b"PEXPIREAT", b"k", b"4102444800000"]]),
    ([("SET", "k", "v", "EX", "100")], ("GETEX", "k", "PERSIST"), [[b"PERSIST", b"k"]]),
    ([("SET", "k", "v")], ("GETEX", "k", "PERSIST"), []),
    ([("SET", "k", "v")], ("GETEX", "k"), []),
    ([("SET", "k", "v")], ("GETDEL", "k"), [[b"DEL", b"k"]]),
    ([], ("GETDEL", "k"), []),
    ([("SET", "k", "1")], ("INCRBYFLOAT", "k", "1.5"), [[b"SET", b"k", b"2.5", b"KEEPTTL"]]),
])
def test_string_commands_are_logged_as_their_effect(aof, setup, command, expected):
    needs(command[0].lower())
    assert logged(aof, setup, command) == expected


@pytest.mark.parametrize("setup, command, expected", [
    ([("SET", "k", "v")], ("EXPIRE", "k", "100"), [[b"PEXPIREAT", b"k", ms(100_000)]]),
    ([("SET", "k", "v")], ("PEXPIRE", "k", "100"), [[b"PEXPIREAT", b"k", ms(100)]]),
    ([("SET", "k", "v")], ("EXPIREAT", "k", "4102444800"), [[b"PEXPIREAT", b"k", b"4102444800000"]]),
    ([("SET", "k", "v")], ("EXPIRE", "k", "100", "GT"), []),
    ([("SET", "k", "v", "EX", "10")], ("EXPIRE", "k", "100", "GT"), [[b"PEXPIREAT", b"k", ms(100_000), b"GT"]]),
    ([("SET", "k", "v", "EX", "10")], ("EXPIRE", "k", "100", "NX"), []),
    ([("SET", "k", "v")], ("EXPIRE", "k", "-1"), [[b"DEL", b"k"]]),
    ([], ("EXPIRE", "k", "100"), []),
    ([("SET", "k", "v", "EX", "10")], ("PERSIST", "k"), [[b"PERSIST", b"k"]]),
])
def test_expire_family_is_logged_as_pexpireat_or_del(aof, setup, command, expected):
    assert logged(aof, setup, command) == expected


def test_restore_with_a_ttl_is_logged_with_an_absolute_ttl(aof):
    c = aof.client()
    c("SET", "src", "hello")
    payload = c("DUMP", "src")
    assert logged(aof, [], ("RESTORE", "k", "5000", payload)) == [
        [b"RESTORE", b"k", ms(5000), payload, b"ABSTTL"]]


def test_zset_pops_are_logged_as_zpop(aof):
    needs("zadd", "bzpopmin", "zmpop")
    setup = [("ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d")]
    assert logged(aof, setup, ("BZPOPMIN", "z", "0")) == [[b"ZPOPMIN", b"z"]]
    assert logged(aof, [], ("BZPOPMAX", "z", "0")) == [[b"ZPOPMAX", b"z"]]
    assert logged(aof, [], ("ZMPOP", "1", "z", "MIN", "COUNT", "5")) == [[b"ZPOPMIN", b"z", b"2"]]


def test_list_pops_and_moves_are_logged_without_blocking(aof):
    needs("rpush", "blpop", "brpop", "lmpop", "blmove", "brpoplpush")
    setup = [("RPUSH", "l", "a", "b", "c", "d", "e")]
    assert logged(aof, setup, ("BLPOP", "l", "0")) == [[b"LPOP", b"l"]]
    assert logged(aof, [], ("BRPOP", "l", "0")) == [[b"RPOP", b"l"]]
    assert logged(aof, [], ("LMPOP", "1", "l", "LEFT", "COUNT", "1")) == [[b"LPOP", b"l", b"1"]]
    assert logged(aof, [], ("BLMOVE", "l", "m", "LEFT", "RIGHT", "0")) == [[b"LMOVE", b"l", b"m", b"LEFT", b"RIGHT"]]
    assert logged(aof, [], ("BRPOPLPUSH", "l", "m", "0")) == [[b"RPOPLPUSH", b"l", b"m"]]


def test_a_waiter_served_later_is_logged_as_the_pop_it_did(aof):
    needs("rpush", "blpop")
    waiter, pusher = aof.client(), aof.client()
    before = len(incr_commands())
    waiter.send("BLPOP", "q", "0")
    aof.turn()
    assert waiter.replies() == []
    assert pusher("RPUSH", "q", "x") == 1
    aof.turn()
    assert waiter.replies() == [[b"q", b"x"]]
    assert [a for a in incr_commands()[before:] if a[0] != b"SELECT"] == [[b"RPUSH", b"q", b"x"], [b"LPOP", b"q"]]


def test_spop_is_logged_as_srem(aof):
    needs("sadd", "spop")
    one = logged(aof, [("SADD", "s", "x", "y", "z")], ("SPOP", "s"))
    assert len(one) == 1 and one[0][:2] == [b"SREM", b"s"]
    two = logged(aof, [], ("SPOP", "s", "1"))
    assert len(two) == 1 and two[0][:2] == [b"SREM", b"s"]
    everything = logged(aof, [("SADD", "t", "1", "2", "3")], ("SPOP", "t", "10"))
    assert everything == [[b"DEL", b"t"]]
    several = logged(aof, [("SADD", "u", "1", "2", "3", "4")], ("SPOP", "u", "2"))
    assert [a[0] for a in several] == [b"MULTI", b"SREM", b"SREM", b"EXEC"]


def test_hincrbyfloat_is_logged_as_hset_with_the_new_value(aof):
    needs("hset", "hincrbyfloat")
    assert logged(aof, [("HSET", "h", "x", "1")], ("HINCRBYFLOAT", "h", "x", "0.25")) == [
        [b"HSET", b"h", b"x", b"1.25"]]


def test_commands_that_change_nothing_are_not_logged(aof):
    assert logged(aof, [], ("DEL", "missing")) == []
    assert logged(aof, [("SET", "k", "v")], ("GET", "k")) == []
    assert logged(aof, [], ("SET", "k", "v", "NX")) == []


def test_flushall_is_logged_even_when_nothing_was_deleted(aof):
    assert logged(aof, [], ("FLUSHALL",)) == [[b"FLUSHALL"]]


def test_a_transaction_with_two_writes_is_wrapped_in_multi_exec(aof):
    c = aof.client()
    before = len(incr_commands())
    for args in (("MULTI",), ("SET", "a", "1"), ("GET", "a"), ("SET", "b", "2"), ("EXEC",)):
        c(*args)
    assert incr_commands()[before:] == [[b"SELECT", b"0"], [b"MULTI"], [b"SET", b"a", b"1"],
                                        [b"SET", b"b", b"2"], [b"EXEC"]]


def test_a_transaction_with_one_write_is_logged_bare_and_a_read_only_one_not_at_all(aof):
    c = aof.client()
    for args in (("MULTI",), ("SET", "one", "1"), ("GET", "one"), ("EXEC",)):
        c(*args)
    for args in (("MULTI",), ("GET", "one"), ("EXEC",)):
        c(*args)
    assert incr_commands() == [[b"SELECT", b"0"], [b"SET", b"one", b"1"]]


def test_select_is_logged_when_the_database_changes_also_inside_multi(aof):
    c = aof.client()
    for args in (("SET", "a", "1"), ("SELECT", "2"), ("SET", "b", "2"), ("SET", "c", "3"),
                 ("MULTI",), ("SET", "d", "4"), ("SELECT", "0"), ("SET", "e", "5"), ("EXEC",)):
        c(*args)
    assert incr_commands() == [
        [b"SELECT", b"0"], [b"SET", b"a", b"1"], [b"SELECT", b"2"], [b"SET", b"b", b"2"],
        [b"SET", b"c", b"3"], [b"MULTI"], [b"SET", b"d", b"4"], [b"SELECT", b"0"], [b"SET", b"e", b"5"],
        [b"EXEC"]]


def test_a_key_that_expired_is_logged_as_del(aof, monkeypatch):
    c = aof.client()
    c("SET", "tmp", "v", "PX", "100")
    monkeypatch.setattr(dispatch, "_time", lambda: (NOW + 500) / 1000)
    assert c("GET", "tmp") is None
    assert incr_commands()[-2:] == [[b"SET", b"tmp", b"v", b"PXAT", ms(100)], [b"DEL", b"tmp"]]


def test_timestamps_annotate_the_log_once_per_second(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    clock = [1_795_211_336.2]
    monkeypatch.setattr("emberkv.persistence.aof.writer.time.time", lambda: clock[0])
    h = AofServer("--aof-timestamp-enabled", "yes")
    try:
        c = h.client()
        c("SET", "ts", "1")
        c("SET", "ts2", "2")
        clock[0] += 1
        c("SET", "ts3", "3")
        data = (tmp_path / "appendonlydir" / "appendonly.aof.1.incr.aof").read_bytes()
        assert data.startswith(b"#TS:1795211336\r\n*2\r\n$6\r\nSELECT")
        assert data.count(b"#TS:") == 2
        assert b"#TS:1795211337\r\n*3\r\n$3\r\nSET\r\n$3\r\nts3" in data
    finally:
        h.close()


@pytest.mark.parametrize("setup, command, expected", [
    ([("SET", "b", "1")], ("RENAME", "b", "a"), [[b"RENAME", b"b", b"a"]]),
    ([("SET", "b", "1"), ("SET", "a", "2")], ("RENAME", "b", "a"), [[b"RENAME", b"b", b"a"]]),
    ([("SET", "b", "1", "EX", "100")], ("RENAME", "b", "a"), [[b"RENAME", b"b", b"a"]]),
    ([("SET", "b", "1")], ("RENAMENX", "b", "a"), [[b"RENAMENX", b"b", b"a"]]),
    ([("SET", "b", "1"), ("SET", "a", "2")], ("RENAMENX", "b", "a"), []),
])
def test_rename_is_logged_whether_or_not_the_target_existed(aof, setup, command, expected):
    assert logged(aof, setup, command) == expected
