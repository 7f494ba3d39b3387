"""Blocking list pops: BLPOP, BRPOP, BLMOVE, BRPOPLPUSH and BLMPOP.

The first part runs in-process (the real dispatcher and blocking module, several clients, timers
driven by the event loop). The second part talks to spawned servers over real connections and runs
each scenario against emberkv and, when it is installed, against redis-server 7.0 too, with the same
expected transcript: FIFO wake-ups, timeouts, MULTI/EXEC, disconnects, keys retyped while clients
wait, CLIENT UNBLOCK.
"""

from __future__ import annotations

import socket
import time

import hiredis
import pytest

from emberkv.keyspace.db import NOTIFY_GENERIC, NOTIFY_LIST
from tests.inproc import InProcessServer, encode_request, err
from tests.servers import REDIS_SERVER, start_emberkv, start_redis

WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"
NOT_FLOAT = "ERR timeout is not a float or out of range"
NEGATIVE = "ERR timeout is negative"
SYNTAX = "ERR syntax error"


def raw(client, *args) -> bytes:
    """The reply bytes exactly as written (to tell *-1 from $-1)."""
    client.send(encode_request(args))
    out = bytes(client.transport.written)
    client.transport.written.clear()
    return out


def blocked(srv) -> int:
    return srv.server.blocking.blocked_clients


# -- served at once --------------------------------------------------------------------------------

def test_blpop_serves_the_first_non_empty_key_at_once(srv, effects):
    c = srv.client()
    c("RPUSH", "b", "1", "2")
    assert c("BLPOP", "a", "b", 0) == [b"b", b"1"]
    assert c("BRPOP", "a", "b", 0) == [b"b", b"2"]
    assert c("EXISTS", "b") == 0
    assert effects[1:] == [[b"LPOP", b"b"], [b"RPOP", b"b"]]


def test_blocking_pops_check_the_type_of_keys_before_the_first_non_empty(srv):
    c = srv.client()
    c("SET", "str", "v")
    c("RPUSH", "l", "x")
    assert err(c("BLPOP", "str", "l", 0)) == WRONGTYPE
    assert c("BLPOP", "l", "str", 0) == [b"l", b"x"]
    assert err(c("BLMPOP", 0, 1, "str", "LEFT")) == WRONGTYPE
    assert err(c("BLMOVE", "str", "l", "LEFT", "LEFT", 0)) == WRONGTYPE


@pytest.mark.parametrize(("timeout", "error"), [
    ("x", NOT_FLOAT), ("nan", NOT_FLOAT), ("", NOT_FLOAT), (" 1", NOT_FLOAT), ("1 ", NOT_FLOAT),
    ("1e5000", NOT_FLOAT), ("1e-5000", NOT_FLOAT), ("-1", NEGATIVE), ("-0.5", NEGATIVE),
    ("1e400", NEGATIVE), ("inf", NEGATIVE), ("-inf", NEGATIVE), ("9223372036854775808", NEGATIVE),
])
@pytest.mark.parametrize("command", [
    ["BLPOP", "str"], ["BRPOP", "str"], ["BRPOPLPUSH", "str", "d"], ["BLMOVE", "str", "d", "LEFT", "LEFT"],
])
def test_timeout_is_checked_before_the_keys(srv, command, timeout, error):
    c = srv.client()
    c("SET", "str", "v")
    assert err(c(*command, timeout)) == error


def test_blmpop_checks_numkeys_and_direction_before_the_timeout(srv):
    c = srv.client()
    assert err(c("BLMPOP", "x", 1, "l", "LEFT")) == NOT_FLOAT
    assert err(c("BLMPOP", "x", 1, "l", "MIDDLE")) == SYNTAX
    assert err(c("BLMPOP", "x", 0, "l", "LEFT")) == "ERR numkeys should be greater than 0"
    assert err(c("BLMPOP", "x", 1, "l", "LEFT", "COUNT", 0)) == "ERR count should be greater than 0"
    assert err(c("BLMPOP", 0, 2, "l", "LEFT")) == SYNTAX
    assert err(c("BLMOVE", "l", "d", "UP", "LEFT", "x")) == SYNTAX


