"""Keyspace, expiry and OBJECT commands through the real dispatcher (in-process)."""

from __future__ import annotations

import time

import pytest

from tests.inproc import InProcessServer, err


@pytest.fixture
def c():
    srv = InProcessServer()
    yield srv.client()
    srv.close()


def test_del_counts_only_existing_keys(c):
    c("DEBUG", "POPULATE", "3")
    assert c("DEL", "key:0", "key:1", "nope") == 2
    assert c("EXISTS", "key:0", "key:2", "key:2") == 2


def test_type_of_missing_and_string_keys(c):
    c("DEBUG", "POPULATE", "1")
    assert c("TYPE", "key:0") == b"string"
    assert c("TYPE", "missing") == b"none"


def test_rename_moves_value_and_ttl(c):
    c("DEBUG", "POPULATE", "1")
    c("PEXPIREAT", "key:0", str(int(time.time() * 1000) + 100_000))
    when = c("PEXPIRETIME", "key:0")
    assert c("RENAME", "key:0", "dst") == b"OK"
    assert c("EXISTS", "key:0") == 0
    assert c("PEXPIRETIME", "dst") == when


def test_rename_missing_key_errors(c):
    assert err(c("RENAME", "nope", "x")) == "ERR no such key"


def test_renamenx_refuses_existing_target(c):
    c("DEBUG", "POPULATE", "2")
    assert c("RENAMENX", "key:0", "key:1") == 0
    assert c("RENAMENX", "key:0", "new") == 1


def test_move_between_databases(c):
    c("DEBUG", "POPULATE", "1")
    assert c("MOVE", "key:0", "1") == 1
    assert c("EXISTS", "key:0") == 0
    assert c("SELECT", "1") == b"OK"
    assert c("EXISTS", "key:0") == 1
    assert err(c("MOVE", "key:0", "1")) == "ERR source and destination objects are the same"
    assert err(c("MOVE", "key:0", "99")) == "ERR DB index is out of range"


def test_copy_with_db_and_replace(c):
    c("DEBUG", "POPULATE", "2")
    assert c("COPY", "key:0", "key:1") == 0
    assert c("COPY", "key:0", "key:1", "REPLACE") == 1
    assert c("COPY", "key:0", "other", "DB", "2") == 1
    assert err(c("COPY", "key:0", "key:0")) == "ERR source and destination objects are the same"
    assert err(c("COPY", "key:0", "x", "BOGUS")) == "ERR syntax error"


def test_keys_and_scan_return_every_key(c):
    c("DEBUG", "POPULATE", "1000")
    assert len(c("KEYS", "*")) == 1000
    assert sorted(c("KEYS", "key:99?")) == sorted(b"key:99%d" % i for i in range(10))
    seen, cursor = set(), b"0"
    while True:
        cursor, batch = c("SCAN", cursor, "COUNT", "37")
        seen.update(batch)
        if cursor == b"0":
            break
    assert len(seen) == 1000


def test_scan_returns_keys_present_for_the_whole_scan_despite_writes(c):
    c("DEBUG", "POPULATE", "500")
    seen, cursor, step = set(), b"0", 0
    while True:
        cursor, batch = c("SCAN", cursor, "COUNT", "20")
        seen.update(batch)
        step += 1
        c("SET", f"new:{step}", "x")  # insertions during the scan
        c("DEL", f"key:{400 + step}")  # deletions during the scan
        if cursor == b"0":
            break
    survivors = {b"key:%d" % i for i in range(500)} - {b"key:%d" % (400 + s) for s in range(1, step + 1)}
    assert survivors <= seen


def test_scan_match_type_and_errors(c):
    c("DEBUG", "POPULATE", "20")
    cursor, batch = c("SCAN", "0", "MATCH", "key:1*", "COUNT", "1000", "TYPE", "string")
    assert cursor == b"0" and len(batch) == 11
    assert err(c("SCAN", "x")) == "ERR invalid cursor"
    assert err(c("SCAN", "0", "COUNT", "0")) == "ERR syntax error"
    assert err(c("SCAN", "0", "MATCH")) == "ERR syntax error"


def test_expire_options_and_ttl(c):
    c("DEBUG", "POPULATE", "1")
    assert c("TTL", "key:0") == -1
    assert c("EXPIRE", "key:0", "100", "XX") == 0
    assert c("EXPIRE", "key:0", "100", "NX") == 1
    assert c("EXPIRE", "key:0", "50", "GT") == 0
    assert c("EXPIRE", "key:0", "200", "GT") == 1
    assert c("EXPIRE", "key:0", "300", "LT") == 0
    assert c("TTL", "key:0") == 200
    assert c("PERSIST", "key:0") == 1
    assert c("EXPIRE", "key:0", "10", "LT") == 1  # no TTL counts as infinite for LT
    assert c("TTL", "missing") == -2


def test_expire_errors_match_redis(c):
    c("DEBUG", "POPULATE", "1")
    assert err(c("EXPIRE", "key:0", "10", "NX", "XX")) == (
        "ERR NX and XX, GT or LT options at the same time are not compatible")
    assert err(c("EXPIRE", "key:0", "10", "GT", "LT")) == "ERR GT and LT options at the same time are not compatible"
    assert err(c("EXPIRE", "key:0", "10", "FOO")) == "ERR Unsupported option FOO"
    assert err(c("EXPIRE", "key:0", "9223372036854775807")) == "ERR invalid expire time in 'expire' command"
    assert err(c("PEXPIRE", "key:0", "9223372036854775807")) == "ERR invalid expire time in 'pexpire' command"
    assert err(c("EXPIRE", "key:0", "abc")) == "ERR value is not an integer or out of range"


def test_expire_in_the_past_deletes_the_key(c):
    c("DEBUG", "POPULATE", "1")
    assert c("EXPIRE", "key:0", "-1") == 1
    assert c("EXISTS", "key:0") == 0


def test_expired_key_is_gone_on_access(c):
    c("DEBUG", "POPULATE", "1")
    c("PEXPIRE", "key:0", "1")
    time.sleep(0.01)
    assert c("EXISTS", "key:0") == 0
    assert c("DBSIZE") == 0


def test_object_encoding_for_strings(c):
    c("DEBUG", "POPULATE", "1", "k", "60")
    assert c("OBJECT", "ENCODING", "k:0") == b"raw"
    c("DEBUG", "POPULATE", "1", "s")
    assert c("OBJECT", "ENCODING", "s:0") == b"embstr"
    assert c("OBJECT", "ENCODING", "missing") is None
    assert err(c("OBJECT", "FOO")) == "ERR unknown subcommand 'FOO'. Try OBJECT HELP."


def test_flushall_and_flushdb(c):
    c("DEBUG", "POPULATE", "5")
    c("SELECT", "1")
    c("DEBUG", "POPULATE", "5")
    assert c("FLUSHDB") == b"OK"
    assert c("DBSIZE") == 0
    c("SELECT", "0")
    assert c("DBSIZE") == 5
    assert c("FLUSHALL", "ASYNC") == b"OK"
    assert c("DBSIZE") == 0
    assert err(c("FLUSHALL", "x")) == "ERR syntax error"


def test_swapdb(c):
    c("DEBUG", "POPULATE", "3")
    assert c("SWAPDB", "0", "1") == b"OK"
    assert c("DBSIZE") == 0
    assert err(c("SWAPDB", "0", "16")) == "ERR DB index is out of range"
    assert err(c("SWAPDB", "a", "1")) == "ERR invalid first DB index"
