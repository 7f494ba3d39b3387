"""Replication, master side: SYNC/PSYNC full resyncs, REPLCONF, ROLE and the stream to replicas.

Framing and behaviour are pinned against what Redis 7.0 does (observed with raw sockets): the EOF-marker
framing after ``REPLCONF capa eof``, ``$<size>`` otherwise, ``+FULLRESYNC`` before the payload for PSYNC,
the connection closed after the RDB for rdb-only replicas, and the exact error texts.
"""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import time

import pytest
import redis
from hypothesis import given, settings
from hypothesis import strategies as st

from emberkv.persistence.rdb.reader import RdbReader
from tests.backup_support import digest, populate
from tests.inproc import InProcessServer, encode_request
from tests.servers import REDIS_SERVER, start_emberkv, start_redis

# -- helpers -------------------------------------------------------------------------------------------


class RawReplica:
    """A replica speaking the protocol by hand."""

    def __init__(self, port: int, timeout: float = 10.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def call(self, *args: str) -> bytes:
        self.sock.sendall(encode_request(args))
        return self.line()

    def send(self, *args: str) -> None:
        self.sock.sendall(encode_request(args))

    def _more(self) -> bytes:
        data = self.sock.recv(1 << 20)
        if not data:
            raise EOFError
        return data

    def line(self, skip_newlines: bool = True) -> bytes:
        while True:
            while b"\n" not in self.buf:
                self.buf += self._more()
            line, self.buf = self.buf.split(b"\n", 1)
            line = line.rstrip(b"\r")
            if line or not skip_newlines:
                return line

    def exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            self.buf += self._more()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def payload(self) -> bytes:
        """The RDB after the $ header, in either framing."""
        header = self.line()
        if header.startswith(b"$EOF:"):
            mark = header[5:]
            assert len(mark) == 40
            while not self.buf.endswith(mark):
                self.buf += self._more()
            data, self.buf = self.buf[:-40], b""
            return data
        assert header.startswith(b"$"), header
        return self.exact(int(header[1:]))

    def closed_by_server(self) -> bool:
        self.sock.settimeout(5)
        try:
            return self.buf == b"" and self.sock.recv(1) == b""
        except OSError:
            return True

    def close(self) -> None:
        self.sock.close()


def rdb_keys(data: bytes) -> dict[bytes, object]:
    reader = RdbReader(io.BytesIO(data), total_size=len(data))
    return {e.key: e.value for e in reader.entries()}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = start_emberkv(tmp_path_factory.mktemp("sync"))
    yield srv
    srv.stop()


@pytest.fixture
def r(server):
    client = server.client()
    client.flushall()
    client.config_set("rdb-key-save-delay", 0)
    client.config_set("rdbcompression", "yes")
    yield client
    client.close()


# -- REPLCONF, ROLE and refusals (in process) ----------------------------------------------------------


@pytest.fixture(scope="module")
def inproc():
    srv = InProcessServer()
    yield srv
    srv.close()


def test_replconf_accepts_what_replicas_send(inproc):
    c = inproc.client()
    assert c("REPLCONF") == b"OK"
    assert c("REPLCONF", "listening-port", "6380", "capa", "eof", "capa", "psync2") == b"OK"
    assert c("REPLCONF", "ip-address", "10.0.0.1") == b"OK"
    assert c("REPLCONF", "capa", "whatever") == b"OK"
    assert c("REPLCONF", "rdb-only", "0") == b"OK"
    assert c("REPLCONF", "rdb-only", "1") == b"OK"
    assert c("REPLCONF", "rdb-filter-only", "functions") == b"OK"
    assert c("REPLCONF", "rdb-filter-only", "") == b"OK"


@pytest.mark.parametrize(("args", "error"), [
    (("foo",), "ERR syntax error"),
    (("listening-port", "1", "capa"), "ERR syntax error"),
    (("foo", "bar"), "ERR Unrecognized REPLCONF option: foo"),
    (("fack", "1"), "ERR Unrecognized REPLCONF option: fack"),
    (("listening-port", "abc"), "ERR value is not an integer or out of range"),
    (("listening-port", "-9223372036854775809"), "ERR value is not an integer or out of range"),
    (("rdb-only", "2"), "ERR value is out of range, value must between 0 and 1"),
    (("rdb-only", "-9223372036854775808"), "ERR value is out of range, value must between 0 and 1"),
    (("rdb-only", "x"), "ERR value is not an integer or out of range"),
    (("rdb-filter-only", "functions,x"), "ERR Unsupported rdb-filter-only option: functions,x"),
])
def test_replconf_errors(inproc, args, error):
    assert str(inproc.client()("REPLCONF", *args)) == error


def test_error_replies_stay_on_one_line(inproc):
    # Errors quote what the client sent; a newline in it must not break the reply (Redis: a space).
    assert str(inproc.client()("REPLCONF", "x\ny\rz", "1")) == "ERR Unrecognized REPLCONF option: x y z"


def test_replconf_ack_and_getack_are_not_answered(inproc):
    c = inproc.client()
    assert c("REPLCONF", "ack", "10") == []
    assert c("REPLCONF", "getack", "*") == []
    assert c("PING") == b"PONG"


def test_role_of_a_master_without_replicas(inproc):
    assert inproc.client()("ROLE") == [b"master", 0, []]


@pytest.mark.parametrize(("args", "error"), [
    (("SYNC", "x"), "ERR wrong number of arguments for 'sync' command"),
    (("PSYNC", "a"), "ERR wrong number of arguments for 'psync' command"),
    (("PSYNC", "a", "b"), "ERR value is not an integer or out of range"),
    (("PSYNC", "?", "99999999999999999999"), "ERR value is not an integer or out of range"),
    (("ROLE", "x"), "ERR wrong number of arguments for 'role' command"),
])
def test_sync_argument_errors(inproc, args, error):
    assert str(inproc.client()(*args)) == error


def test_sync_refused_with_pending_output(inproc):
    c = inproc.client()
    c.send(encode_request(["REPLCONF", "capa", "eof"]) + encode_request(["SYNC"]))
    ok, error = c.replies()
    assert ok == b"OK" and str(error) == "ERR SYNC and PSYNC are invalid with pending output"


def test_filtered_replica_requires_the_eof_capability(inproc):
    c = inproc.client()
    assert str(c("REPLCONF", "rdb-filter-only", "x")) == "ERR Unsupported rdb-filter-only option: x"
    # As in Redis, even a refused filter is in force, and comes before the offset check.
    assert str(c("PSYNC", "a", "b")) == "ERR Filtered replica requires EOF capability"
    c2 = inproc.client()
    assert c2("REPLCONF", "rdb-filter-only", "") == b"OK"
    assert str(c2("SYNC")) == "ERR Filtered replica requires EOF capability"


def test_sync_refused_inside_a_transaction(inproc):
    c = inproc.client()
    c("MULTI")
    assert str(c("PSYNC", "?", "-1")) == "ERR Command not allowed inside a transaction"
    assert str(c("EXEC")) == "EXECABORT Transaction discarded because of previous errors."


# -- full resyncs against a spawned server ---------------------------------------------------------------


def test_sync_with_capa_eof_streams_with_an_eof_marker_and_closes_rdb_only(server, r):
    r.set("a", "1")
    replica = RawReplica(server.port)
    assert replica.call("REPLCONF", "capa", "eof") == b"+OK"
    assert replica.call("REPLCONF", "rdb-only", "1") == b"+OK"
    replica.send("SYNC")
    header = replica.line()
    assert header.startswith(b"$EOF:") and len(header) == 45
    replica.buf = header + b"\r\n" + replica.buf
    assert rdb_keys(replica.payload()) == {b"a": b"1"}
    assert replica.closed_by_server()


def test_sync_without_capa_eof_sends_the_size_first(server, r):
    r.set("b", "2")
    replica = RawReplica(server.port)
    assert replica.call("REPLCONF", "rdb-only", "1") == b"+OK"
    replica.send("SYNC")
    header = replica.line()
    assert header.startswith(b"$") and header[1:].isdigit()
    data = replica.exact(int(header[1:]))
    assert rdb_keys(data) == {b"b": b"2"}
    assert replica.closed_by_server()
    assert not [n for n in os.listdir(server.dir) if n.startswith("temp-sync")]


@pytest.mark.parametrize("filter_", ["", "functions"])
def test_filtered_sync_sends_an_rdb_without_keys(server, r, filter_):
    r.set("filtered", "out")
    replica = RawReplica(server.port)
    assert replica.call("REPLCONF", "rdb-filter-only", filter_) == b"+OK"
    assert replica.call("REPLCONF", "capa", "eof") == b"+OK"
    assert replica.call("REPLCONF", "rdb-only", "1") == b"+OK"
    replica.send("SYNC")
    assert rdb_keys(replica.payload()) == {}
    assert replica.closed_by_server()


def test_psync_answers_fullresync_with_the_run_id(server, r):
    run_id = r.info("server")["run_id"]
    replica = RawReplica(server.port)
    replica.call("REPLCONF", "capa", "eof")
    replica.call("REPLCONF", "rdb-only", "1")
    replica.send("PSYNC", "?", "-1")
    words = replica.line().split()
    assert words[0] == b"+FULLRESYNC" and words[1].decode() == run_id and words[2].isdigit()
    rdb_keys(replica.payload())
    assert replica.closed_by_server()


def test_commands_from_a_replica_get_no_reply(server, r):
    r.set("c", "3")
    replica = RawReplica(server.port)
    replica.call("REPLCONF", "rdb-only", "1")
    replica.sock.sendall(encode_request(["PSYNC", "?", "-1"]) + encode_request(["PING"]))
    assert replica.line().startswith(b"+FULLRESYNC")
    assert rdb_keys(replica.payload()) == {b"c": b"3"}
    assert replica.closed_by_server()


def test_snapshot_is_the_dataset_at_the_start_while_clients_keep_writing(server, r):
    pipe = r.pipeline(transaction=False)
    for i in range(300):
        pipe.set(f"k{i}", i)
    pipe.execute()
    r.config_set("rdb-key-save-delay", 2000)  # 2 ms a key: ~0.6 s of transfer
    replica = RawReplica(server.port)
    replica.call("REPLCONF", "capa", "eof")
    replica.call("REPLCONF", "rdb-only", "1")
    replica.send("SYNC")
    time.sleep(0.1)
    started = time.monotonic()
    for i in range(0, 300, 10):
        r.set(f"k{i}", "changed")
    r.delete("k1", "k2")
    r.set("new", "x")
    assert r.ping() and time.monotonic() - started < 0.3  # the writes did not wait for the snapshot
    keys = rdb_keys(replica.payload())
    assert time.monotonic() - started > 0.4  # and they happened while it was being sent
    assert keys == {b"k%d" % i: b"%d" % i for i in range(300)}


def test_sync_waits_for_a_running_bgsave_sending_newlines(server, r):
    r.set("w", "1")
    r.config_set("rdb-key-save-delay", 1_500_000)  # the one key takes 1.5 s
    assert r.bgsave()
    replica = RawReplica(server.port)
    replica.call("REPLCONF", "rdb-only", "1")
    replica.send("SYNC")
    r.config_set("rdb-key-save-delay", 0)
    first = replica.line(skip_newlines=False)
    assert first == b""  # a keepalive newline while the BGSAVE runs
    assert rdb_keys(replica.payload()) == {b"w": b"1"}


def test_replica_disconnecting_mid_transfer_frees_the_snapshot(server, r):
    pipe = r.pipeline(transaction=False)
    for i in range(50):
        pipe.set(f"k{i}", i)
    pipe.execute()
    r.config_set("rdb-key-save-delay", 100_000)
    replica = RawReplica(server.port)
    replica.call("REPLCONF", "capa", "eof")
    replica.send("SYNC")
    assert replica.line().startswith(b"$EOF:")
    replica.close()
    r.config_set("rdb-key-save-delay", 0)
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            r.bgsave()
            break
        except redis.ResponseError:
            time.sleep(0.05)
    else:
        pytest.fail("the aborted transfer kept the snapshot slot")
    assert "Connection with replica" in server.log()


def test_slow_replica_pauses_the_snapshot_and_memory_stays_bounded(server, r):
    r.config_set("rdbcompression", "no")
    r.execute_command("DEBUG", "POPULATE", 300_000, "key", 100)  # an RDB of ~36 MB
    rss_before = int(r.info("memory")["used_memory_rss"])
    replica = RawReplica(server.port, timeout=30)
    replica.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 16)
    replica.call("REPLCONF", "capa", "eof")
    replica.call("REPLCONF", "rdb-only", "1")
    replica.send("SYNC")
    mark = replica.line()[5:]
    time.sleep(1.5)  # not reading: without back-pressure the server would buffer the whole RDB by now
    grown = int(r.info("memory")["used_memory_rss"]) - rss_before
    assert r.ping()
    received, tail = len(replica.buf), replica.buf[-40:]
    while tail != mark:
        data = replica.sock.recv(1 << 20)
        assert data
        received += len(data)
        tail = (tail + data)[-40:]
    assert received > 30_000_000
    assert grown < 20_000_000