def test_blmove_and_brpoplpush_are_propagated_as_their_plain_forms(srv, effects):
    c = srv.client()
    c("RPUSH", "l", "a", "b", "c")
    assert c("BLMOVE", "l", "d", "left", "RIGHT", 0) == b"a"
    assert c("BRPOPLPUSH", "l", "d", 0) == b"c"
    assert c("BLMPOP", 0, 1, "l", "RIGHT", "COUNT", 5) == [b"l", [b"b"]]
    assert effects[1:] == [[b"LMOVE", b"l", b"d", b"left", b"RIGHT"], [b"RPOPLPUSH", b"l", b"d"],
                           [b"RPOP", b"l", b"1"]]


# -- waiting ---------------------------------------------------------------------------------------

def test_a_push_wakes_a_waiter_which_is_propagated_as_lpop(srv, effects):
    waiter, writer = srv.client(), srv.client()
    assert raw(waiter, "BLPOP", "a", "l", 0) == b""
    assert blocked(srv) == 1
    assert writer("RPUSH", "l", "x", "y") == 2
    assert waiter.replies() == [[b"l", b"x"]]
    assert blocked(srv) == 0
    assert writer("LRANGE", "l", 0, -1) == [b"y"]
    assert effects == [[b"RPUSH", b"l", b"x", b"y"], [b"LPOP", b"l"]]


def test_a_woken_pop_reports_its_events_after_the_push(srv):
    seen: list[tuple[bytes, bytes]] = []
    ks = srv.server.keyspace
    ks.notify_flags = NOTIFY_LIST | NOTIFY_GENERIC
    ks.notifier = lambda cls, event, db, key: seen.append((event, key))
    waiter, mover, writer = srv.client(), srv.client(), srv.client()
    waiter("BLPOP", "l", 0)
    mover("BLMOVE", "src", "dst", "LEFT", "RIGHT", 0)
    writer("RPUSH", "l", "a")
    writer("RPUSH", "src", "b")
    assert seen == [(b"rpush", b"l"), (b"lpop", b"l"), (b"del", b"l"), (b"rpush", b"src"),
                    (b"rpush", b"dst"), (b"lpop", b"src"), (b"del", b"src")]


def test_waiters_are_served_in_the_order_they_blocked(srv):
    first, second, third, writer = srv.client(), srv.client(), srv.client(), srv.client()
    first("BRPOP", "l", 0)
    second("BLPOP", "l", 0)
    third("BLPOP", "other", "l", 0)
    writer("RPUSH", "l", "1", "2")
    assert first.replies() == [[b"l", b"2"]]
    assert second.replies() == [[b"l", b"1"]]
    assert third.replies() == []
    writer("LPUSH", "l", "3")
    assert third.replies() == [[b"l", b"3"]]


def test_a_served_client_runs_its_pipelined_commands_after_the_others_are_served(srv):
    a, b, writer = srv.client(), srv.client(), srv.client()
    a.send(encode_request(["BLPOP", "k", "0"]) + encode_request(["BLPOP", "k", "0"]))
    b("BLPOP", "k", 0)
    writer("RPUSH", "k", "1", "2", "3")
    assert a.replies() == [[b"k", b"1"], [b"k", b"3"]]
    assert b.replies() == [[b"k", b"2"]]


def test_input_sent_while_blocked_runs_once_served(srv):
    waiter, writer = srv.client(), srv.client()
    waiter("BLPOP", "l", 0)
    assert waiter("PING") == []
    writer("RPUSH", "l", "a")
    assert waiter.replies() == [[b"l", b"a"], b"PONG"]


def test_waiter_is_served_from_the_key_that_became_ready(srv):
    waiter, writer = srv.client(), srv.client()
    waiter("BLPOP", "a", "b", 0)
    writer("MULTI")
    writer("RPUSH", "b", "from-b")
    writer("RPUSH", "a", "from-a")
    writer("EXEC")
    assert waiter.replies() == [[b"b", b"from-b"]]


