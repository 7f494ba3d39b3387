"""Saving when the disk says no: a full disk (a small tmpfs when we may mount one, else RLIMIT_FSIZE, and
an injected ENOSPC in-process), an unwritable or vanished directory, failing fsyncs: the old file stays
intact, the temp file is gone, the error is logged, ``rdb_last_bgsave_status`` is err and writes (and
PING) get -MISCONF until a save succeeds, unless stop-writes-on-bgsave-error is off.
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
from tests.persistence_support import Persisting, bgsave_done, fill, persistence, raw, read_rdb, wait_for
from tests.servers import REDIS_SERVER, ServerProcess, emberkv_argv, free_port, start_emberkv, start_redis

MISCONF = (
    "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. "
    "Commands that may modify the data set are disabled, because this instance is configured to report "
    "errors during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check "
    "the Redis logs for details about the RDB error."
)


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


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
