"""Saving an RDB file, end to end on a spawned emberkv-server: SAVE, BGSAVE [SCHEDULE], LASTSAVE, save
points, SHUTDOWN SAVE/NOSAVE, the final save on SIGTERM, FLUSHALL, DEBUG RELOAD and the INFO
persistence fields through all of them; replies and field names compared with a real redis-server 7.0.

A BGSAVE here is the in-process snapshot engine; ``--rdb-key-save-delay`` (µs per key) makes it last
long enough to act while it runs, and the file it wrote must hold the dataset as of its start.
"""

from __future__ import annotations

import signal
import socket
import time
from pathlib import Path

import hiredis
import pytest
import redis

from emberkv.keyspace.db import Keyspace
from emberkv.keyspace.digest import dataset_digest
from emberkv.persistence.rdb.reader import LoadStats, RdbReader
from tests.inproc import encode_request
from tests.servers import REDIS_SERVER, start_emberkv, start_redis


def wait_for(predicate, timeout: float = 15.0, what: str = "condition") -> None:
    deadline = time.time() + timeout
    while not predicate():
        if time.time() > deadline:
            raise AssertionError(f"{what} not reached within {timeout}s")
        time.sleep(0.02)


def raw(port: int, *commands: tuple) -> list:
    """Send commands on a bare connection; the replies as hiredis parses them (no client callbacks)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"".join(encode_request(c) for c in commands))
        reader = hiredis.Reader()
        replies: list = []
        while len(replies) < len(commands):
            while (reply := reader.gets()) is not False:
                replies.append(reply)
            if len(replies) < len(commands):
                reader.feed(sock.recv(65536))
        return replies


def shutdown(server, *options: str) -> None:
    """SHUTDOWN on a bare connection (no client-side retries): no reply, the server exits with 0."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(encode_request(("SHUTDOWN", *options)))
        assert sock.recv(65536) == b""
    assert server.proc.wait(10) == 0


def persistence(r: redis.Redis) -> dict:
    return r.info("persistence")


def bgsave_done(r: redis.Redis) -> bool:
    return persistence(r)["rdb_bgsave_in_progress"] == 0


def read_rdb(path: Path, now_ms: int | None = None) -> Keyspace:
    ks = Keyspace()
    with path.open("rb") as f:
        RdbReader(f).load_into(ks, now_ms, LoadStats())
    return ks


def file_digest(path: Path) -> str:
    return dataset_digest(read_rdb(path)).decode()


def digest(r: redis.Redis) -> str:
    return r.execute_command("DEBUG", "DIGEST").decode()


def fill(r: redis.Redis, n: int, prefix: str = "key") -> None:
    p = r.pipeline(transaction=False)
    for i in range(n):
        p.set(f"{prefix}:{i}", f"value:{i}")
        if i % 10 == 0:
            p.rpush(f"list:{i}", *range(5))
            p.hset(f"hash:{i}", mapping={"a": 1, "b": 2})
            p.zadd(f"zset:{i}", {"m": 1.5, "n": 2})
            p.sadd(f"set:{i}", 1, 2, 3)
            p.pexpireat(f"hash:{i}", 4102444800000 + i)
    p.execute()


@pytest.fixture
def ember(tmp_path):
    started = []

    def start(*extra: str, name: str = "emberkv"):
        server = start_emberkv(tmp_path / f"{name}{len(started)}", *extra)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop(signal.SIGKILL)


# -- replies as Redis gives them ------------------------------------------------------------------

SCRIPT = [
    ("SAVE", "extra"), ("BGSAVE", "foo"), ("BGSAVE", "SCHEDULE", "extra"), ("LASTSAVE", "x"),
    ("DEBUG", "RELOAD", "foo"), ("BGSAVE",), ("BGSAVE",), ("BGSAVE", "SCHEDULE"), ("SAVE",),
    ("DEBUG", "RELOAD", "NOSAVE", "NOFLUSH", "MERGE", "extra"),
]