def test_a_push_inside_multi_wakes_waiters_only_after_exec(srv):
    waiter, writer = srv.client(), srv.client()
    waiter("BLPOP", "l", 0)
    writer("MULTI")
    writer("RPUSH", "l", "a")
    writer("LLEN", "l")
    assert waiter.replies() == []
    assert writer("EXEC") == [1, 1]
    assert waiter.replies() == [[b"l", b"a"]]
    assert writer("EXISTS", "l") == 0


def test_a_key_pushed_and_popped_in_one_transaction_wakes_nobody(srv):
    waiter, writer = srv.client(), srv.client()
    waiter("BLPOP", "l", 0)
    writer("MULTI")
    writer("RPUSH", "l", "a")
    writer("LPOP", "l")
    writer("EXEC")
    assert waiter.replies() == []
    assert blocked(srv) == 1


def test_a_key_retyped_while_waiting_keeps_the_client_waiting(srv):
    waiter, writer = srv.client(), srv.client()
    waiter("BLPOP", "k", 0)
    writer("MULTI")
    writer("RPUSH", "k", "1")
    writer("DEL", "k")
    writer("SET", "k", "str")
    assert writer("EXEC") == [1, 1, b"OK"]
    assert waiter.replies() == []
    writer("DEL", "k")
    writer("RPUSH", "k", "z")
    assert waiter.replies() == [[b"k", b"z"]]


def test_blmove_pushes_to_the_destination_on_wake_up_and_feeds_its_waiters(srv, effects):
    mover, reader, writer = srv.client(), srv.client(), srv.client()
    mover("BLMOVE", "src", "dst", "RIGHT", "LEFT", 0)
    reader("BLPOP", "dst", 0)
    writer("RPUSH", "src", "v")
    assert mover.replies() == [b"v"]
    assert reader.replies() == [[b"dst", b"v"]]
    assert writer("EXISTS", "src", "dst") == 0
    assert effects == [[b"RPUSH", b"src", b"v"], [b"LMOVE", b"src", b"dst", b"RIGHT", b"LEFT"],
                       [b"LPOP", b"dst"]]


def test_blmove_woken_with_a_destination_of_another_type_gets_wrongtype(srv):
    mover, writer = srv.client(), srv.client()
    mover("BRPOPLPUSH", "src", "dst", 0)
    writer("SET", "dst", "str")
    writer("RPUSH", "src", "v")
    assert err(mover.replies()[0]) == WRONGTYPE
    assert writer("LRANGE", "src", 0, -1) == [b"v"]
    assert blocked(srv) == 0


def test_blmpop_waits_then_pops_up_to_count(srv, effects):
    waiter, writer = srv.client(), srv.client()
    waiter("BLMPOP", 0, 2, "a", "b", "RIGHT", "COUNT", 2)
    writer("RPUSH", "b", "1", "2", "3")
    assert waiter.replies() == [[b"b", [b"3", b"2"]]]
    assert effects[1:] == [[b"RPOP", b"b", b"2"]]


# -- timeouts, MULTI, unblocking, disconnects -----------------------------------------------------

def test_timeouts_answer_a_null_array(srv):
    c = srv.client()
    for command in (["BLPOP", "l"], ["BRPOP", "l"], ["BLMOVE", "l", "d", "LEFT", "LEFT"],
                    ["BRPOPLPUSH", "l", "d"], ["BLMPOP", "0.05", 1, "l", "LEFT"]):
        args = command if command[0] == "BLMPOP" else [*command, "0.05"]
        assert raw(c, *args) == b""
        srv.advance(0.12)
        assert bytes(c.transport.written) == b"*-1\r\n", command
        c.transport.written.clear()
    assert blocked(srv) == 0


def test_a_sub_millisecond_timeout_still_times_out(srv):
    c = srv.client()
    c("BLPOP", "l", "0.0001")
    srv.advance(0.05)
    assert c.replies() == [None]


