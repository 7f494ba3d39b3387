"""Pub/Sub: SUBSCRIBE family replies (RESP2 arrays, RESP3 pushes), delivery and its order, the
subscribed-mode restrictions, PUBSUB introspection; in-process with raw bytes, then end to end with
redis-py against a spawned server. Expected bytes were taken from redis-server 7.0.15."""

from __future__ import annotations

import time

from tests.inproc import encode_request


def raw(srv, client, *args) -> bytes:
    """Send one command and return every byte written to the client since (messages included)."""
    client.send(encode_request(args))
    srv.advance(0)
    out = bytes(client.transport.written)
    client.transport.written.clear()
    return out


def drain(srv, client) -> bytes:
    srv.advance(0)
    out = bytes(client.transport.written)
    client.transport.written.clear()
    return out


# -- confirmations ---------------------------------------------------------------------------------

def test_subscribe_confirms_each_channel_with_the_running_count(srv):
    a = srv.client()
    assert raw(srv, a, "SUBSCRIBE", "a", "b") == (
        b"*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n*3\r\n$9\r\nsubscribe\r\n$1\r\nb\r\n:2\r\n")
    assert raw(srv, a, "SUBSCRIBE", "a") == b"*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:2\r\n"


def test_unsubscribe_without_channels(srv):
    a = srv.client()
    assert raw(srv, a, "UNSUBSCRIBE") == b"*3\r\n$11\r\nunsubscribe\r\n$-1\r\n:0\r\n"
    assert raw(srv, a, "PUNSUBSCRIBE") == b"*3\r\n$12\r\npunsubscribe\r\n$-1\r\n:0\r\n"
    raw(srv, a, "SUBSCRIBE", "a")
    raw(srv, a, "PSUBSCRIBE", "p*")
    assert raw(srv, a, "UNSUBSCRIBE") == b"*3\r\n$11\r\nunsubscribe\r\n$1\r\na\r\n:1\r\n"
    assert raw(srv, a, "UNSUBSCRIBE", "x") == b"*3\r\n$11\r\nunsubscribe\r\n$1\r\nx\r\n:1\r\n"
    assert raw(srv, a, "PUNSUBSCRIBE") == b"*3\r\n$12\r\npunsubscribe\r\n$2\r\np*\r\n:0\r\n"


def test_resp3_confirmations_are_pushes(srv):
    a = srv.client()
    a("HELLO", 3)
    assert raw(srv, a, "SUBSCRIBE", "a") == b">3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n"
    assert raw(srv, a, "UNSUBSCRIBE") == b">3\r\n$11\r\nunsubscribe\r\n$1\r\na\r\n:0\r\n"
    assert raw(srv, a, "UNSUBSCRIBE") == b">3\r\n$11\r\nunsubscribe\r\n_\r\n:0\r\n"


def test_subscribe_arity(srv):
    a = srv.client()
    for name in ("SUBSCRIBE", "PSUBSCRIBE", "PUBLISH"):
        assert str(a(name)) == f"ERR wrong number of arguments for '{name.lower()}' command"


# -- delivery -----------------------------------------------------------------------------------------

def test_publish_reaches_channel_then_pattern_subscribers(srv):
    a, b = srv.client(), srv.client()
    raw(srv, a, "SUBSCRIBE", "news")
    raw(srv, a, "PSUBSCRIBE", "n*")
    assert b("PUBLISH", "news", "hi") == 2
    assert drain(srv, a) == (b"*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$2\r\nhi\r\n"
                             b"*4\r\n$8\r\npmessage\r\n$2\r\nn*\r\n$4\r\nnews\r\n$2\r\nhi\r\n")
    assert b("PUBLISH", "other", "x") == 0
    assert drain(srv, a) == b""