def run_script(server) -> list:
    r = server.client()
    fill(r, 5)
    out = []
    for command in SCRIPT:
        try:
            out.append(r.execute_command(*command))
        except redis.ResponseError as exc:
            out.append(("error", str(exc)))
    wait_for(lambda: bgsave_done(r), what="the end of the BGSAVE")
    return out


@pytest.mark.skipif(REDIS_SERVER is None, reason="redis-server is not installed (CI installs it)")
def test_commands_answer_as_redis_does_while_a_bgsave_runs(ember, tmp_path):
    ours = ember("--rdb-key-save-delay", "100000")
    theirs = start_redis(tmp_path / "redis", "--rdb-key-save-delay", "100000")
    try:
        assert run_script(ours) == run_script(theirs)
    finally:
        theirs.stop()


@pytest.mark.skipif(REDIS_SERVER is None, reason="redis-server is not installed (CI installs it)")
def test_info_persistence_has_redis_fields_in_redis_order(ember, tmp_path):
    ours = ember()
    theirs = start_redis(tmp_path / "redis")
    try:
        for with_aof in (False, True):
            mine = list(persistence(ours.client()))
            wanted = list(persistence(theirs.client()))
            assert mine == wanted, with_aof
            for server in (ours, theirs):
                server.client().config_set("appendonly", "yes")
            wait_for(lambda: persistence(ours.client())["aof_rewrite_in_progress"] == 0)
            wait_for(lambda: persistence(theirs.client())["aof_rewrite_in_progress"] == 0)
    finally:
        theirs.stop()


def test_bgsave_inside_multi_is_scheduled_and_then_runs(ember):
    server = ember()
    r = server.client()
    r.set("k", "v")
    assert raw(server.port, ("MULTI",), ("BGSAVE",), ("EXEC",)) == [
        b"OK", b"QUEUED", [b"Background saving scheduled"]]
    wait_for(lambda: persistence(r)["rdb_saves"] == 1 and bgsave_done(r), what="the scheduled BGSAVE")
    assert persistence(r)["rdb_last_bgsave_status"] == "ok"


# -- SAVE, BGSAVE, LASTSAVE and INFO ---------------------------------------------------------------

def test_save_writes_the_dataset_and_resets_the_change_counter(ember):
    server = ember()
    r = server.client()
    fill(r, 200)
    before = persistence(r)
    assert before["rdb_changes_since_last_save"] > 0 and before["rdb_saves"] == 0
    assert before["rdb_last_bgsave_time_sec"] == -1 and before["rdb_last_bgsave_status"] == "ok"
    assert r.save() is True
    after = persistence(r)
    assert after["rdb_changes_since_last_save"] == 0 and after["rdb_saves"] == 1
    assert after["rdb_last_bgsave_time_sec"] == -1  # SAVE is not a background save
    assert file_digest(server.dir / "dump.rdb") == digest(r)
    assert not list(server.dir.glob("temp-*.rdb"))
    assert "DB saved on disk" in server.log()


def test_lastsave_starts_at_start_time_and_moves_only_on_success(ember):
    started = int(time.time())
    server = ember("--enable-protected-configs", "yes")
    r = server.client()
    first = r.lastsave()
    assert abs(int(first.timestamp()) - started) <= 2
    time.sleep(1.1)
    r.set("k", "v")
    r.save()
    second = r.lastsave()
    assert second > first
    (server.dir / "gone").mkdir()
    r.config_set("dir", str(server.dir / "gone"))
    (server.dir / "gone").rmdir()  # the directory vanishes under the server: the save fails
    time.sleep(1.1)
    assert [str(e) for e in raw(server.port, ("SAVE",))] == ["ERR"]
    assert r.lastsave() == second


