"""Faults around RDB files: the server never loads a damaged file, never replaces a good one with a bad
one, and says what went wrong in one line.

* Loading: a file cut at any offset, or with any one bit flipped (checksum on), is refused with the
  file name and the byte offset, leaving nothing loaded; at start-up that stops the server (exit code 1,
  one log line, no traceback), as does an unreadable or 0-byte file.
* Saving: a full disk (a small tmpfs when we may mount one, else RLIMIT_FSIZE, and an injected ENOSPC
  in-process), an unwritable or vanished directory: the old file stays intact, the temp file is gone,
  the error is logged, ``rdb_last_bgsave_status`` is err and writes (and PING) get -MISCONF until a
  save succeeds, unless stop-writes-on-bgsave-error is off.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import redis

from emberkv.persistence.files import AtomicFile
from emberkv.persistence.loading import LoadError, load_rdb
from emberkv.server.startup import start_persistence
from tests.inproc import InProcessServer
from tests.servers import REDIS_SERVER, ServerProcess, emberkv_argv, free_port, start_emberkv, start_redis
from tests.test_persistence_saving import bgsave_done, fill, persistence, raw, read_rdb, wait_for

MISCONF = (
    "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. "
    "Commands that may modify the data set are disabled, because this instance is configured to report "
    "errors during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check "
    "the Redis logs for details about the RDB error."
)


class Persisting:
    """An in-process server with persistence attached (as emberkv-server starts), in the current dir."""

    def __init__(self, *options: str) -> None:
        self.srv = InProcessServer("--appendonly", "no", *options)
        self.server = self.srv.server
        self.started = self.srv.loop.run_until_complete(start_persistence(self.server))
        self.c = self.srv.client()

    def wait(self, predicate, timeout: float = 10.0) -> None:
        loop = self.srv.loop
        deadline = loop.time() + timeout
        while not predicate():
            assert loop.time() < deadline, "condition not reached in time"
            self.srv.advance(0.005)

    def close(self) -> None:
        self.srv.close()


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def sample_file(path: Path, keys: int = 40) -> bytes:
    """A small RDB of every type, written by our own SAVE."""
    h = Persisting()
    try:
        c = h.c
        for i in range(keys):
            c("SET", f"s{i}", f"value {i}" * (i % 4 + 1))
        c("RPUSH", "list", *range(20))
        c("HSET", "hash", "a", 1, "b", "x" * 80)
        c("SADD", "intset", 1, 2, 3)
        c("SADD", "set", "a", "b")
        c("ZADD", "zset", 1, "a", 2.5, "b")
        c("SET", "ttl", "v", "PXAT", 4102444800000)
        c("SET", "compressible", "abc" * 100)
        c("SELECT", 3)
        c("SET", "other-db", 1)
        assert c("SAVE") == b"OK"
    finally:
        h.close()
    return path.read_bytes()


def try_load(path: Path) -> tuple[str | None, int]:
    """Load path at start-up in-process: (the LoadError line or None, keys in memory afterwards)."""
    srv = InProcessServer()
    try:
        try:
            srv.loop.run_until_complete(load_rdb(srv.server, str(path)))
        except LoadError as exc:
            return str(exc), sum(len(db.data) for db in srv.server.keyspace.dbs)
        return None, sum(len(db.data) for db in srv.server.keyspace.dbs)
    finally:
        srv.close()


# -- loading damaged files -----------------------------------------------------------------------

def test_a_file_cut_at_any_offset_is_refused_naming_file_and_offset(workdir):
    data = sample_file(workdir / "dump.rdb")
    cut = workdir / "cut.rdb"
    for size in range(len(data)):
        cut.write_bytes(data[:size])
        error, keys = try_load(cut)
        assert error is not None, f"a file cut at {size} of {len(data)} bytes loaded"
        assert str(cut) in error and " offset " in error and "\n" not in error
        assert keys == 0
    assert try_load(workdir / "dump.rdb") == (None, 48)


def test_any_flipped_bit_is_refused_when_the_file_has_a_checksum(workdir):
    data = sample_file(workdir / "dump.rdb", keys=5)
    bad = workdir / "bad.rdb"
    for i in range(len(data)):
        for bit in range(8):
            flipped = bytearray(data)
            flipped[i] ^= 1 << bit
            bad.write_bytes(flipped)
            error, keys = try_load(bad)
            assert error is not None, f"bit {bit} of byte {i} flipped and the file still loaded"
            assert keys == 0


def test_truncated_file_in_the_middle_of_a_big_value_names_a_later_offset(workdir):
    data = sample_file(workdir / "dump.rdb")
    (workdir / "cut.rdb").write_bytes(data[: len(data) - 20])
    error, _ = try_load(workdir / "cut.rdb")
    offset = int(error.split(" offset ")[1].split(":")[0])
    assert 0 < offset <= len(data) - 20


def start_fails(workdir: Path, *extra: str) -> str:
    """Start emberkv-server in workdir; it must exit with 1. Returns what it printed."""
    argv = emberkv_argv(free_port(), workdir, *extra)
    result = subprocess.run(argv, capture_output=True, text=True, timeout=30, cwd=workdir)
    assert result.returncode == 1, result.stdout + result.stderr
    output = result.stdout + result.stderr
    assert "Traceback" not in output
    return output


def fatal_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if " # " in line and "dump.rdb" in line]


@pytest.mark.parametrize("damage", ["empty", "header only", "cut in a key", "checksum", "flipped bit",
                                    "garbage", "newer version", "stream"])
def test_start_up_stops_on_a_damaged_file_with_one_line(tmp_path, damage):
    workdir = tmp_path / "server"
    workdir.mkdir()
    good = sample_file_in(tmp_path)
    damaged = {
        "empty": b"",
        "header only": good[:9],
        "cut in a key": good[: len(good) // 2],
        "checksum": good[:-1] + bytes([good[-1] ^ 0x80]),
        "flipped bit": good[:60] + bytes([good[60] ^ 4]) + good[61:],
        "garbage": b"this is not an RDB file at all",
        "newer version": b"REDIS0011" + good[9:],
        "stream": stream_fixture(),
    }[damage]
    (workdir / "dump.rdb").write_bytes(damaged)
    output = start_fails(workdir)
    lines = fatal_lines(output)
    assert len(lines) == 1, output
    assert str(workdir / "dump.rdb") in lines[0] and " offset " in lines[0]
    assert "Ready to accept connections" not in output
    assert (workdir / "dump.rdb").read_bytes() == damaged  # never touched


def sample_file_in(tmp_path: Path) -> bytes:
    d = tmp_path / "sample"
    d.mkdir(exist_ok=True)
    cwd = os.getcwd()
    os.chdir(d)
    try:
        return sample_file(d / "dump.rdb")
    finally:
        os.chdir(cwd)


def stream_fixture() -> bytes:
    """A valid Redis file with a stream key (a type emberkv refuses by name), else a stand-in."""
    from tests.servers import FIXTURES

    for path in sorted((FIXTURES / "rdb").rglob("*.rdb")):
        if "stream" in path.name:
            return path.read_bytes()
    return b"REDIS0010\xff"  # no fixtures: a file cut before its checksum still makes the point


def test_start_up_stops_when_the_file_cannot_be_read(tmp_path):
    workdir = tmp_path / "server"
    workdir.mkdir()
    (workdir / "dump.rdb").mkdir()  # reading a directory fails even for root
    output = start_fails(workdir)
    lines = [line for line in output.splitlines() if "dump.rdb" in line]
    assert len(lines) == 1 and "Is a directory" in lines[0], output


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_start_up_stops_when_the_file_is_not_readable(tmp_path):
    workdir = tmp_path / "server"
    workdir.mkdir()
    (workdir / "dump.rdb").write_bytes(sample_file_in(tmp_path))
    (workdir / "dump.rdb").chmod(0)
    output = start_fails(workdir)
    assert "Permission denied" in output


def test_a_missing_file_starts_empty(emberkv):
    assert emberkv.client().dbsize() == 0
    assert "DB loaded from disk" not in emberkv.log()


# -- saving onto a full disk or into an unwritable directory ---------------------------------------

@contextlib.contextmanager
def mounted_tmpfs(path: Path, size: str, read_only: bool = False):
    """A small tmpfs at path, or None when this process may not mount one."""
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or shutil.which("mount") is None:
        yield None
        return
    options = f"size={size}" + (",ro" if read_only else "")
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True)
    if result.returncode != 0:
        yield None
        return
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def assert_failed_save_left_old_file(server, old: bytes, directory: Path) -> None:
    r = server.client()
    wait_for(lambda: bgsave_done(r), what="the end of the failed BGSAVE")
    info = persistence(r)
    assert info["rdb_last_bgsave_status"] == "err"
    assert (directory / "dump.rdb").read_bytes() == old
    assert not list(directory.glob("temp-*.rdb"))
    with pytest.raises(redis.ResponseError) as refused:
        r.set("x", 1)
    assert str(refused.value) == MISCONF
    with pytest.raises(redis.ResponseError, match="^MISCONF"):
        r.ping()
    assert r.get("key:1") == b"value:1"  # reads are served


@pytest.mark.parametrize("how", ["tmpfs", "rlimit"])
def test_full_disk_keeps_the_old_file_and_refuses_writes_until_a_save_succeeds(tmp_path, how):
    """tmpfs: a real ENOSPC (needs permission to mount). rlimit: RLIMIT_FSIZE, which makes writes past
    the limit fail with EFBIG (Python ignores SIGXFSZ); it works anywhere prlimit exists."""
    options = ("--save", "3600 1", "--enable-protected-configs", "yes", "--rdbcompression", "no")
    with mounted_tmpfs(tmp_path / "small", "256k") as mounted:
        if how == "tmpfs":
            if mounted is None:
                pytest.skip("cannot mount a tmpfs here (not root, or not permitted): the rlimit case runs")
            server = start_emberkv(tmp_path / "server", *options)
            small, log_path = mounted, None
        else:
            small = tmp_path / "roomy"
            small.mkdir()
            log_path = tmp_path / "server.log"
            server = start_limited(tmp_path / "server", 256 * 1024, *options, "--logfile", str(log_path))
        try:
            r = server.client()
            r.config_set("dir", str(small))
            fill(r, 200)
            assert r.save() is True  # fits
            old = (small / "dump.rdb").read_bytes()
            for i in range(3000):
                r.set(f"big:{i}", "x" * 100)
            assert [str(e) for e in raw(server.port, ("SAVE",))] == ["ERR"]
            assert (small / "dump.rdb").read_bytes() == old
            assert not list(small.glob("temp-*.rdb"))
            assert r.bgsave() is True
            assert_failed_save_left_old_file(server, old, small)
            log = server.log() if log_path is None else log_path.read_text()
            reason = "No space left on device" if how == "tmpfs" else "File too large"
            assert f"Write error saving DB on disk: {reason}" in log
            assert "Background saving error" in log
            if how == "rlimit":
                return  # the limit holds for every directory; recovery is shown with the tmpfs
            # Room again: the next save succeeds and writes are accepted.
            r.config_set("dir", str(server.dir))
            assert r.bgsave() is True
            wait_for(lambda: bgsave_done(r))
            assert persistence(r)["rdb_last_bgsave_status"] == "ok"
            assert r.set("x", 1) is True and r.ping() is True
        finally:
            server.stop(signal.SIGKILL)


def start_limited(workdir: Path, fsize: int, *extra: str) -> ServerProcess:
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    argv = ["prlimit", f"--fsize={fsize}", "--", *emberkv_argv(port, workdir, *extra)]
    if shutil.which("prlimit") is None:
        pytest.skip("neither a tmpfs mount nor prlimit is available to make a disk full")
    return ServerProcess(argv, port, workdir, workdir.parent / "stdout.log").start()


def test_unwritable_directory_fails_the_save_clearly(tmp_path):
    with mounted_tmpfs(tmp_path / "ro", "64k", read_only=True) as ro:
        if ro is None and os.geteuid() == 0:
            pytest.skip("running as root without permission to mount a read-only tmpfs: root writes anywhere")
        if ro is None:
            ro = tmp_path / "ro"
            ro.chmod(0o500)
        server = start_emberkv(tmp_path / "server", "--save", "3600 1", "--enable-protected-configs", "yes")
        try:
            r = server.client()
            fill(r, 20)
            r.config_set("dir", str(ro))
            assert [str(e) for e in raw(server.port, ("SAVE",))] == ["ERR"]
            assert r.bgsave() is True  # as in Redis: started, then it fails
            wait_for(lambda: bgsave_done(r))
            assert persistence(r)["rdb_last_bgsave_status"] == "err"
            log = server.log()
            assert f"Failed opening the temp RDB file temp-{server.proc.pid}.rdb (in server root dir {ro})" in log
            assert "Background saving error" in log
            with pytest.raises(redis.ResponseError, match="^MISCONF"):
                r.set("x", 1)
        finally:
            server.stop(signal.SIGKILL)


def test_vanished_directory_fails_the_save_and_a_good_one_recovers(tmp_path):
    server = start_emberkv(tmp_path / "server", "--save", "3600 1", "--enable-protected-configs", "yes")
    try:
        r = server.client()
        fill(r, 20)
        r.save()
        old = (server.dir / "dump.rdb").read_bytes()
        gone = tmp_path / "gone"
        gone.mkdir()
        r.config_set("dir", str(gone))
        gone.rmdir()
        assert r.bgsave() is True
        r2 = server.client()
        wait_for(lambda: bgsave_done(r2))
        assert "No such file or directory" in server.log()
        gone.mkdir()
        (gone / "dump.rdb").write_bytes(old)
        assert_failed_save_left_old_file(server, old, gone)
        r.config_set("dir", str(server.dir))  # its working directory is still the removed one
        assert r.save() is True  # a foreground save that works clears the state too
        assert r.set("x", 1) is True
        assert persistence(r)["rdb_last_bgsave_status"] == "ok"
    finally:
        server.stop(signal.SIGKILL)


def test_stop_writes_on_bgsave_error_no_keeps_accepting_writes(tmp_path):
    server = start_emberkv(tmp_path / "server", "--save", "3600 1", "--enable-protected-configs", "yes",
                           "--stop-writes-on-bgsave-error", "no")
    try:
        r = server.client()
        (tmp_path / "gone").mkdir()
        r.config_set("dir", str(tmp_path / "gone"))
        (tmp_path / "gone").rmdir()
        r.bgsave()
        wait_for(lambda: bgsave_done(r))
        assert persistence(r)["rdb_last_bgsave_status"] == "err"
        assert r.set("x", 1) is True and r.ping() is True
        r.config_set("stop-writes-on-bgsave-error", "yes")
        with pytest.raises(redis.ResponseError, match="^MISCONF"):
            r.set("x", 2)
        r.config_set("save", "")  # no save points: nothing to refuse for
        assert r.set("x", 3) is True
    finally:
        server.stop(signal.SIGKILL)


@pytest.mark.skipif(REDIS_SERVER is None, reason="redis-server is not installed (CI installs it)")
def test_misconf_replies_are_redis_replies(tmp_path):
    replies = []
    for start in (start_emberkv, start_redis):
        name = start.__name__
        server = start(tmp_path / name, "--save", "3600 1", "--enable-protected-configs", "yes")
        try:
            r = server.client()
            r.set("k", "v")
            (tmp_path / f"{name}-gone").mkdir()
            r.config_set("dir", str(tmp_path / f"{name}-gone"))
            (tmp_path / f"{name}-gone").rmdir()
            out = [r.execute_command("BGSAVE")]
            wait_for(lambda r=r: bgsave_done(r))
            for command in (("SET", "k", "w"), ("PING",), ("GET", "k"), ("DEL", "k"), ("ECHO", "x"),
                            ("INCR", "n"), ("DBSIZE",)):
                try:
                    out.append(r.execute_command(*command))
                except redis.ResponseError as exc:
                    out.append(str(exc))
            replies.append(out)
        finally:
            server.stop(signal.SIGKILL)
    assert replies[0] == replies[1]


# -- in-process: injected failures and races --------------------------------------------------------

def test_injected_enospc_fails_save_and_bgsave_and_removes_the_temp_file(workdir, monkeypatch):
    h = Persisting("--save", "3600 1")
    try:
        for i in range(2000):
            h.c("SET", f"k{i}", "v" * 50)
        assert h.c("SAVE") == b"OK"
        old = (workdir / "dump.rdb").read_bytes()
        h.c("SET", "more", 1)

        def full(self, data):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        monkeypatch.setattr(AtomicFile, "write", full)
        assert str(h.c("SAVE")) == "ERR"
        assert h.c("BGSAVE") == b"Background saving started"
        h.wait(lambda: h.server.rdb.bgsave is None)
        assert b"rdb_last_bgsave_status:err" in h.c("INFO", "persistence")
        assert (workdir / "dump.rdb").read_bytes() == old
        assert sorted(p.name for p in workdir.iterdir()) == ["dump.rdb"]
        assert str(h.c("SET", "x", 1)).startswith("MISCONF")
        monkeypatch.undo()
        assert h.c("BGSAVE") == b"Background saving started"
        h.wait(lambda: h.server.rdb.bgsave is None)
        assert h.c("SET", "x", 1) == b"OK"
    finally:
        h.close()


def test_an_fsync_failure_fails_the_bgsave(workdir, monkeypatch):
    h = Persisting()
    try:
        h.c("SET", "k", "v")

        def broken(self):
            raise OSError(errno.EIO, os.strerror(errno.EIO))

        monkeypatch.setattr(AtomicFile, "sync", broken)
        h.c("BGSAVE")
        h.wait(lambda: h.server.rdb.bgsave is None)
        assert b"rdb_last_bgsave_status:err" in h.c("INFO", "persistence")
        assert not (workdir / "dump.rdb").exists() and not list(workdir.glob("temp-*"))
    finally:
        h.close()


def test_a_bgsave_aborted_while_syncing_never_commits_the_next_ones_file(workdir, monkeypatch):
    """The first save's fsync finishes after FLUSHALL stopped it and a second save began: the late
    callback must neither rename the second's half-written temp file nor end it."""
    h = Persisting()
    try:
        for i in range(50):
            h.c("SET", f"k{i}", "v")
        gate = threading.Event()
        real_sync = AtomicFile.sync

        def slow_sync(self):
            gate.wait(10)
            real_sync(self)

        monkeypatch.setattr(AtomicFile, "sync", slow_sync)
        h.c("BGSAVE")
        h.wait(lambda: h.server.keyspace.snapshot is None)  # written, now syncing
        first = h.server.rdb.bgsave
        assert first is not None and first.finished
        h.c("FLUSHALL")
        h.c("CONFIG", "SET", "rdb-key-save-delay", 100000)
        for i in range(5):
            h.c("SET", f"second{i}", "v")
        assert h.c("BGSAVE") == b"Background saving started"
        second = h.server.rdb.bgsave
        gate.set()
        h.srv.advance(0.25)
        assert h.server.rdb.bgsave is second and not second.finished
        assert not (workdir / "dump.rdb").exists()
        h.wait(lambda: h.server.rdb.bgsave is None)
        assert set(read_rdb(workdir / "dump.rdb").dbs[0].data) == {b"second%d" % i for i in range(5)}
    finally:
        h.close()


