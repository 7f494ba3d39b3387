"""Helpers shared by the backup and SYNC tests: a dataset holding every type and encoding, and a way to
run ``emberkv backup`` the way a user does.

The dataset is loaded with RESTORE (payloads made by our own DUMP encoder), so it needs no data-type
commands and lands identically in emberkv and in Redis; Redis can additionally get a stream.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import redis

from emberkv.keyspace.values import HashValue, ListValue, SetValue, ZSetValue
from emberkv.persistence.rdb.dump import dump_payload

SRC = Path(__file__).resolve().parents[1] / "src"
FAR_FUTURE_MS = int(time.time() * 1000) + 86_400_000 * 30


def _zset(pairs: dict[bytes, float], big: bool = False) -> ZSetValue:
    z = ZSetValue()
    for member, score in pairs.items():
        z.add(member, score)
    z.big = big
    return z


def _big(value, flag: bool = True):
    value.big = flag
    return value


def every_type() -> list[tuple[int, bytes, object, bool]]:
    """(db, key, value, has_ttl) covering every type emberkv holds, compact and big encodings."""
    return [
        (0, b"s:short", b"hello", False),
        (0, b"s:int", b"12345", False),
        (0, b"s:neg", b"-5", False),
        (0, b"s:bigint", b"123456789012", False),
        (0, b"s:empty", b"", False),
        (0, b"s:binary\x00\xff", b"\x00\x01\xfe\xff", False),
        (0, b"s:lzf", b"abc" * 400, False),
        (0, b"s:ttl", b"expiring", True),
        (0, b"l:small", ListValue([b"a", b"b", b"1", b""]), False),
        (0, b"l:big", ListValue(b"element-%d" % i * 3 for i in range(1500)), False),
        (0, b"set:ints", SetValue({b"1", b"2", b"3", b"70000"}), False),
        (0, b"set:strs", _big(SetValue({b"a", b"b", b"c"})), False),
        (0, b"set:big", _big(SetValue(b"m%d" % i for i in range(700))), False),
        (0, b"h:small", HashValue({b"f1": b"v1", b"f2": b"2"}), False),
        (0, b"h:big", _big(HashValue({b"f%d" % i: b"v%d" % i for i in range(600)})), True),
        (0, b"z:small", _zset({b"a": 1.0, b"b": 2.5, b"c": -3.0, b"inf": float("inf")}), False),
        (0, b"z:big", _zset({b"m%d" % i: i / 3 for i in range(300)}, big=True), False),
        (2, b"k", b"in db 2", False),
        (2, b"h", HashValue({b"x": b"y"}), True),
        (15, b"last", ListValue([b"db15"]), False),
    ]


def populate(client: redis.Redis, with_stream: bool = False) -> None:
    """Load every_type() into the server behind client (and a stream when it is a real Redis)."""
    for db, key, value, ttl in every_type():
        client.execute_command("SELECT", db)
        client.execute_command("RESTORE", key, FAR_FUTURE_MS if ttl else 0, dump_payload(value), "ABSTTL", "REPLACE")
    client.execute_command("SELECT", 0)
    if with_stream:
        client.xadd("stream", {"name": "alice", "age": 30}, id="1-1")
        client.xadd("stream", {"name": "bob", "age": 40}, id="1-2")
        client.xadd("stream", {"other": "field"}, id="2-0")
        client.xdel("stream", "1-2")
        client.xgroup_create("stream", "group", id="0")
        client.xreadgroup("group", "consumer", {"stream": ">"}, count=1)


def digest(client: redis.Redis) -> bytes:
    return client.execute_command("DEBUG", "DIGEST")


def cli_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(SRC) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 120,
            preexec_fn=None) -> subprocess.CompletedProcess:
    """``emberkv backup ARGS`` in a child process, as a user runs it (text output captured)."""
    return subprocess.run([sys.executable, "-m", "emberkv.cli.main", "backup", *args], capture_output=True,
                          text=True, env=env or cli_env(), timeout=timeout, preexec_fn=preexec_fn)
