"""Loading an RDB file at start-up and with DEBUG RELOAD, on a spawned emberkv-server.

* Round trips: every type in every encoding, saved by SAVE or BGSAVE (or at shutdown), comes back
  after a restart with the same DEBUG DIGEST and the same OBJECT ENCODING of every key.
* While a file loads, clients get -LOADING (INFO and the other ``loading`` commands are answered)
  and INFO shows the progress fields; the log says how far it got. ``key-load-delay`` (µs per key)
  makes a small file load slowly enough to watch, as in Redis; the replies and INFO field names are
  compared with a real redis-server 7.0 loading the same file.
* Keys whose time passed are dropped on load and counted; a shutdown during the load exits without
  saving (the incomplete dataset must not replace the file).
"""

from __future__ import annotations

import random
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import redis

from emberkv.keyspace.db import Keyspace
from emberkv.keyspace.values import HashValue, ListValue, SetValue
from emberkv.persistence.rdb.writer import rdb_save_keyspace
from tests.inproc import encode_request
from tests.persistence_support import bgsave_done, digest, persistence, raw, wait_for
from tests.servers import REDIS_SERVER, ServerProcess, emberkv_argv, free_port, redis_argv, start_emberkv
from tests.test_rdb_interop import populate


def encodings(r: redis.Redis) -> dict:
    out = {}
    for dbid in (0, 1, 15):
        r.execute_command("SELECT", dbid)
        for key in r.keys():
            out[(dbid, key)] = r.object("encoding", key)
    r.execute_command("SELECT", 0)
    return out


def restart(server: ServerProcess, *extra: str) -> ServerProcess:
    """Stop server (SIGKILL: no final save) and start a new one on the same directory."""
    server.stop(signal.SIGKILL)
    return start_emberkv(server.dir, *extra)


# -- round trips -----------------------------------------------------------------------------------

@pytest.mark.parametrize("how", ["SAVE", "BGSAVE", "SHUTDOWN", "DEBUG RELOAD"])
@pytest.mark.parametrize("options", [(), ("--hash-max-listpack-entries", "0", "--zset-max-listpack-entries", "0",
                                          "--set-max-intset-entries", "0"), ("--rdbcompression", "no")])
def test_every_type_and_encoding_survives_a_restart(tmp_path, how, options):
    server = start_emberkv(tmp_path / "server", *options)
    try:
        r = server.client()
        populate(server, random.Random(7))
        r.set("ttl-short", "v", px=10**9)
        want_digest, want_encodings = digest(r), encodings(r)
        if how == "SAVE":
            r.save()
        elif how == "BGSAVE":
            r.bgsave()
            wait_for(lambda: bgsave_done(r))
        elif how == "DEBUG RELOAD":
            assert r.execute_command("DEBUG", "RELOAD") == b"OK"
            assert digest(r) == want_digest and encodings(r) == want_encodings
            return
        else:
            r.config_set("save", "3600 1")
            server.stop(signal.SIGTERM)
        server = restart(server, *options)
        r = server.client()
        assert digest(r) == want_digest
        assert encodings(r) == want_encodings
        assert 0 < r.pttl("ttl-short") <= 10**9
        info = persistence(r)
        assert info["rdb_last_load_keys_loaded"] == sum(r.info("keyspace")[f"db{i}"]["keys"] for i in (0, 1, 15))
        assert "DB loaded from disk" in server.log()
    finally:
        server.stop(signal.SIGKILL)


def test_expired_keys_are_dropped_on_load_and_counted(tmp_path):
    workdir = tmp_path / "server"
    workdir.mkdir()
    ks = Keyspace()
    now = int(time.time() * 1000)
    db = ks.dbs[0]
    for i in range(100):
        db.data[b"live:%d" % i] = b"v"
        db.data[b"dead:%d" % i] = ListValue([b"a", b"b"]) if i % 2 else b"v"
        db.expires[b"dead:%d" % i] = now - 1000 - i
    db.data[b"later"] = HashValue({b"f": b"v"})
    db.expires[b"later"] = now + 10**8
    ks.dbs[2].data[b"gone"] = SetValue({b"1"})
    ks.dbs[2].expires[b"gone"] = 1
    with (workdir / "dump.rdb").open("wb") as f:
        rdb_save_keyspace(f, ks)
    server = start_emberkv(workdir)
    try:
        r = server.client()
        assert r.dbsize() == 101
        assert r.exists("dead:1", "dead:2") == 0 and r.ttl("later") > 0
        assert r.execute_command("SELECT", 2) and r.dbsize() == 0
        info = persistence(r)
        assert (info["rdb_last_load_keys_loaded"], info["rdb_last_load_keys_expired"]) == (101, 101)
        assert "Done loading RDB, keys loaded: 101, keys expired: 101." in server.log()
    finally:
        server.stop(signal.SIGKILL)


# -- while loading ---------------------------------------------------------------------------------

def big_file(path: Path, keys: int = 20000) -> int:
    ks = Keyspace()
    data = ks.dbs[0].data
    for i in range(keys):
        data[b"key:%08d" % i] = b"value:%d" % i
    with path.open("wb") as f:
        rdb_save_keyspace(f, ks, {b"used-mem": 12345678})
    return path.stat().st_size


def spawn(argv: list[str], port: int, workdir: Path, log: str) -> ServerProcess:
    """Start a server without waiting for it to be ready (it is loading)."""
    server = ServerProcess(argv, port, workdir, workdir / log)
    server.log_file = open(server.log_path, "ab")  # noqa: SIM115 - closed by stop()
    server.proc = subprocess.Popen(argv, stdout=server.log_file, stderr=subprocess.STDOUT, cwd=workdir,
                                   stdin=subprocess.DEVNULL)
    return server