def test_timeout_zero_waits_forever(srv):
    c = srv.client()
    c("BLPOP", "l", 0)
    srv.advance(0.15)
    assert c.replies() == []
    assert blocked(srv) == 1


def test_inside_multi_blocking_pops_answer_at_once(srv):
    c = srv.client()
    c("MULTI")
    for command in (["BLPOP", "l", 0], ["BRPOP", "l", 0], ["BLMPOP", 0, 1, "l", "LEFT"],
                    ["BLMOVE", "l", "d", "LEFT", "LEFT", 0], ["BRPOPLPUSH", "l", "d", 0]):
        c(*command)
    # BLMOVE and BRPOPLPUSH answer a plain null there, the others the null array.
    assert raw(c, "EXEC") == b"*5\r\n*-1\r\n*-1\r\n*-1\r\n$-1\r\n$-1\r\n"
    assert blocked(srv) == 0


def test_client_unblock_timeout_and_error(srv):
    waiter, admin = srv.client(), srv.client()
    waiter_id = waiter("CLIENT", "ID")
    waiter("BLMOVE", "l", "d", "LEFT", "LEFT", 0)
    assert admin("CLIENT", "UNBLOCK", waiter_id) == 1
    assert bytes(waiter.transport.written) == b"*-1\r\n"
    waiter.transport.written.clear()
    waiter("BLMPOP", 0, 1, "l", "LEFT")
    assert admin("CLIENT", "UNBLOCK", waiter_id, "ERROR") == 1
    assert err(waiter.replies()[0]) == "UNBLOCKED client unblocked via CLIENT UNBLOCK"
    assert admin("CLIENT", "UNBLOCK", waiter_id) == 0
    assert blocked(srv) == 0


def test_a_client_that_disconnects_while_blocked_is_forgotten(srv):
    gone, other, writer = srv.client(), srv.client(), srv.client()
    gone("BLPOP", "l", 0)
    other("BLPOP", "l", 0)
    gone.conn.connection_lost(None)
    assert blocked(srv) == 1
    writer("RPUSH", "l", "a", "b")
    assert other.replies() == [[b"l", b"a"]]
    assert writer("LRANGE", "l", 0, -1) == [b"b"]
    assert srv.server.keyspace.blocking_keys == {}


def test_blocked_clients_show_in_info_and_client_list(srv):
    waiter, admin = srv.client(), srv.client()
    waiter("BRPOP", "l", 0)
    assert b"blocked_clients:1" in admin("INFO", "clients")
    assert b"flags=b" in admin("CLIENT", "LIST")


# -- over real connections, against emberkv and Redis ---------------------------------------------

