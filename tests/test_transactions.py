"""MULTI/EXEC/DISCARD/WATCH through the real dispatcher (in-process)."""

from __future__ import annotations

import time

from hiredis import ReplyError


def test_exec_runs_queued_commands_in_order(srv):
    c = srv.client()
    assert c("MULTI") == b"OK"
    assert c("DEBUG", "POPULATE", "2") == b"QUEUED"
    assert c("DBSIZE") == b"QUEUED"
    assert c("EXEC") == [b"OK", 2]


def test_queuing_error_aborts_with_execabort(srv):
    c = srv.client()
    c("MULTI")
    assert str(c("NOSUCHCOMMAND")).startswith("ERR unknown command 'NOSUCHCOMMAND'")
    assert str(c("GET")) == "ERR wrong number of arguments for 'get' command"
    assert str(c("EXEC")) == "EXECABORT Transaction discarded because of previous errors."
    assert str(c("EXEC")) == "ERR EXEC without MULTI"


def test_runtime_error_inside_exec_is_an_element_not_an_abort(srv):
    c = srv.client()
    c("DEBUG", "POPULATE", "1")
    c("MULTI")
    c("RENAME", "missing", "x")
    c("DBSIZE")
    replies = c("EXEC")
    assert isinstance(replies[0], ReplyError) and replies[1] == 1


def test_nested_multi_and_watch_inside_multi_are_refused(srv):
    c = srv.client()
    c("MULTI")
    assert str(c("MULTI")) == "ERR MULTI calls can not be nested"
    assert str(c("WATCH", "k")) == "ERR WATCH inside MULTI is not allowed"
    assert c("DISCARD") == b"OK"
    assert str(c("DISCARD")) == "ERR DISCARD without MULTI"


def test_watch_is_broken_by_another_clients_change(srv):
    a, b = srv.client(), srv.client()
    a("DEBUG", "POPULATE", "1")
    a("WATCH", "key:0")
    b("DEL", "key:0")
    a("MULTI")
    a("DBSIZE")
    assert a("EXEC") is None


def test_watch_is_broken_by_expiry(srv):
    a = srv.client()
    a("DEBUG", "POPULATE", "1")
    a("PEXPIRE", "key:0", "20")
    a("WATCH", "key:0")
    time.sleep(0.05)
    a("MULTI")
    a("DBSIZE")
    assert a("EXEC") is None


def test_watch_is_broken_by_flushall(srv):
    a, b = srv.client(), srv.client()
    a("DEBUG", "POPULATE", "1")
    a("WATCH", "key:0")
    b("FLUSHALL")
    a("MULTI")
    a("DBSIZE")
    assert a("EXEC") is None


def test_unwatch_and_untouched_watch_let_exec_run(srv):
    a, b = srv.client(), srv.client()
    a("DEBUG", "POPULATE", "2")
    a("WATCH", "key:0")
    b("DEL", "key:1")
    a("MULTI")
    a("DBSIZE")
    assert a("EXEC") == [1]
    a("WATCH", "key:0")
    b("DEL", "key:0")
    a("UNWATCH")
    a("MULTI")
    a("DBSIZE")
    assert a("EXEC") == [0]


def test_transaction_effects_are_propagated_as_one_multi_block(srv):
    seen = []
    srv.server.effect_feeds.append(lambda effects, multi: seen.append((effects, multi)))
    c = srv.client()
    c("DEBUG", "POPULATE", "2")
    c("MULTI")
    c("DEL", "key:0")
    c("DEL", "key:1")
    c("EXEC")
    assert seen == [([(0, [b"DEL", b"key:0"]), (0, [b"DEL", b"key:1"])], True)]


def test_commands_that_change_nothing_are_not_propagated(srv):
    seen = []
    srv.server.effect_feeds.append(lambda effects, multi: seen.append(effects))
    c = srv.client()
    c("DEL", "missing")
    c("EXPIRE", "missing", "10")
    assert seen == []


def test_commands_not_allowed_in_multi_abort_the_transaction(srv):
    c = srv.client()
    c("MULTI")
    assert str(c("SAVE")) == "ERR Command not allowed inside a transaction"
    assert str(c("EXEC")) == "EXECABORT Transaction discarded because of previous errors."
