"""Faults: a full disk under a running server, bit flips and argument-count flips in the log. Every
case has a clear outcome (loaded, or refused with one line) and never a crash or a traceback."""

from __future__ import annotations

import random
import resource
import subprocess
import time

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from emberkv.persistence.aof.format import encode_command
from tests.aof_support import AOF_DIR, AofServer, resp, write_aof_dir
from tests.servers import ServerProcess, emberkv_argv, free_port

BASE = resp([b"SELECT", b"0"], [b"SET", b"base", b"1"])
INCR = resp([b"SELECT", b"0"], [b"SET", b"a", b"1"], [b"INCR", b"a"], [b"MULTI"], [b"SET", b"b", b"x"],
            [b"APPEND", b"b", b"y"], [b"EXEC"], [b"SET", b"c", b"3"])


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def outcome(capsys) -> tuple[bool, str]:
    h = AofServer(loglevel="warning")
    try:
        out = capsys.readouterr().out
        assert "Traceback" not in out
        return h.started, out
    finally:
        h.close()


def test_single_bit_flips_either_load_or_stop_with_one_line(workdir, capsys):
    rng = random.Random(3)
    loaded = refused = 0
    for _ in range(120):
        data = bytearray(INCR)
        data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        write_aof_dir(workdir, bytes(data), BASE)
        started, out = outcome(capsys)
        if started:
            loaded += 1
        else:
            refused += 1
            fatal = [line for line in out.splitlines() if " # " in line]
            assert fatal and "appendonly.aof.1.incr.aof" in fatal[-1], out
    assert loaded and refused


@pytest.mark.parametrize("old, new, words", [
    (b"*3\r\n$3\r\nSET\r\n$1\r\nc", b"*2\r\n$3\r\nSET\r\n$1\r\nc",
     "Wrong number of arguments for 'set' command reading the append only file appendonly.aof.1.incr.aof"),
    (b"*3\r\n$3\r\nSET\r\n$1\r\nc", b"*4\r\n$3\r\nSET\r\n$1\r\nc", "unfinished command"),
    (b"*2\r\n$4\r\nINCR", b"*3\r\n$4\r\nINCR", "Bad file format reading the append only file "
     "appendonly.aof.1.incr.aof at offset 71 (expected '$', got '*')"),
    (b"*2\r\n$4\r\nINCR", b"*1\r\n$4\r\nINCR", "Wrong number of arguments for 'incr' command"),
])
def test_argument_count_flips_are_caught(workdir, capsys, old, new, words):
    assert old in INCR
    write_aof_dir(workdir, INCR.replace(old, new, 1), BASE)
    started, out = outcome(capsys)
    if started:  # the flipped command was the last one: it reads as a torn tail, cut off
        assert words in out and "Truncating the AOF" in out
    else:
        assert words in out


def test_a_missing_incr_file_stops_start_up(workdir, capsys):
    d = write_aof_dir(workdir, INCR, BASE)
    (d / "appendonly.aof.1.incr.aof").unlink()
    started, out = outcome(capsys)
    assert not started
    assert "Unable to obtain the AOF file appendonly.aof.1.incr.aof length. stat: No such file or directory" in out


def start_with_file_size_limit(workdir, limit: int) -> ServerProcess:
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    argv = emberkv_argv(port, workdir, "--appendonly", "yes", "--appendfsync", "always")
    server = ServerProcess(argv, port, workdir, workdir / "emberkv.log")
    real_popen = subprocess.Popen

    def limited(*args, **kwargs):
        kwargs["preexec_fn"] = lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
        return real_popen(*args, **kwargs)

    subprocess.Popen = limited
    try:
        return server.start()
    finally:
        subprocess.Popen = real_popen


def test_a_full_disk_refuses_writes_keeps_reads_and_recovers(tmp_path):
    """RLIMIT_FSIZE makes writes past 64 KB fail with EFBIG (and a short write at the edge), the way a
    full disk fails them; raising it is the disk accepting writes again."""
    server = start_with_file_size_limit(tmp_path, 64 * 1024)
    try:
        r = server.client(retry=Retry(NoBackoff(), 0))  # see what happens to each write, no resending
        acked = []
        failures = 0
        for i in range(200):
            try:
                r.set(f"key:{i}", "x" * 1000)
                acked.append(i)
            except redis.ConnectionError:
                failures += 1  # the write did not reach the log: no reply, the connection closed
            except redis.ResponseError as exc:
                assert str(exc).endswith("Errors writing to the AOF file: File too large")  # MISCONF
                break
        assert failures == 1 and acked
        assert r.get(f"key:{acked[0]}") == b"x" * 1000  # reads go on
        assert r.info("persistence")["aof_last_write_status"] == "err"
        resource.prlimit(server.proc.pid, resource.RLIMIT_FSIZE,
                         (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        deadline = time.time() + 5
        while r.info("persistence")["aof_last_write_status"] != "ok":
            assert time.time() < deadline, "writes did not resume"
            time.sleep(0.1)
        r.set("after", "recovery")
        assert "AOF write error looks solved, Redis can write again." in server.log()
    finally:
        server.stop()
    incr = (tmp_path / AOF_DIR / "appendonly.aof.1.incr.aof").read_bytes()
    assert incr.endswith(encode_command([b"SET", b"after", b"recovery"]))
    server = ServerProcess(emberkv_argv(free_port(), tmp_path, "--appendonly", "yes"), 0, tmp_path,
                           tmp_path / "emberkv.log")
    server.port = int(server.argv[server.argv.index("--port") + 1])
    server.start()
    try:
        r = server.client()
        assert all(r.exists(f"key:{i}") for i in acked)
        assert r.get("after") == b"recovery"
    finally:
        server.stop()
