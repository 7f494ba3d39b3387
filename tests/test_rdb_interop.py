"""Files move both ways between emberkv and a real redis-server 7.0: a dataset we write loads in Redis
with the same DEBUG DIGEST and passes redis-check-rdb; a dataset Redis saves loads here with the same
digest; and our file for the same data is no more than 10% larger than Redis's."""

from __future__ import annotations

import math
import random
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from emberkv.keyspace.db import Keyspace
from emberkv.keyspace.digest import dataset_digest
from emberkv.keyspace.values import HashValue, ListValue, SetValue
from emberkv.persistence.rdb import RdbReader, load_rdb_file
from emberkv.persistence.rdb.writer import rdb_save_keyspace
from tests.servers import REDIS_SERVER, start_redis
from tests.test_rdb_roundtrip import FAR_FUTURE_MS, sample_keyspace, with_big, zset

pytestmark = [
    pytest.mark.interop,
    pytest.mark.skipif(REDIS_SERVER is None, reason="redis-server is not installed (CI installs it)"),
]
REDIS_CHECK_RDB = shutil.which("redis-check-rdb")


def blob(rng: random.Random) -> bytes:
    kind = rng.randrange(6)
    if kind == 0:
        return b"%d" % rng.randint(-(2**63), 2**63 - 1)
    if kind == 1:
        return b"%d" % rng.randint(-40000, 40000)
    if kind == 2:
        return rng.randbytes(rng.randrange(0, 90))
    if kind == 3:
        return b"word-%d " % rng.randrange(100) * rng.randrange(1, 30)  # compressible
    if kind == 4:
        return b"%r" % (rng.random() * 1000)
    return b"k%d" % rng.randrange(10**6)


def random_value(rng: random.Random) -> object:
    size = rng.choice([1, 3, 20, 200, 700])
    kind = rng.randrange(5)
    if kind == 0:
        return blob(rng)
    if kind == 1:
        return ListValue(blob(rng) for _ in range(size * 3))
    if kind == 2:
        members = {b"%d" % rng.randint(-(2**40), 2**40) for _ in range(size)} if rng.random() < 0.5 else {
            blob(rng) for _ in range(size)}
        return with_big(SetValue(members), rng.random() < 0.3)
    if kind == 3:
        return with_big(HashValue({blob(rng): blob(rng) for _ in range(size)}), rng.random() < 0.3)
    specials = [math.inf, -math.inf, 0.0, 2.0**62, 2.0**70, -(2.0**62) - 1024]
    scores = {blob(rng): rng.choice([rng.uniform(-1e6, 1e6), float(rng.randint(-100, 100)), rng.choice(specials)])
              for _ in range(size)}
    return zset(scores, big=rng.random() < 0.3)


def random_keyspace(seed: int, keys: int = 300) -> Keyspace:
    rng = random.Random(seed)
    ks = sample_keyspace()
    for _ in range(keys):
        db = ks.dbs[rng.choice([0, 0, 0, 1, 9])]
        key = blob(rng)
        db.data[key] = random_value(rng)
        if rng.random() < 0.2:
            db.expires[key] = FAR_FUTURE_MS + rng.randrange(10**9)
        elif key in db.expires:
            del db.expires[key]
    return ks


def redis_digest(server) -> str:
    return server.client().execute_command("DEBUG", "DIGEST").decode()


