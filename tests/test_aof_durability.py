"""When writes are acknowledged: never before they are in the file, under ``always`` never before the
fsync, one fsync for a whole batch of clients (group commit); failed writes and fsyncs never end in an
OK, refuse later writes with MISCONF while reads go on, and recover as described in writer.py."""

from __future__ import annotations

import errno
import os
import threading

import pytest

from emberkv.persistence.aof import writer as writer_module
from emberkv.persistence.aof.format import encode_command
from tests.aof_support import AofServer, file_commands, incr_commands

ENOSPC = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
EIO = OSError(errno.EIO, os.strerror(errno.EIO))
MISCONF_ENOSPC = b"MISCONF Errors writing to the AOF file: No space left on device"


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def calls(monkeypatch):
    """Count (and order) AOF writes, fsyncs and reply writes."""
    events: list[str] = []
    real_write, real_fsync = os.write, os.fdatasync

    def write(fd, data):
        events.append("write")
        return real_write(fd, data)

    def fsync(fd):
        events.append("fsync")
        return real_fsync(fd)

    monkeypatch.setattr(writer_module.os, "write", write)
    monkeypatch.setattr(writer_module.os, "fdatasync", fsync)
    return events


def incr_path(workdir) -> str:
    return str(workdir / "appendonlydir" / "appendonly.aof.1.incr.aof")


def test_one_fsync_serves_every_client_of_a_batch_under_always(workdir, calls):
    h = AofServer("--appendfsync", "always")
    try:
        clients = [h.client() for _ in range(20)]
        calls.clear()
        for i, c in enumerate(clients):
            c.send("SET", f"k{i}", "v")
        assert all(c.replies() == [] for c in clients)  # nobody answered before the log is safe
        h.settle()
        assert all(c.replies() == [b"OK"] for c in clients)
        assert calls == ["write", "fsync"]
        assert len(incr_commands()) == 21
    finally:
        h.close()


def test_replies_leave_only_after_the_write_and_the_fsync(workdir, monkeypatch):
    h = AofServer("--appendfsync", "always")
    try:
        c = h.client()
        order: list[str] = []
        real_fsync = os.fdatasync
        monkeypatch.setattr(writer_module.os, "fdatasync", lambda fd: (order.append("fsync"), real_fsync(fd))[1])
        transport = c.inner.transport
        real = transport.write
        transport.write = lambda data: (order.append("reply"), real(data))[1]
        assert c("SET", "k", "v") == b"OK"
        assert order == ["fsync", "reply"]
    finally:
        h.close()


def test_reads_alone_cost_no_write_and_no_fsync(workdir, calls):
    h = AofServer("--appendfsync", "always")
    try:
        c = h.client()
        c("SET", "k", "v")
        calls.clear()
        assert c("GET", "k") == b"v"
        assert calls == []
    finally:
        h.close()


def test_everysec_fsyncs_in_the_background_and_no_never(workdir, calls):
    h = AofServer("--appendfsync", "everysec")
    try:
        c = h.client()
        h.aof.log.last_fsync_sec = 0
        calls.clear()
        c("SET", "a", "1")
        h.wait(lambda: h.aof.bio.fsyncs == 0)
        assert calls == ["write", "fsync"]  # the fsync ran on the bio thread
        calls.clear()
        c("SET", "b", "2")  # same second: written, not fsynced yet
        assert calls == ["write"]
    finally:
        h.close()
    h = AofServer("--appendfsync", "no")
    try:
        calls.clear()
        h.client()("SET", "a", "1")
        h.aof.cron()
        assert calls == ["write"]
    finally:
        h.close()


def test_everysec_holds_replies_while_a_background_fsync_runs(workdir, monkeypatch):
    h = AofServer("--appendfsync", "everysec")
    try:
        c = h.client()
        c("SET", "warm", "1")
        gate = threading.Event()
        real_fsync = os.fdatasync

        def slow_fsync(fd):
            gate.wait(5)
            return real_fsync(fd)

        monkeypatch.setattr(writer_module.os, "fdatasync", slow_fsync)
        h.aof.log.last_fsync_sec = 0
        c("SET", "a", "1")  # written, and an fsync is started in the background
        assert h.aof.bio.fsyncs == 1
        c.send("SET", "b", "2")
        h.turn()
        assert c.replies() == []  # the write is postponed: no reply yet
        assert b"b" not in b"".join(a for cmd in file_commands(incr_path(workdir)) for a in cmd[1:2])
        gate.set()
        h.wait(lambda: h.aof.bio.fsyncs == 0)
        h.turn()
        assert c.replies() == [b"OK"]
        assert file_commands(incr_path(workdir))[-1] == [b"SET", b"b", b"2"]
    finally:
        gate.set()
        h.close()


