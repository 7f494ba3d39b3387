"""Helpers shared by the persistence tests (tests/test_persistence_*.py): spawned servers that are
killed (not asked to save) at the end, bare RESP round trips, INFO persistence, reading an RDB file
back, and an in-process server with persistence attached."""

from __future__ import annotations

import signal
import socket
import time
from pathlib import Path

import hiredis
import redis

from emberkv.keyspace.db import Keyspace
from emberkv.keyspace.digest import dataset_digest
from emberkv.persistence.loading import LoadError, load_rdb
from emberkv.persistence.rdb.reader import LoadStats, RdbReader
from emberkv.server.startup import start_persistence
from tests.inproc import InProcessServer, encode_request
from tests.servers import start_emberkv


def ember_servers(tmp_path):
    """Fixture body: ``start(*options)`` spawns an emberkv-server in its own directory; all are killed
    with SIGKILL at the end (a SIGTERM would make servers with save points save, or refuse to stop)."""
    started = []

    def start(*extra: str, name: str = "emberkv"):
        server = start_emberkv(tmp_path / f"{name}{len(started)}", *extra)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop(signal.SIGKILL)


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