def check_with_redis_check_rdb(path: Path) -> None:
    if REDIS_CHECK_RDB is None:
        return
    result = subprocess.run([REDIS_CHECK_RDB, str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "RDB looks OK" in result.stdout, result.stdout


def write_ours(ks: Keyspace, path: Path, **kwargs) -> None:
    with path.open("wb") as f:
        rdb_save_keyspace(f, ks, **kwargs)


@pytest.mark.parametrize(("seed", "options"), [(1, {}), (2, {"compress": False}), (3, {"checksum": False})])
def test_redis_loads_our_file_to_the_same_digest(tmp_path, seed, options):
    ks = random_keyspace(seed)
    workdir = tmp_path / "redis"
    workdir.mkdir()
    write_ours(ks, workdir / "ours.rdb", **options)
    check_with_redis_check_rdb(workdir / "ours.rdb")
    server = start_redis(workdir, "--dbfilename", "ours.rdb")
    try:
        assert redis_digest(server) == dataset_digest(ks).decode()
        assert "keys loaded" in server.log()
    finally:
        server.stop()


def populate(server, rng: random.Random) -> None:
    """Every type in every encoding Redis 7.0 keeps, through ordinary commands."""
    for dbid in (0, 1, 15):
        r = server.client(db=dbid)
        p = r.pipeline(transaction=False)
        for i in range(60):
            p.set(b"str:%d:%d" % (dbid, i), blob(rng))
        p.set(b"\x00bin\xff", bytes(range(256)))
        p.set(b"big:compressible", b"abc" * 5000)
        p.set(b"big:random", rng.randbytes(5000))
        p.rpush(b"list:small", *[blob(rng) for _ in range(10)])
        p.rpush(b"list:big", *[blob(rng) for _ in range(3000)])
        p.sadd(b"set:intset", *[rng.randint(-(2**62), 2**62) for _ in range(50)])
        p.sadd(b"set:bigint", *range(600))
        p.sadd(b"set:strings", *[b"m%d" % i for i in range(40)])
        p.hset(b"hash:small", mapping={b"f%d" % i: blob(rng) for i in range(10)})
        p.hset(b"hash:longvalue", mapping={b"f": b"v" * 100, b"g": b"1"})
        p.hset(b"hash:many", mapping={b"f%d" % i: b"%d" % i for i in range(700)})
        p.zadd(b"zset:small", {b"a": 1, b"b": 2.5, b"c": -3, b"inf": math.inf, b"big": 2.0**70})
        p.zadd(b"zset:many", {b"m%d" % i: i * 0.7 for i in range(300)})
        p.zadd(b"zset:longmember", {b"x" * 100: 1})
        p.set(b"ttl:%d" % dbid, b"v")
        p.pexpireat(b"ttl:%d" % dbid, FAR_FUTURE_MS)
        p.hset(b"ttl:hash", mapping={b"a": b"b"})
        p.pexpireat(b"ttl:hash", FAR_FUTURE_MS + 5)
        p.execute()


@pytest.mark.parametrize("extra", [(), ("--list-compress-depth", "1"), ("--rdbcompression", "no"),
                                   ("--hash-max-listpack-entries", "0", "--zset-max-listpack-entries", "0",
                                    "--set-max-intset-entries", "0")])
def test_we_load_what_redis_saves_to_the_same_digest(tmp_path, extra):
    server = start_redis(tmp_path / "redis", *extra)
    try:
        populate(server, random.Random(42))
        want = redis_digest(server)
        keys = sum(server.client(db=dbid).dbsize() for dbid in (0, 1, 15))
        server.client().save()
    finally:
        server.stop()
    ks = Keyspace()
    stats = load_rdb_file(tmp_path / "redis" / "dump.rdb", ks, int(time.time() * 1000))
    assert stats.keys_loaded == keys
    assert dataset_digest(ks).decode() == want


def test_our_file_is_within_ten_percent_of_redis_for_the_same_data(tmp_path):
    ks = random_keyspace(7, keys=1500)
    for i in range(20000):
        ks.dbs[0].data[b"key:%d" % i] = b"value:%d" % i
    workdir = tmp_path / "redis"
    workdir.mkdir()
    write_ours(ks, workdir / "dump.rdb")
    ours = (workdir / "dump.rdb").stat().st_size
    server = start_redis(workdir)
    try:
        server.client().save()  # Redis writes the same data over our file
    finally:
        server.stop()
    theirs = (workdir / "dump.rdb").stat().st_size
    assert ours <= 1.1 * theirs, (ours, theirs)
    # and the file Redis wrote for our data loads back here to the same dataset
    back = Keyspace()
    load_rdb_file(workdir / "dump.rdb", back, int(time.time() * 1000))
    assert dataset_digest(back) == dataset_digest(ks)


def test_redis_loads_our_function_libraries(tmp_path):
    ks = Keyspace()
    ks.dbs[0].data[b"k"] = b"v"
    code = b"#!lua name=mylib\nredis.register_function('f', function() return 1 end)"
    workdir = tmp_path / "redis"
    workdir.mkdir()
    write_ours(ks, workdir / "ours.rdb", functions=[code])
    server = start_redis(workdir, "--dbfilename", "ours.rdb")
    try:
        r = server.client()
        assert r.execute_command("FCALL", "f", 0) == 1
        assert redis_digest(server) == dataset_digest(ks).decode()
        r.save()
    finally:
        server.stop()
    with (workdir / "ours.rdb").open("rb") as f:
        reader = RdbReader(f)
        list(reader.entries())
        assert reader.functions == [code]  # Redis saved the library back