def test_bgsave_writes_the_dataset_as_of_its_start_while_clients_write(ember):
    """Over real connections: overwrites, deletes, new keys and expiries during the save stay out."""
    server = ember("--rdb-key-save-delay", "1000")
    r = server.client()
    fill(r, 1500)
    r.set("short", "v", px=400)
    want = digest(r)
    keys_at_start = r.dbsize()
    assert r.bgsave() is True
    info = persistence(r)
    assert info["rdb_bgsave_in_progress"] == 1
    assert info["current_save_keys_total"] == keys_at_start
    assert info["rdb_current_bgsave_time_sec"] >= 0
    for i in range(0, 1500, 2):
        r.set(f"key:{i}", "changed")
    for i in range(1, 1500, 4):
        r.delete(f"key:{i}")
    for i in range(100):
        r.set(f"new:{i}", "x")
    r.rpush("list:0", "more")
    r.persist("hash:0")
    time.sleep(0.5)
    assert r.get("short") is None  # expired while the save ran
    progress = persistence(r)
    assert 0 < progress["current_save_keys_processed"] < keys_at_start
    assert 0 < float(progress["current_fork_perc"]) < 100
    wait_for(lambda: bgsave_done(r), timeout=30, what="the end of the BGSAVE")
    done = persistence(r)
    assert done["rdb_last_bgsave_status"] == "ok" and done["rdb_saves"] == 1
    assert done["rdb_last_bgsave_time_sec"] >= 1 and done["rdb_current_bgsave_time_sec"] == -1
    assert done["current_save_keys_total"] == 0
    # Changes made during the save are still to be saved.
    assert done["rdb_changes_since_last_save"] >= 750 + 375 + 100
    assert file_digest(server.dir / "dump.rdb") == want
    log = server.log()
    assert "Background saving started by pid" in log and "Background saving terminated with success" in log


def test_changes_during_a_bgsave_keep_counting_toward_the_next_save(ember):
    server = ember("--rdb-key-save-delay", "20000")
    r = server.client()
    fill(r, 20)
    r.bgsave()
    r.set("during", "1")
    r.set("during2", "1")
    wait_for(lambda: bgsave_done(r), what="the end of the BGSAVE")
    assert persistence(r)["rdb_changes_since_last_save"] == 2


# -- save points -----------------------------------------------------------------------------------

def test_save_point_fires_after_its_seconds_and_changes(ember):
    server = ember("--save", "1 3")
    r = server.client()
    r.set("a", 1)
    r.set("b", 2)
    time.sleep(1.5)
    assert not (server.dir / "dump.rdb").exists()  # 2 changes < 3
    r.set("c", 3)
    wait_for(lambda: (server.dir / "dump.rdb").exists() and bgsave_done(r), what="the save point")
    assert "3 changes in 1 seconds. Saving..." in server.log()
    info = persistence(r)
    assert info["rdb_changes_since_last_save"] == 0 and info["rdb_saves"] == 1
    assert read_rdb(server.dir / "dump.rdb").dbs[0].data.keys() == {b"a", b"b", b"c"}


def test_config_set_save_takes_effect_and_empty_disables(ember):
    server = ember()
    r = server.client()
    assert r.config_get("save") == {"save": ""}
    r.config_set("save", "1 1")
    assert r.config_get("save") == {"save": "1 1"}
    r.set("x", 1)
    wait_for(lambda: (server.dir / "dump.rdb").exists(), what="the save point")
    r.config_set("save", "")
    wait_for(lambda: bgsave_done(r))
    saves = persistence(r)["rdb_saves"]
    r.set("y", 1)
    time.sleep(1.5)
    assert persistence(r)["rdb_saves"] == saves


def test_default_save_points_are_redis_defaults(tmp_path):
    from emberkv.server.config import load_config

    assert load_config([])["save"] == [(3600, 1), (300, 100), (60, 10000)]


# -- SHUTDOWN and signals --------------------------------------------------------------------------

def test_sigterm_with_save_points_saves_a_final_snapshot(ember):
    server = ember("--save", "3600 1")
    r = server.client()
    fill(r, 100)
    want = digest(r)
    assert server.stop(signal.SIGTERM) == 0
    log = server.log()
    assert "Saving the final RDB snapshot before exiting." in log
    assert log.index("Saving the final RDB snapshot") < log.index("DB saved on disk")
    assert "ready to exit, bye bye" in log
    assert file_digest(server.dir / "dump.rdb") == want


