"""Saving an RDB file, end to end on a spawned emberkv-server: SAVE, BGSAVE [SCHEDULE], LASTSAVE, save
points and the INFO persistence fields through them; replies and field names compared with a real
redis-server 7.0.

A BGSAVE here is the in-process snapshot engine; ``--rdb-key-save-delay`` (µs per key) makes it last
long enough to act while it runs, and the file it wrote must hold the dataset as of its start.
"""

from __future__ import annotations

import time

import pytest
import redis

from tests.persistence_support import (
    bgsave_done,
    digest,
    ember_servers,
    file_digest,
    fill,
    persistence,
    raw,
    read_rdb,
    wait_for,
)
from tests.servers import REDIS_SERVER, start_redis

_ember = pytest.fixture(name="ember")(ember_servers)


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
    server = ember("--rdb-key-save-delay", "2000")  # 2 ms a key: the save outlasts the writes below
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