def connect(port: int, timeout: float = 15.0) -> socket.socket:
    deadline = time.time() + timeout
    while True:
        try:
            return socket.create_connection(("127.0.0.1", port), timeout=5)
        except OSError:
            if time.time() > deadline:
                raise
            time.sleep(0.02)


def loading_replies(port: int) -> tuple[list, dict]:
    """Replies to a few commands while the server loads, and its INFO persistence as a dict."""
    connect(port).close()
    replies = raw(port, ("GET", "key:00000001"), ("SET", "k", "v"), ("DBSIZE",), ("ECHO", "hi"),
                  ("LASTSAVE",), ("INFO", "persistence"))
    info = dict(line.split(":", 1) for line in replies[-1].decode().splitlines() if ":" in line)
    out = [str(r) if isinstance(r, Exception) else r for r in replies[:-2]]
    return out, info


def test_clients_get_loading_and_info_shows_progress_while_a_file_loads(tmp_path):
    workdir = tmp_path / "server"
    workdir.mkdir()
    size = big_file(workdir / "dump.rdb", 30000)
    port = free_port()
    server = spawn(emberkv_argv(port, workdir, "--key-load-delay", "100"), port, workdir, "emberkv.log")
    try:
        replies, info = loading_replies(port)
        assert replies[0] == replies[1] == replies[2] == "LOADING Redis is loading the dataset in memory"
        assert replies[3] == b"hi"
        assert info["loading"] == "1"
        assert info["loading_total_bytes"] == str(size)
        assert info["loading_rdb_used_mem"] == "12345678"
        assert abs(int(info["loading_start_time"]) - time.time()) < 5
        first = int(info["loading_loaded_bytes"])
        assert 0 <= first < size
        assert 0.0 <= float(info["loading_loaded_perc"]) < 100.0
        assert int(info["loading_eta_seconds"]) >= 0
        time.sleep(1.2)
        _, later = loading_replies(port)
        assert later["loading"] == "1" and int(later["loading_loaded_bytes"]) > first
        wait_for(lambda: raw(port, ("DBSIZE",)) == [30000], timeout=30, what="the end of the load")
        done = server.client().info("persistence")
        assert done["loading"] == 0 and "loading_total_bytes" not in done
        log = server.log()
        assert "% done, ETA " in log and "DB loaded from disk" in log
        assert log.index("DB loaded from disk") < log.index("Ready to accept connections")
    finally:
        server.stop(signal.SIGKILL)


@pytest.mark.skipif(REDIS_SERVER is None, reason="redis-server is not installed (CI installs it)")
def test_replies_and_info_fields_while_loading_are_redis_ones(tmp_path):
    results = []
    for name, make_argv in (("emberkv", emberkv_argv), ("redis", redis_argv)):
        workdir = tmp_path / name
        workdir.mkdir()
        big_file(workdir / "dump.rdb", 30000)
        port = free_port()
        argv = make_argv(port, workdir, "--key-load-delay", "100", "--loading-process-events-interval-bytes",
                         "1024")
        server = spawn(argv, port, workdir, f"{name}.log")
        try:
            replies, info = loading_replies(port)
            results.append((replies, [k for k in info if k != "# Persistence"]))
        finally:
            server.stop(signal.SIGKILL)
    assert results[0] == results[1]


def test_sigterm_while_loading_exits_without_saving(tmp_path):
    workdir = tmp_path / "server"
    workdir.mkdir()
    big_file(workdir / "dump.rdb", 30000)
    before = (workdir / "dump.rdb").read_bytes()
    port = free_port()
    server = spawn(emberkv_argv(port, workdir, "--key-load-delay", "200", "--save", "3600 1"), port, workdir,
                   "emberkv.log")
    try:
        loading_replies(port)
        started = time.time()
        server.proc.send_signal(signal.SIGTERM)
        assert server.proc.wait(10) == 0
        assert time.time() - started < 3  # the load stops; it does not run to its end first
        assert (workdir / "dump.rdb").read_bytes() == before
        assert "Saving the final RDB snapshot" not in server.log()
    finally:
        server.stop(signal.SIGKILL)


def test_shutdown_save_while_loading_does_not_save(tmp_path):
    workdir = tmp_path / "server"
    workdir.mkdir()
    big_file(workdir / "dump.rdb", 30000)
    before = (workdir / "dump.rdb").read_bytes()
    port = free_port()
    server = spawn(emberkv_argv(port, workdir, "--key-load-delay", "200"), port, workdir, "emberkv.log")
    try:
        loading_replies(port)
        with connect(port) as sock:
            sock.sendall(encode_request(("SHUTDOWN", "SAVE")))
            assert sock.recv(1024) == b""
        assert server.proc.wait(10) == 0
        assert (workdir / "dump.rdb").read_bytes() == before
    finally:
        server.stop(signal.SIGKILL)


def test_loading_a_big_file_without_delay_serves_between_slices(tmp_path):
    """A 2 MB slice at a time: a client connecting mid-load is answered (-LOADING) long before the end."""
    workdir = tmp_path / "server"
    workdir.mkdir()
    big_file(workdir / "dump.rdb", 300000)
    port = free_port()
    server = spawn(emberkv_argv(port, workdir, "--loading-process-events-interval-bytes", "65536"), port,
                   workdir, "emberkv.log")
    try:
        sock = connect(port)
        sock.sendall(b"DBSIZE\r\n")
        first = sock.recv(1024)
        sock.close()
        assert first.startswith((b"-LOADING", b":300000"))
        wait_for(lambda: raw(port, ("DBSIZE",)) == [300000], timeout=60)
    finally:
        server.stop(signal.SIGKILL)