def test_sigterm_saves_even_without_changes_and_without_save_points_does_not(ember):
    with_points = ember("--save", "3600 1")
    assert with_points.stop(signal.SIGTERM) == 0
    assert (with_points.dir / "dump.rdb").exists()
    without = ember()
    without.client().set("k", "v")
    assert without.stop(signal.SIGTERM) == 0
    assert not (without.dir / "dump.rdb").exists()
    assert "Saving the final RDB snapshot" not in without.log()


@pytest.mark.parametrize(("options", "argument", "saved"), [
    (("--save", "3600 1"), "NOSAVE", False),
    ((), "SAVE", True),
    (("--save", "3600 1"), None, True),
    ((), None, False),
])
def test_shutdown_save_and_nosave(ember, options, argument, saved):
    server = ember(*options)
    r = server.client()
    r.set("k", "v")
    shutdown(server, *([argument] if argument else []))
    assert server.proc.returncode == 0
    assert (server.dir / "dump.rdb").exists() == saved
    if saved:
        assert read_rdb(server.dir / "dump.rdb").dbs[0].data == {b"k": b"v"}


def test_shutdown_during_a_bgsave_stops_it_and_saves_in_the_foreground(ember):
    server = ember("--save", "3600 1", "--rdb-key-save-delay", "100000")
    r = server.client()
    fill(r, 50)
    want = digest(r)
    r.bgsave()
    shutdown(server)
    assert file_digest(server.dir / "dump.rdb") == want
    assert not list(server.dir.glob("temp-*.rdb"))


def test_shutdown_refused_when_the_final_save_fails_unless_forced(ember):
    server = ember("--save", "3600 1", "--enable-protected-configs", "yes")
    r = server.client()
    r.set("k", "v")
    (server.dir / "sub").mkdir()
    r.config_set("dir", str(server.dir / "sub"))
    (server.dir / "sub").rmdir()
    with pytest.raises(redis.ResponseError, match="Errors trying to SHUTDOWN"):
        r.shutdown()
    # Still up; the failed save makes it refuse writes (and PING) until a save succeeds.
    assert r.get("k") == b"v"
    with pytest.raises(redis.ResponseError, match="^MISCONF"):
        r.ping()
    shutdown(server, "FORCE")


# -- FLUSHALL and DEBUG RELOAD ----------------------------------------------------------------------

def test_flushall_with_save_points_saves_an_empty_dataset(ember):
    server = ember("--save", "3600 1")
    r = server.client()
    fill(r, 50)
    r.save()
    r.set("more", 1)
    r.flushall()
    assert persistence(r)["rdb_changes_since_last_save"] == 0
    ks = read_rdb(server.dir / "dump.rdb")
    assert all(not db.data for db in ks.dbs)
    # Redis's empty-dataset file is 89 bytes (spec §6.4); ours has the same fields.
    assert 80 <= (server.dir / "dump.rdb").stat().st_size <= 100


def test_flushall_without_save_points_leaves_the_file(ember):
    server = ember()
    r = server.client()
    fill(r, 20)
    r.save()
    before = (server.dir / "dump.rdb").read_bytes()
    r.flushall()
    assert (server.dir / "dump.rdb").read_bytes() == before


def test_flushall_during_a_bgsave_stops_it_without_an_error(ember):
    server = ember("--rdb-key-save-delay", "100000")
    r = server.client()
    fill(r, 50)
    r.bgsave()
    r.flushall()
    info = persistence(r)
    assert info["rdb_bgsave_in_progress"] == 0 and info["rdb_last_bgsave_status"] == "ok"
    assert not list(server.dir.glob("temp-*.rdb")) and not (server.dir / "dump.rdb").exists()
    assert r.bgsave() is True  # a new one may start at once
    wait_for(lambda: bgsave_done(r))
    assert persistence(r)["rdb_last_bgsave_status"] == "ok"


def test_debug_reload_keeps_the_dataset_and_drops_expired_keys(ember):
    server = ember()
    r = server.client()
    fill(r, 300)
    want = digest(r)
    r.execute_command("DEBUG", "SET-ACTIVE-EXPIRE", "0")
    r.set("soon", "v", px=300)
    time.sleep(0.4)  # expired, but still in memory: nobody touched it
    assert r.execute_command("DEBUG", "RELOAD") == b"OK"
    info = persistence(r)
    assert info["rdb_last_load_keys_expired"] == 1
    assert info["rdb_last_load_keys_loaded"] == r.dbsize()
    assert digest(r) == want
    assert "DB reloaded by DEBUG RELOAD" in server.log()