def test_save_points_retry_a_failed_bgsave_only_after_five_seconds(workdir, monkeypatch):
    h = Persisting("--save", "1 1")
    try:
        rdb = h.server.rdb
        h.c("SET", "k", "v")
        monkeypatch.setattr(AtomicFile, "write", lambda self, data: (_ for _ in ()).throw(OSError(28, "full")))
        h.server.persistence.rdb_last_save_time -= 5
        rdb.cron()
        h.wait(lambda: rdb.bgsave is None)
        assert h.server.persistence.rdb_saves == 1 and not h.server.persistence.rdb_last_bgsave_ok
        rdb.cron()
        assert rdb.bgsave is None and h.server.persistence.rdb_saves == 1  # too soon
        monkeypatch.undo()
        rdb.last_bgsave_try -= 6
        rdb.cron()
        h.wait(lambda: rdb.bgsave is None)
        assert h.server.persistence.rdb_saves == 2 and h.server.persistence.rdb_last_bgsave_ok
    finally:
        h.close()


def test_startup_stops_and_keeps_nothing_for_a_damaged_file_in_process(workdir):
    data = sample_file(workdir / "dump.rdb")
    (workdir / "dump.rdb").write_bytes(data[:-3])
    srv = InProcessServer("--appendonly", "no")
    try:
        assert srv.loop.run_until_complete(start_persistence(srv.server)) is False
        assert all(not db.data for db in srv.server.keyspace.dbs)
        assert not srv.server.persistence.loading
    finally:
        srv.close()


