"""AOF rewrites: BGREWRITEAOF (started, already running, scheduled behind a BGSAVE), the automatic
trigger, the new base (RDB preamble or commands) plus a new incr file, the atomic manifest swap and the
history files; a failed or interrupted rewrite leaves the previous files working."""

from __future__ import annotations

import os

import pytest

from tests.aof_support import AOF_DIR, AofServer, file_commands, incr_commands, manifest


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def fill(c, n: int = 50) -> None:
    for i in range(n):
        c("SET", f"key:{i}", f"value:{i}")
    c("SET", "ttl", "v", "EX", "1000")
    c("SELECT", "2")
    c("SET", "other", "db")
    c("SELECT", "0")


def digest(h: AofServer) -> bytes:
    return h.client()("DEBUG", "DIGEST")


def files(workdir) -> list[str]:
    return sorted(os.listdir(workdir / AOF_DIR))


def test_bgrewriteaof_writes_a_new_base_and_incr_and_removes_history(workdir):
    h = AofServer("--rdb-key-save-delay", "1000")
    try:
        c = h.client()
        fill(c)
        before = digest(h)
        assert c("BGREWRITEAOF") == b"Background append only file rewriting started"
        assert str(c("BGREWRITEAOF")) == "ERR Background append only file rewriting already in progress"
        c("SET", "during", "rewrite")
        h.wait(lambda: not h.aof.rewriting)
        assert manifest().to_bytes() == (b"file appendonly.aof.2.base.rdb seq 2 type b\n"
                                         b"file appendonly.aof.2.incr.aof seq 2 type i\n")
        assert files(workdir) == ["appendonly.aof.2.base.rdb", "appendonly.aof.2.incr.aof", "appendonly.aof.manifest"]
        assert incr_commands() == [[b"SELECT", b"0"], [b"SET", b"during", b"rewrite"]]
        info = c("INFO", "persistence")
        assert b"aof_rewrites:1\r\n" in info and b"aof_last_bgrewrite_status:ok" in info
        assert not [n for n in os.listdir(workdir) if n.startswith("temp-")]
        after = digest(h)
        assert after != before
    finally:
        h.close()
    h = AofServer()
    try:
        assert digest(h) == after
    finally:
        h.close()


def test_writes_during_the_snapshot_keep_the_log_consistent(workdir):
    h = AofServer("--rdb-key-save-delay", "2000")
    try:
        c = h.client()
        fill(c, 30)
        c("BGREWRITEAOF")
        for i in range(30):
            c("APPEND", f"key:{i}", "+changed")  # keys the snapshot has not written yet
            c("DEL", f"key:{29 - i}")
            c("SET", f"new:{i}", "x")
            h.turn()
        h.wait(lambda: not h.aof.rewriting, timeout=30)
        expected = digest(h)
    finally:
        h.close()
    h = AofServer()
    try:
        assert digest(h) == expected
    finally:
        h.close()


def test_a_resp_base_is_written_as_redis_writes_it(workdir):
    h = AofServer("--aof-use-rdb-preamble", "no")
    try:
        c = h.client()
        c("SET", "s", "v")
        c("SET", "withttl", "v", "PXAT", "4102444800000")
        if b"rpush" in __import__("emberkv.commands.table", fromlist=["COMMANDS"]).COMMANDS:
            c("RPUSH", "l", *[str(i) for i in range(100)])
        c("BGREWRITEAOF")
        h.wait(lambda: not h.aof.rewriting)
        base = manifest().base
        assert base.name == "appendonly.aof.2.base.aof"
        commands = file_commands(workdir / AOF_DIR / base.name)
        assert commands[0] == [b"SELECT", b"0"]
        assert [b"SET", b"s", b"v"] in commands
        i = commands.index([b"SET", b"withttl", b"v"])
        assert commands[i + 1] == [b"PEXPIREAT", b"withttl", b"4102444800000"]
        rpush = [cmd for cmd in commands if cmd[0] == b"RPUSH"]
        if rpush:
            assert [len(cmd) - 2 for cmd in rpush] == [64, 36]  # 64 elements per command at most
    finally:
        h.close()


def test_bgrewriteaof_while_bgsave_runs_is_scheduled_and_runs_after(workdir):
    h = AofServer("--rdb-key-save-delay", "20000")
    try:
        c = h.client()
        fill(c, 10)
        assert c("BGSAVE") == b"Background saving started"
        assert c("BGREWRITEAOF") == b"Background append only file rewriting scheduled"
        assert b"aof_rewrite_scheduled:1" in c("INFO", "persistence")
        h.wait(lambda: h.server.rdb.bgsave is None, timeout=30)
        h.server.rdb.cron()
        h.aof.cron()
        assert h.aof.rewriting or h.server.persistence.aof_rewrites == 1
        h.wait(lambda: not h.aof.rewriting, timeout=30)
        assert manifest().base.name == "appendonly.aof.2.base.rdb"
    finally:
        h.close()


def test_bgrewriteaof_inside_multi_is_scheduled(workdir):
    h = AofServer()
    try:
        c = h.client()
        c("MULTI")
        c("BGREWRITEAOF")
        assert c("EXEC") == [b"Background append only file rewriting scheduled"]
    finally:
        h.close()


def test_the_automatic_trigger_rewrites_when_the_log_doubled(workdir, capsys):
    h = AofServer("--auto-aof-rewrite-min-size", "1kb", "--auto-aof-rewrite-percentage", "100")
    try:
        c = h.client()
        fill(c, 100)
        h.aof.cron()
        assert h.aof.rewriting
        assert "Starting automatic rewriting of AOF on" in capsys.readouterr().out
        h.wait(lambda: not h.aof.rewriting)
        state = h.server.persistence
        assert state.aof_base_size == state.aof_current_size
        h.aof.cron()
        assert not h.aof.rewriting  # no growth since
    finally:
        h.close()