def test_patterns_use_redis_globs(srv):
    a, b = srv.client(), srv.client()
    raw(srv, a, "PSUBSCRIBE", "h?llo", "x[ab]", "esc\\*")
    assert b("PUBLISH", "hello", "1") == 1
    assert b("PUBLISH", "xb", "2") == 1
    assert b("PUBLISH", "xc", "3") == 0
    assert b("PUBLISH", "esc*", "4") == 1
    assert b("PUBLISH", "escX", "5") == 0


def test_resp3_subscriber_publishing_to_itself_gets_message_before_the_count(srv):
    a = srv.client()
    a("HELLO", 3)
    raw(srv, a, "SUBSCRIBE", "ab")
    raw(srv, a, "PSUBSCRIBE", "a*")
    assert raw(srv, a, "PUBLISH", "ab", "y") == (
        b">3\r\n$7\r\nmessage\r\n$2\r\nab\r\n$1\r\ny\r\n"
        b">4\r\n$8\r\npmessage\r\n$2\r\na*\r\n$2\r\nab\r\n$1\r\ny\r\n:2\r\n")


def test_messages_queue_up_in_order(srv):
    a, b = srv.client(), srv.client()
    raw(srv, a, "SUBSCRIBE", "c")
    b.send(b"".join(encode_request(["PUBLISH", "c", str(i)]) for i in range(5)))
    assert drain(srv, a) == b"".join(
        b"*3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1\r\n%d\r\n" % i for i in range(5))


def test_closed_subscriber_is_forgotten(srv):
    a, b = srv.client(), srv.client()
    raw(srv, a, "SUBSCRIBE", "c")
    raw(srv, a, "PSUBSCRIBE", "c*")
    a.conn.connection_lost(None)
    assert b("PUBLISH", "c", "x") == 0
    assert b("PUBSUB", "NUMSUB", "c") == [b"c", 0]
    assert b("PUBSUB", "NUMPAT") == 0


# -- subscribed mode ------------------------------------------------------------------------------------

def test_resp2_subscriber_may_only_ping_and_manage_subscriptions(srv):
    a = srv.client()
    raw(srv, a, "SUBSCRIBE", "c")
    assert raw(srv, a, "GET", "x") == (
        b"-ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET "
        b"are allowed in this context\r\n")
    assert raw(srv, a, "PING") == b"*2\r\n$4\r\npong\r\n$0\r\n\r\n"
    assert raw(srv, a, "PING", "hi") == b"*2\r\n$4\r\npong\r\n$2\r\nhi\r\n"
    raw(srv, a, "UNSUBSCRIBE")
    assert raw(srv, a, "PING") == b"+PONG\r\n"


def test_resp3_subscriber_may_run_anything(srv):
    a = srv.client()
    a("HELLO", 3)
    raw(srv, a, "SUBSCRIBE", "c")
    assert raw(srv, a, "GET", "x") == b"_\r\n"
    assert raw(srv, a, "PING") == b"+PONG\r\n"


def test_subscribe_inside_multi_answers_inside_exec(srv):
    a = srv.client()
    a("MULTI")
    a("SUBSCRIBE", "q")
    assert raw(srv, a, "EXEC") == b"*1\r\n*3\r\n$9\r\nsubscribe\r\n$1\r\nq\r\n:1\r\n"


def test_reset_drops_subscriptions(srv):
    a, b = srv.client(), srv.client()
    raw(srv, a, "SUBSCRIBE", "c")
    assert raw(srv, a, "RESET") == b"+RESET\r\n"
    assert b("PUBLISH", "c", "x") == 0


# -- PUBSUB --------------------------------------------------------------------------------------------