def test_load_errors_never_escape_as_tracebacks(workdir, monkeypatch):
    """Whatever the codec raises becomes one LoadError line with the file and offset."""
    sample_file(workdir / "dump.rdb")

    def broken(*args, **kwargs):
        raise ValueError("something unexpected")

    monkeypatch.setattr("emberkv.persistence.rdb.reader.RdbReader.load_into", broken)
    error, keys = try_load(workdir / "dump.rdb")
    assert error is not None and "something unexpected" in error and " offset " in error and keys == 0


def test_python_ignores_sigxfsz_so_rlimit_gives_efbig():
    """start_limited relies on this: a write past RLIMIT_FSIZE fails instead of killing the server."""
    code = "import signal; print(signal.getsignal(signal.SIGXFSZ) == signal.SIG_IGN)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "True"


def test_bgsave_fsyncs_as_it_goes_and_an_error_there_fails_the_save(workdir, monkeypatch):
    """rdb-save-incremental-fsync: a background fdatasync every few MB (here every KB). An I/O error
    reported to one of them must fail the save even if the final fsync then succeeds."""
    h = Persisting()
    try:
        for i in range(3000):
            h.c("SET", f"k{i}", "v" * 40)
        monkeypatch.setattr("emberkv.persistence.saving.INCREMENTAL_FSYNC_BYTES", 1024)
        monkeypatch.setattr("emberkv.persistence.rdb.writer.FLUSH_AT", 4096)
        calls = []
        real = os.fdatasync
        monkeypatch.setattr(os, "fdatasync", lambda fd: (calls.append(fd), real(fd)))
        h.c("BGSAVE")
        h.wait(lambda: h.server.rdb.bgsave is None)
        assert len(calls) > 10
        assert b"rdb_last_bgsave_status:ok" in h.c("INFO", "persistence")
        assert len(read_rdb(workdir / "dump.rdb").dbs[0].data) == 3000

        def failing(fd):
            raise OSError(errno.EIO, os.strerror(errno.EIO))

        monkeypatch.setattr(os, "fdatasync", failing)
        before = (workdir / "dump.rdb").read_bytes()
        h.c("SET", "more", 1)
        h.c("BGSAVE")
        h.wait(lambda: h.server.rdb.bgsave is None)
        assert b"rdb_last_bgsave_status:err" in h.c("INFO", "persistence")
        assert (workdir / "dump.rdb").read_bytes() == before
        h.c("CONFIG", "SET", "rdb-save-incremental-fsync", "no")
        h.c("CONFIG", "SET", "stop-writes-on-bgsave-error", "no")
        h.c("SET", "more", 2)
        h.c("BGSAVE")
        h.wait(lambda: h.server.rdb.bgsave is None)
        assert b"rdb_last_bgsave_status:ok" in h.c("INFO", "persistence")
    finally:
        h.close()