def test_a_failed_rewrite_leaves_the_previous_files_working(workdir):
    h = AofServer()
    try:
        c = h.client()
        fill(c, 10)
        (workdir / f"temp-rewriteaof-bg-{os.getpid()}.aof").mkdir()  # the temp file cannot be created
        assert str(c("BGREWRITEAOF")).startswith("ERR Can't execute an AOF background rewriting")
        info = c("INFO", "persistence")
        assert b"aof_last_bgrewrite_status:err" in info and b"aof_rewrites_consecutive_failures:1" in info
        c("SET", "after", "failure")
        expected = digest(h)
    finally:
        h.close()
    (workdir / f"temp-rewriteaof-bg-{os.getpid()}.aof").rmdir()
    h = AofServer()
    try:
        assert digest(h) == expected
        assert manifest().base.name == "appendonly.aof.1.base.rdb"
    finally:
        h.close()


def test_an_interrupted_rewrite_leaves_a_loadable_log(workdir):
    h = AofServer("--rdb-key-save-delay", "100000")
    c = h.client()
    fill(c, 20)
    c("BGREWRITEAOF")
    c("SET", "during", "1")
    expected = digest(h)
    # The server dies here (no shutdown job runs): the manifest lists the old base and both incr files.
    h.aof.log.sync_now()
    h.srv.close()
    assert [f.name for f in manifest().incrs] == ["appendonly.aof.1.incr.aof", "appendonly.aof.2.incr.aof"]
    h = AofServer()
    try:
        assert digest(h) == expected
        assert not [n for n in os.listdir(workdir) if n.startswith("temp-rewriteaof")]
    finally:
        h.close()


def test_bgrewriteaof_with_aof_off_lists_only_the_new_base(workdir):
    h = AofServer(appendonly="no")
    try:
        c = h.client()
        c("SET", "k", "v")
        assert c("BGREWRITEAOF") == b"Background append only file rewriting started"
        h.wait(lambda: not h.aof.rewriting)
        assert manifest().to_bytes() == b"file appendonly.aof.1.base.rdb seq 1 type b\n"
    finally:
        h.close()


def test_history_is_kept_with_aof_disable_auto_gc(workdir):
    h = AofServer("--aof-disable-auto-gc", "yes")
    try:
        c = h.client()
        c("SET", "k", "v")
        c("BGREWRITEAOF")
        h.wait(lambda: not h.aof.rewriting)
        m = manifest()
        assert [f.name for f in m.history] == ["appendonly.aof.1.base.rdb", "appendonly.aof.1.incr.aof"]
        assert "appendonly.aof.1.incr.aof" in files(workdir)
    finally:
        h.close()


def test_repeated_failures_throttle_automatic_rewrites(workdir, capsys):
    h = AofServer("--auto-aof-rewrite-min-size", "1kb")
    try:
        fill(h.client(), 100)
        h.server.persistence.aof_rewrites_consecutive_failures = 3
        h.aof.cron()
        assert not h.aof.rewriting
        assert "Background AOF rewrite has repeatedly failed and triggered the limit, will retry in 1 " \
               "minutes" in capsys.readouterr().out
    finally:
        h.close()


def test_debug_loadaof_reloads_what_the_files_hold(workdir):
    h = AofServer()
    try:
        c = h.client()
        fill(c, 10)
        expected = digest(h)
        assert c("DEBUG", "LOADAOF") == b"OK"
        assert digest(h) == expected
    finally:
        h.close()


def test_debug_loadaof_without_an_aof_keeps_the_data(workdir):
    h = AofServer(appendonly="no")
    try:
        c = h.client()
        c("SET", "k", "v")
        assert str(c("DEBUG", "LOADAOF")) == "ERR There is no AOF to load"
        assert c("GET", "k") == b"v"
    finally:
        h.close()


def test_config_set_appendonly_yes_starts_with_a_rewrite_and_no_stops(workdir):
    h = AofServer(appendonly="no", loglevel="warning")
    try:
        c = h.client()
        c("SET", "before", "1")
        assert c("CONFIG", "SET", "appendonly", "yes") == b"OK"
        c("SET", "during", "1")
        h.wait(lambda: not h.aof.rewriting)
        c("SET", "after", "1")
        assert manifest().to_bytes() == (b"file appendonly.aof.1.base.rdb seq 1 type b\n"
                                         b"file appendonly.aof.1.incr.aof seq 1 type i\n")
        assert [b"SET", b"after", b"1"] in incr_commands()
        assert c("CONFIG", "SET", "appendonly", "no") == b"OK"
        c("SET", "unlogged", "1")
        assert [b"SET", b"unlogged", b"1"] not in incr_commands()
        assert b"aof_enabled:0" in c("INFO", "persistence")
    finally:
        h.close()


def test_config_set_appendonly_yes_fails_when_no_rewrite_can_start(workdir):
    h = AofServer(appendonly="no", loglevel="warning")
    try:
        c = h.client()
        (workdir / f"temp-rewriteaof-bg-{os.getpid()}.aof").mkdir()
        assert str(c("CONFIG", "SET", "appendonly", "yes")) == (
            "ERR CONFIG SET failed (possibly related to argument 'appendonly') - Unable to turn on AOF. "
            "Check server logs.")
        assert c("CONFIG", "GET", "appendonly") == [b"appendonly", b"no"]
        assert b"aof_enabled:0" in c("INFO", "persistence")
        assert c("SET", "k", "v") == b"OK"
    finally:
        h.close()