def test_a_postponed_write_goes_anyway_after_two_seconds(workdir, monkeypatch):
    h = AofServer("--appendfsync", "everysec")
    try:
        c = h.client()
        h.aof.bio.fsyncs = 1  # a background fsync that does not end
        c.send("SET", "a", "1")
        h.turn()
        assert c.replies() == []
        h.aof.log.postponed_since -= 3
        h.aof.cron()
        assert c.replies() == [b"OK"]
        assert h.server.persistence.aof_delayed_fsync == 1
    finally:
        h.aof.bio.fsyncs = 0
        h.close()


def test_a_failed_write_answers_nobody_refuses_writes_and_recovers(workdir, monkeypatch, capsys):
    h = AofServer("--appendfsync", "everysec")
    try:
        c, reader = h.client(), h.client()
        c("SET", "k", "v")
        real_write = os.write
        monkeypatch.setattr(writer_module.os, "write", lambda fd, data: (_ for _ in ()).throw(ENOSPC))
        c.send("SET", "lost-ack", "1")
        h.turn()
        assert c.replies() == [] and c.closed  # no OK for a write that is not in the log
        assert reader("GET", "k") == b"v"  # reads go on
        assert str(reader("SET", "x", "1")) == MISCONF_ENOSPC.decode()
        assert str(reader("PING")) == MISCONF_ENOSPC.decode()  # as Redis: PING is a health check
        assert b"aof_last_write_status:err" in reader("INFO", "persistence")
        monkeypatch.setattr(writer_module.os, "write", real_write)
        h.aof.last_write_retry = 0
        h.aof.cron()  # the disk accepts writes again
        assert "AOF write error looks solved, Redis can write again." in capsys.readouterr().out
        assert reader("SET", "x", "1") == b"OK"
        assert [b"SET", b"lost-ack", b"1"] in incr_commands()  # in memory, so in the log after all
    finally:
        h.close()


def test_a_short_write_is_cut_back_to_the_last_complete_command(workdir, monkeypatch):
    h = AofServer("--appendfsync", "always")
    try:
        c = h.client()
        c("SET", "k", "v")
        good = os.path.getsize(incr_path(workdir))
        real_write = os.write
        state = {"n": 0}

        def half_then_fail(fd, data):
            state["n"] += 1
            if state["n"] == 1:
                return real_write(fd, bytes(data)[:7])
            raise ENOSPC

        monkeypatch.setattr(writer_module.os, "write", half_then_fail)
        c2 = h.client()
        c2.send("SET", "big", "x" * 100)
        h.turn()
        assert c2.closed
        assert os.path.getsize(incr_path(workdir)) == good
        file_commands(incr_path(workdir))  # a clean file: no unfinished command at its end
    finally:
        h.close()


def test_an_fsync_error_under_always_stops_acknowledging_writes_until_a_rewrite(workdir, monkeypatch):
    h = AofServer("--appendfsync", "always")
    try:
        c, other = h.client(), h.client()
        c("SET", "k", "v")
        real_fsync = os.fdatasync
        monkeypatch.setattr(writer_module.os, "fdatasync", lambda fd: (_ for _ in ()).throw(EIO))
        c.send("SET", "unsafe", "1")
        h.settle()
        assert c.replies() == [] and c.closed
        monkeypatch.setattr(writer_module.os, "fdatasync", real_fsync)
        # The fsync works again, but the file it failed on is never trusted: writes stay refused.
        assert str(other("SET", "x", "1")) == "MISCONF Errors writing to the AOF file: Input/output error"
        assert other("GET", "k") == b"v"
        h.aof.cron()  # starts a rewrite to replace the file
        assert h.aof.rewriting
        assert str(other("SET", "x", "1")).startswith("MISCONF")  # until the rewrite is done
        h.wait(lambda: not h.aof.rewriting)
        assert other("SET", "x", "1") == b"OK"
        assert b"aof_last_write_status:ok" in other("INFO", "persistence")
    finally:
        h.close()
    h = AofServer()
    try:
        data = h.server.keyspace.dbs[0].data
        assert data[b"unsafe"] == b"1" and data[b"x"] == b"1"  # the rewrite wrote what memory held
    finally:
        h.close()


