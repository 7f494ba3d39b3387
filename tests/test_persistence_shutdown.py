"""Saving at the edges of a server's life and around FLUSHALL and DEBUG RELOAD, on a spawned
emberkv-server: SHUTDOWN [SAVE|NOSAVE|FORCE], the final save on SIGTERM when save points exist, FLUSHALL
saving an empty dataset, DEBUG RELOAD [NOSAVE|NOFLUSH|MERGE], and each of them while a BGSAVE runs.
"""

from __future__ import annotations

import signal
import time

import pytest
import redis

from emberkv.persistence.rdb.reader import RdbReader
from tests.persistence_support import (
    bgsave_done,
    digest,
    ember_servers,
    file_digest,
    fill,
    persistence,
    read_rdb,
    shutdown,
    wait_for,
)

_ember = pytest.fixture(name="ember")(ember_servers)


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
