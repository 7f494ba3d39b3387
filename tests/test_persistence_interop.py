"""Files move both ways between a running emberkv-server and a running redis-server 7.0.

A dataset of every type and encoding, built through ordinary commands, is saved by one server (SAVE,
or BGSAVE, also while clients write during it) and loaded at start-up by the other: the DEBUG DIGEST
and every key's OBJECT ENCODING must be the same, and our files must pass redis-check-rdb.
"""

from __future__ import annotations

import random
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from tests.persistence_support import bgsave_done, digest, wait_for
from tests.servers import REDIS_SERVER, start_emberkv, start_redis
from tests.test_persistence_loading import encodings
from tests.test_rdb_interop import populate

pytestmark = [
    pytest.mark.interop,
    pytest.mark.skipif(REDIS_SERVER is None, reason="redis-server is not installed (CI installs it)"),
]
REDIS_CHECK_RDB = shutil.which("redis-check-rdb")


def check_rdb(path: Path) -> None:
    if REDIS_CHECK_RDB is None:
        return
    result = subprocess.run([REDIS_CHECK_RDB, str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "RDB looks OK" in result.stdout, result.stdout


def save(server, how: str) -> None:
    r = server.client()
    if how == "SAVE":
        assert r.save() is True
    else:
        assert r.bgsave() is True
        wait_for(lambda: bgsave_done(r), timeout=30, what="the end of the BGSAVE")


@pytest.mark.parametrize("how", ["SAVE", "BGSAVE"])
def test_redis_loads_what_emberkv_saves(tmp_path, how):
    ours = start_emberkv(tmp_path / "emberkv")
    try:
        populate(ours, random.Random(11))
        r = ours.client()
        r.set("ttl", "v", ex=10**6)
        want_digest, want_encodings = digest(r), encodings(r)
        save(ours, how)
    finally:
        ours.stop(signal.SIGKILL)
    check_rdb(tmp_path / "emberkv" / "dump.rdb")
    (tmp_path / "redis").mkdir()
    shutil.copy(tmp_path / "emberkv" / "dump.rdb", tmp_path / "redis" / "dump.rdb")
    theirs = start_redis(tmp_path / "redis")
    try:
        r = theirs.client()
        assert digest(r) == want_digest
        assert encodings(r) == want_encodings
        assert 0 < r.ttl("ttl") <= 10**6
    finally:
        theirs.stop()


@pytest.mark.parametrize("how", ["SAVE", "BGSAVE"])
def test_emberkv_loads_what_redis_saves(tmp_path, how):
    theirs = start_redis(tmp_path / "redis")
    try:
        populate(theirs, random.Random(12))
        r = theirs.client()
        r.set("ttl", "v", ex=10**6)
        want_digest, want_encodings = digest(r), encodings(r)
        save(theirs, how)
    finally:
        theirs.stop()
    (tmp_path / "emberkv").mkdir()
    shutil.copy(tmp_path / "redis" / "dump.rdb", tmp_path / "emberkv" / "dump.rdb")
    ours = start_emberkv(tmp_path / "emberkv")
    try:
        r = ours.client()
        assert digest(r) == want_digest
        assert encodings(r) == want_encodings
        assert 0 < r.ttl("ttl") <= 10**6
    finally:
        ours.stop(signal.SIGKILL)


def test_a_bgsave_taken_while_clients_write_loads_in_redis_as_the_dataset_at_its_start(tmp_path):
    """The consistency of the snapshot, seen by Redis: overwrites, deletes, new keys, list pushes and
    FLUSHDB of another database during the BGSAVE are all absent from the file."""
    ours = start_emberkv(tmp_path / "emberkv", "--rdb-key-save-delay", "2000")
    try:
        populate(ours, random.Random(13))
        r = ours.client()
        want = digest(r)
        keys = r.dbsize()
        assert r.bgsave() is True
        writer = ours.client()
        for i in range(0, 60, 2):
            writer.set(f"str:0:{i}", "overwritten")
            writer.delete(f"str:0:{i + 1}")
        writer.rpush("list:big", *range(100))
        writer.hset("hash:many", "new-field", "v")
        writer.zadd("zset:small", {"a": 100})
        writer.sadd("set:intset", "not-an-int")
        writer.set("created", "during the save")
        writer.rename("list:small", "list:renamed")
        writer.expire("hash:small", 1)
        r1 = ours.client(db=1)
        r1.flushdb()
        assert r.info("persistence")["rdb_bgsave_in_progress"] == 1  # all of that happened mid-save
        wait_for(lambda: bgsave_done(r), timeout=60, what="the end of the BGSAVE")
        assert r.dbsize() == keys + 1 - 30
    finally:
        ours.stop(signal.SIGKILL)
    check_rdb(tmp_path / "emberkv" / "dump.rdb")
    (tmp_path / "redis").mkdir()
    shutil.copy(tmp_path / "emberkv" / "dump.rdb", tmp_path / "redis" / "dump.rdb")
    theirs = start_redis(tmp_path / "redis")
    try:
        assert digest(theirs.client()) == want
    finally:
        theirs.stop()


def test_a_file_goes_through_both_servers_and_back_unchanged(tmp_path):
    ours = start_emberkv(tmp_path / "a")
    try:
        populate(ours, random.Random(14))
        want = digest(ours.client())
        ours.client().save()
    finally:
        ours.stop(signal.SIGKILL)
    (tmp_path / "b").mkdir()
    shutil.copy(tmp_path / "a" / "dump.rdb", tmp_path / "b" / "dump.rdb")
    theirs = start_redis(tmp_path / "b")
    try:
        theirs.client().bgsave()
        wait_for(lambda: bgsave_done(theirs.client()))
    finally:
        theirs.stop()
    (tmp_path / "c").mkdir()
    shutil.copy(tmp_path / "b" / "dump.rdb", tmp_path / "c" / "dump.rdb")
    again = start_emberkv(tmp_path / "c")
    try:
        assert digest(again.client()) == want
    finally:
        again.stop(signal.SIGKILL)