def test_no_appendfsync_on_rewrite_skips_the_fsync_while_a_snapshot_runs(workdir, calls):
    h = AofServer("--appendfsync", "always", "--no-appendfsync-on-rewrite", "yes", "--rdb-key-save-delay", "100000")
    try:
        c = h.client()
        c("SET", "a", "1")
        assert c("BGSAVE") == b"Background saving started"
        calls.clear()
        c("SET", "b", "2")
        assert calls == ["write"]
    finally:
        h.server.rdb.abort_bgsave()
        h.close()


def test_info_reports_the_aof_fields(workdir):
    h = AofServer("--appendfsync", "always")
    try:
        c = h.client()
        c("SET", "k", "v")
        info = dict(line.split(":", 1) for line in c("INFO", "persistence").decode().split("\r\n")
                    if ":" in line)
        for field in ("aof_enabled", "aof_rewrite_in_progress", "aof_rewrite_scheduled",
                      "aof_last_rewrite_time_sec", "aof_current_rewrite_time_sec", "aof_last_bgrewrite_status",
                      "aof_rewrites", "aof_last_write_status", "aof_current_size", "aof_base_size",
                      "aof_buffer_length", "aof_pending_bio_fsync", "aof_delayed_fsync"):
            assert field in info, field
        assert info["aof_enabled"] == "1" and info["aof_last_write_status"] == "ok"
        # As Redis counts after a start with no AOF: the incr file only, base size 0.
        assert int(info["aof_current_size"]) == os.path.getsize(incr_path(workdir))
        assert info["aof_base_size"] == "0"
        assert info["aof_buffer_length"] == "0"
    finally:
        h.close()


def test_the_buffer_is_written_and_fsynced_at_shutdown(workdir, calls):
    h = AofServer("--appendfsync", "no")
    c = h.client()
    c("SET", "k", "v")
    h.aof.log.feed([(0, [b"SET", b"late", b"1"])], False)  # logged by the cron, not yet written
    calls.clear()
    h.close()
    assert calls == ["write", "fsync"]
    assert file_commands(incr_path(workdir))[-1] == [b"SET", b"late", b"1"]


def test_an_encoded_batch_is_exactly_what_the_file_gets(workdir):
    h = AofServer()
    try:
        h.client()("SET", "k", "v")
        assert open(incr_path(workdir), "rb").read() == encode_command([b"SELECT", b"0"]) + encode_command(
            [b"SET", b"k", b"v"])
    finally:
        h.close()


def test_replies_held_for_a_postponed_write_go_once_a_rewrite_has_written_it(workdir):
    """A rewrite starting writes the buffer to the old file (forced): the replies held for it must not
    then wait for some later write that may never come."""
    h = AofServer("--appendfsync", "everysec")
    try:
        c, admin = h.client(), h.client()
        h.aof.bio.fsyncs = 1  # a background fsync that has not ended yet: writes are postponed
        c.send("SET", "a", "1")
        h.turn()
        assert c.replies() == []
        assert admin("BGREWRITEAOF") == b"Background append only file rewriting started"
        h.aof.bio.fsyncs = 0
        assert file_commands(incr_path(workdir))[-1] == [b"SET", b"a", b"1"]
        h.aof.cron()
        h.turn()
        assert c.replies() == [b"OK"]
    finally:
        h.aof.bio.fsyncs = 0
        h.close()


def test_a_protocol_error_does_not_carry_out_replies_held_for_the_log(workdir):
    h = AofServer("--appendfsync", "everysec")
    try:
        c = h.client()
        h.aof.bio.fsyncs = 1  # a background fsync that has not ended yet: writes are postponed
        c.send("SET", "a", "1")
        h.turn()
        c.inner.send(b"*1\r\n$x\r\n")  # a framing error, then more input that must be ignored
        c.send("SET", "b", "2")
        h.turn()
        assert c.replies() == [] and not c.closed  # the SET is not in the log yet: nothing leaves
        h.aof.bio.fsyncs = 0
        h.aof.cron()
        h.turn()
        replies = c.replies()
        assert replies[0] == b"OK" and str(replies[1]).startswith("ERR Protocol error") and len(replies) == 2
        assert c.closed
        assert file_commands(incr_path(workdir))[-1] == [b"SET", b"a", b"1"]
    finally:
        h.aof.bio.fsyncs = 0
        h.close()