def test_debug_reload_nosave_loads_the_file_as_it_is(ember):
    server = ember()
    r = server.client()
    r.set("saved", 1)
    r.save()
    r.set("not-saved", 1)
    assert r.execute_command("DEBUG", "RELOAD", "NOSAVE") == b"OK"
    assert r.keys() == [b"saved"]


def test_debug_reload_of_a_bad_file_fails_and_keeps_the_dataset(ember):
    server = ember()
    r = server.client()
    fill(r, 30)
    want = digest(r)
    (server.dir / "dump.rdb").write_bytes(b"REDIS0010garbage")
    with pytest.raises(redis.ResponseError, match="Error trying to load the RDB dump"):
        r.execute_command("DEBUG", "RELOAD", "NOSAVE")
    assert digest(r) == want
    (server.dir / "dump.rdb").unlink()
    with pytest.raises(redis.ResponseError, match="Error trying to load the RDB dump"):
        r.execute_command("DEBUG", "RELOAD", "NOSAVE")
    assert digest(r) == want


def test_debug_reload_noflush_and_merge(ember):
    server = ember()
    r = server.client()
    r.set("a", "from-file")
    r.save()
    r.set("a", "in-memory")
    r.set("b", "in-memory")
    with pytest.raises(redis.ResponseError, match="Error trying to load the RDB dump"):
        r.execute_command("DEBUG", "RELOAD", "NOSAVE", "NOFLUSH")  # "a" in both: refused
    assert r.mget("a", "b") == [b"in-memory", b"in-memory"]
    assert r.execute_command("DEBUG", "RELOAD", "NOSAVE", "NOFLUSH", "MERGE") == b"OK"
    assert r.mget("a", "b") == [b"from-file", b"in-memory"]


def test_debug_reload_during_a_bgsave_stops_it(ember):
    server = ember("--rdb-key-save-delay", "100000")
    r = server.client()
    fill(r, 30)
    want = digest(r)
    r.bgsave()
    assert r.execute_command("DEBUG", "RELOAD") == b"OK"
    assert bgsave_done(r)
    assert digest(r) == want
    assert file_digest(server.dir / "dump.rdb") == want


def test_dump_rdb_written_by_save_reads_with_every_record_once(ember):
    server = ember()
    r = server.client()
    fill(r, 500)
    r.save()
    with (server.dir / "dump.rdb").open("rb") as f:
        keys = [e.key for e in RdbReader(f).entries()]
    assert len(keys) == len(set(keys)) == r.dbsize()


def schedule_script(server) -> list:
    r = server.client()
    fill(r, 5)
    out = [raw(server.port, ("BGREWRITEAOF",), ("BGSAVE",), ("BGSAVE", "SCHEDULE"), ("BGSAVE", "SCHEDULE"))]
    out[0] = [str(x) if isinstance(x, Exception) else x for x in out[0]]
    wait_for(lambda: persistence(r)["aof_rewrite_in_progress"] == 0, timeout=30, what="the rewrite's end")
    wait_for(lambda: persistence(r)["rdb_saves"] == 1 and bgsave_done(r), timeout=30,
             what="the scheduled BGSAVE")
    out.append(persistence(r)["rdb_last_bgsave_status"])
    return out


@pytest.mark.skipif(REDIS_SERVER is None, reason="redis-server is not installed (CI installs it)")
def test_bgsave_schedule_waits_for_a_running_aof_rewrite_as_in_redis(ember, tmp_path):
    options = ("--appendonly", "yes", "--rdb-key-save-delay", "100000")
    ours = ember(*options)
    theirs = start_redis(tmp_path / "redis", *options)
    try:
        mine = schedule_script(ours)
        assert mine == schedule_script(theirs)
        assert mine[0][1].startswith("ERR Another child process is active")
        assert mine[0][2] == b"Background saving scheduled"
    finally:
        theirs.stop()