class Conn:
    """A raw RESP connection that can send without waiting for the reply."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.reader = hiredis.Reader()

    def send(self, *args) -> None:
        self.sock.sendall(encode_request(args))

    def read(self, timeout: float = 5.0):
        """The next reply, or the string "nothing" if none comes within timeout seconds."""
        self.sock.settimeout(timeout)
        while (reply := self.reader.gets()) is False:
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                return "nothing"
            if not data:
                return "closed"
            self.reader.feed(data)
        return reply

    def __call__(self, *args):
        self.send(*args)
        return self.read()

    def close(self) -> None:
        self.sock.close()


SERVERS = ["emberkv", "redis"]


@pytest.fixture(scope="module")
def spawned(tmp_path_factory):
    started = {"emberkv": start_emberkv(tmp_path_factory.mktemp("emberkv"))}
    if REDIS_SERVER is not None:
        started["redis"] = start_redis(tmp_path_factory.mktemp("redis"))
    yield started
    for server in started.values():
        server.stop()


@pytest.fixture(params=SERVERS)
def connect(request, spawned):
    if request.param not in spawned:
        pytest.skip("redis-server is not installed: the oracle half of this test needs it (CI installs it)")
    port = spawned[request.param].port
    opened: list[Conn] = []

    def open_conn() -> Conn:
        conn = Conn(port)
        opened.append(conn)
        return conn

    open_conn()("FLUSHALL")
    yield open_conn
    for conn in opened:
        conn.close()


def wait_blocked(admin: Conn, count: int) -> None:
    deadline = time.time() + 5
    while time.time() < deadline:
        if f"blocked_clients:{count}".encode() in admin("INFO", "clients"):
            return
        time.sleep(0.01)
    raise AssertionError(f"expected {count} blocked clients")


def test_net_fifo_wake_ups(connect):
    admin = connect()
    waiters = [connect() for _ in range(3)]
    for i, conn in enumerate(waiters):
        conn.send("BLPOP", "q", 0)
        wait_blocked(admin, i + 1)
    assert admin("RPUSH", "q", "1", "2", "3") == 3
    assert [conn.read() for conn in waiters] == [[b"q", b"1"], [b"q", b"2"], [b"q", b"3"]]


def test_net_timeout_answers_null_after_the_wait(connect):
    conn = connect()
    start = time.monotonic()
    assert conn("BRPOP", "q", "0.2") is None
    assert 0.15 <= time.monotonic() - start < 2


def test_net_multi_exec_wakes_after_exec(connect):
    admin, waiter = connect(), connect()
    waiter.send("BLPOP", "q", 0)
    wait_blocked(admin, 1)
    admin("MULTI")
    admin("RPUSH", "q", "a")
    admin("RPUSH", "q", "b")
    assert waiter.read(timeout=0.1) == "nothing"
    assert admin("EXEC") == [1, 2]
    assert waiter.read() == [b"q", b"a"]
    assert admin("LRANGE", "q", 0, -1) == [b"b"]


def test_net_disconnect_while_blocked(connect):
    admin, gone = connect(), connect()
    gone.send("BLPOP", "q", 0)
    wait_blocked(admin, 1)
    gone.close()
    wait_blocked(admin, 0)
    admin("RPUSH", "q", "kept")
    assert admin("LRANGE", "q", 0, -1) == [b"kept"]


def test_net_key_deleted_and_recreated_with_another_type(connect):
    admin, waiter = connect(), connect()
    waiter.send("BLMPOP", 0, 1, "q", "LEFT", "COUNT", 5)
    wait_blocked(admin, 1)
    admin("MULTI")
    admin("RPUSH", "q", "1")
    admin("DEL", "q")
    admin("HSET", "q", "f", "v")
    admin("EXEC")
    assert waiter.read(timeout=0.1) == "nothing"
    admin("DEL", "q")
    admin("RPUSH", "q", "x", "y")
    assert waiter.read() == [b"q", [b"x", b"y"]]


def test_net_client_unblock(connect):
    admin, waiter = connect(), connect()
    waiter_id = waiter("CLIENT", "ID")
    waiter.send("BRPOPLPUSH", "q", "d", 0)
    wait_blocked(admin, 1)
    assert admin("CLIENT", "UNBLOCK", waiter_id, "TIMEOUT") == 1
    assert waiter.read() is None
    waiter.send("BLPOP", "q", 0)
    wait_blocked(admin, 1)
    assert admin("CLIENT", "UNBLOCK", waiter_id, "ERROR") == 1
    assert str(waiter.read()) == "UNBLOCKED client unblocked via CLIENT UNBLOCK"
    assert admin("CLIENT", "UNBLOCK", waiter_id) == 0
    assert str(admin("CLIENT", "UNBLOCK", waiter_id, "LATER")) == (
        "ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR")


def test_swapdb_wakes_a_client_blocked_on_a_key_it_brings_in():

    srv = InProcessServer()
    waiter, writer = srv.client(), srv.client()
    waiter.send(b"*3\r\n$5\r\nBLPOP\r\n$1\r\nq\r\n$1\r\n0\r\n")
    assert waiter.replies() == []
    writer("SELECT", "1")
    writer("RPUSH", "q", "job")
    assert writer("SWAPDB", "0", "1") == b"OK"
    assert waiter.replies() == [[b"q", b"job"]]
    srv.close()