def test_pubsub_channels_numsub_numpat(srv):
    a, b, q = srv.client(), srv.client(), srv.client()
    raw(srv, a, "SUBSCRIBE", "news", "sports")
    raw(srv, b, "SUBSCRIBE", "news")
    raw(srv, a, "PSUBSCRIBE", "n*", "s*")
    raw(srv, b, "PSUBSCRIBE", "n*")
    assert sorted(q("PUBSUB", "CHANNELS")) == [b"news", b"sports"]
    assert q("PUBSUB", "CHANNELS", "n*") == [b"news"]
    assert q("PUBSUB", "NUMSUB", "news", "sports", "none", "news") == [
        b"news", 2, b"sports", 1, b"none", 0, b"news", 2]
    assert q("PUBSUB", "NUMSUB") == []
    assert q("PUBSUB", "NUMPAT") == 2
    raw(srv, a, "UNSUBSCRIBE", "sports")
    assert q("PUBSUB", "CHANNELS") == [b"news"]


def test_pubsub_numsub_is_a_flat_array_in_resp3(srv):
    a, q = srv.client(), srv.client()
    raw(srv, a, "SUBSCRIBE", "c")
    q("HELLO", 3)
    assert raw(srv, q, "PUBSUB", "NUMSUB", "c") == b"*2\r\n$1\r\nc\r\n:1\r\n"


def test_pubsub_errors_and_help(srv):
    q = srv.client()
    assert str(q("PUBSUB")) == "ERR wrong number of arguments for 'pubsub' command"
    assert str(q("PUBSUB", "foo")) == "ERR unknown subcommand 'foo'. Try PUBSUB HELP."
    assert str(q("PUBSUB", "NUMPAT", "x")) == "ERR wrong number of arguments for 'pubsub|numpat' command"
    assert str(q("PUBSUB", "CHANNELS", "a", "b")) == (
        "ERR unknown subcommand or wrong number of arguments for 'channels'. Try PUBSUB HELP.")
    help_lines = q("PUBSUB", "HELP")
    assert help_lines[0].startswith(b"PUBSUB <subcommand>")
    assert any(line.startswith(b"NUMSUB") for line in help_lines)


def test_pubsub_counts_in_info(srv):
    a, q = srv.client(), srv.client()
    raw(srv, a, "SUBSCRIBE", "x", "y")
    raw(srv, a, "PSUBSCRIBE", "p*")
    info = q("INFO", "stats").decode()
    assert "pubsub_channels:2" in info and "pubsub_patterns:1" in info


# -- end to end ------------------------------------------------------------------------------------------

def _next_message(pubsub, timeout: float = 5.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        message = pubsub.get_message(timeout=0.1)
        if message is not None:
            return message
    raise AssertionError("no message arrived")


def test_redis_py_pubsub_end_to_end(emberkv):
    publisher = emberkv.client()
    pubsub = emberkv.client().pubsub()
    pubsub.subscribe("room")
    assert _next_message(pubsub) == {"type": "subscribe", "pattern": None, "channel": b"room", "data": 1}
    pubsub.psubscribe("ro*")
    assert _next_message(pubsub)["type"] == "psubscribe"
    assert publisher.publish("room", "hello") == 2
    assert _next_message(pubsub) == {"type": "message", "pattern": None, "channel": b"room",
                                     "data": b"hello"}
    assert _next_message(pubsub) == {"type": "pmessage", "pattern": b"ro*", "channel": b"room",
                                     "data": b"hello"}
    assert publisher.pubsub_numsub("room") == [(b"room", 1)]
    assert publisher.pubsub_numpat() == 1
    pubsub.close()
    deadline = time.time() + 5
    while publisher.pubsub_numpat() and time.time() < deadline:
        time.sleep(0.02)
    assert publisher.pubsub_numpat() == 0


def test_resp3_push_end_to_end(emberkv):
    import redis

    publisher = emberkv.client()
    subscriber = redis.Redis(port=emberkv.port, protocol=3, socket_timeout=10)
    pubsub = subscriber.pubsub()
    pubsub.subscribe("c")
    assert _next_message(pubsub)["type"] == "subscribe"
    publisher.publish("c", "x")
    assert _next_message(pubsub)["data"] == b"x"
    pubsub.close()