# -- interoperability with Redis ---------------------------------------------------------------------------


@pytest.mark.interop
def test_redis_cli_rdb_against_emberkv_loads_in_redis_with_the_same_digest(server, r, redis_factory, tmp_path):
    populate(r)
    out = tmp_path / "dump.rdb"
    proc = subprocess.run(["redis-cli", "-p", str(server.port), "--rdb", str(out)], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "Transfer finished with success" in proc.stdout + proc.stderr
    loaded = redis_factory("--dir", str(tmp_path), "--dbfilename", "dump.rdb")
    assert digest(loaded.client()) == digest(r)


@pytest.mark.interop
def test_real_redis_replicates_from_emberkv(server, r, redis_factory):
    populate(r)
    r.config_set("rdb-key-save-delay", 20_000)  # writes land while the snapshot is in flight
    replica = redis_factory("--replicaof", "127.0.0.1", str(server.port))
    rc = replica.client()
    for i in range(20):
        r.set(f"during{i}", i)
        time.sleep(0.02)
    r.config_set("rdb-key-save-delay", 0)
    r.execute_command("SELECT", 3)
    deadline = time.time() + 20
    while time.time() < deadline and rc.info("replication").get("master_link_status") != "up":
        time.sleep(0.1)
    r2 = redis.Redis(port=server.port, db=5)
    r2.set("other-db", "x")
    r2.expire("other-db", 1000)
    r.delete("s:short")
    deadline = time.time() + 10
    while time.time() < deadline and digest(rc) != digest(r):
        time.sleep(0.1)
    assert digest(rc) == digest(r)
    role = r.execute_command("ROLE")
    assert role[0] == b"master" and role[2][0][1] == str(replica.port).encode()
    r2.close()


@pytest.mark.interop
def test_replication_errors_match_redis(redis_oracle, server):
    ours, theirs = server.client(), redis_oracle.client()
    for args in (("REPLCONF", "foo"), ("REPLCONF", "foo", "bar"), ("REPLCONF", "rdb-only", "2"),
                 ("REPLCONF", "rdb-filter-only", "x"), ("PSYNC", "a", "b"), ("SYNC", "x"),
                 ("REPLCONF", "listening-port", "x")):
        with pytest.raises(redis.ResponseError) as mine:
            ours.execute_command(*args)
        with pytest.raises(redis.ResponseError) as real:
            theirs.execute_command(*args)
        assert str(mine.value) == str(real.value), args
    assert ours.execute_command("REPLCONF", "capa", "eof") == theirs.execute_command("REPLCONF", "capa", "eof")


def test_emberkv_killed_mid_transfer_leaves_the_replica_with_an_error(tmp_path):
    srv = start_emberkv(tmp_path / "victim")
    try:
        client = srv.client()
        for i in range(100):
            client.set(f"k{i}", i)
        client.config_set("rdb-key-save-delay", 50_000)
        replica = RawReplica(srv.port)
        replica.call("REPLCONF", "capa", "eof")
        replica.send("SYNC")
        assert replica.line().startswith(b"$EOF:")
        time.sleep(0.3)
        srv.proc.send_signal(signal.SIGKILL)
        with pytest.raises((EOFError, ConnectionError)):
            replica.payload()
    finally:
        srv.stop()



# -- differential: REPLCONF as Redis answers it -----------------------------------------------------------

_OPTION = st.sampled_from([b"listening-port", b"ip-address", b"capa", b"rdb-only", b"rdb-filter-only",
                           b"LISTENING-PORT", b"Capa", b"bogus", b"fack", b"rdb-only "])
_VALUE = st.sampled_from([b"0", b"1", b"2", b"-1", b"6380", b"eof", b"psync2", b"functions", b"", b"x",
                          b"9223372036854775807", b"-9223372036854775808", b"99999999999999999999", b" 1",
                          b"functions x", b"FUNCTIONS"])


@pytest.fixture(scope="module")
def oracle_pair(server, tmp_path_factory):
    if REDIS_SERVER is None:
        pytest.skip("redis-server is not installed: the differential tests need it (CI installs it)")
    redis_server = start_redis(tmp_path_factory.mktemp("oracle"))
    yield server.client(), redis_server.client()
    redis_server.stop()


def _reply(client, args):
    try:
        return ("ok", client.execute_command("REPLCONF", *args))
    except redis.ResponseError as exc:
        return ("error", str(exc))


@pytest.mark.interop
@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(_OPTION, _VALUE), max_size=4), st.booleans())
def test_replconf_replies_match_redis(oracle_pair, pairs, dangling):
    ours, theirs = oracle_pair
    args = [x for pair in pairs for x in pair] + ([b"capa"] if dangling else [])
    assert _reply(ours, args) == _reply(theirs, args)
