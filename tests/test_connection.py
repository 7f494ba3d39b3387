"""Connection commands: PING, ECHO, SELECT, AUTH, HELLO, RESET, CLIENT, protocol errors (in-process)."""

from __future__ import annotations

import asyncio

from tests.inproc import InProcessServer, err


def test_ping_and_echo(srv):
    c = srv.client()
    assert c("PING") == b"PONG"
    assert c("PING", "hi") == b"hi"
    assert str(c("PING", "a", "b")) == "ERR wrong number of arguments for 'ping' command"
    assert c("ECHO", "x") == b"x"


def test_unknown_command_error_quotes_arguments(srv):
    c = srv.client()
    assert str(c("FOO", "a", "b")) == "ERR unknown command 'FOO', with args beginning with: 'a' 'b' "


def test_select_range_and_type_errors(srv):
    c = srv.client()
    assert c("SELECT", "15") == b"OK"
    assert str(c("SELECT", "16")) == "ERR DB index is out of range"
    assert str(c("SELECT", "-1")) == "ERR DB index is out of range"
    assert str(c("SELECT", "x")) == "ERR value is not an integer or out of range"


def test_requirepass_gates_commands_until_auth():
    srv = InProcessServer("--requirepass", "secret")
    c = srv.client()
    assert str(c("DBSIZE")) == "NOAUTH Authentication required."
    assert str(c("FOO")).startswith("ERR unknown command")  # lookup errors come first, as in Redis
    assert str(c("AUTH", "wrong")) == "WRONGPASS invalid username-password pair or user is disabled."
    assert c("AUTH", "secret") == b"OK"
    assert c("DBSIZE") == 0
    srv.close()


def test_auth_without_password_configured(srv):
    assert str(srv.client()("AUTH", "x")).startswith("ERR AUTH <password> called without any password")


def test_hello_switches_protocol_and_names_the_client(srv):
    c = srv.client()
    reply = c("HELLO", "3", "SETNAME", "app")
    assert reply[b"proto"] == 3 and reply[b"version"] == b"7.0.15"
    assert c("CLIENT", "GETNAME") == b"app"
    assert str(c("HELLO", "4")) == "NOPROTO unsupported protocol version"
    assert str(c("HELLO", "x")) == "ERR Protocol version is not an integer or out of range"


def test_hello_auth_with_requirepass():
    srv = InProcessServer("--requirepass", "pw")
    c = srv.client()
    assert str(c("HELLO", "3")).startswith("NOAUTH HELLO must be called with the client already")
    assert c("HELLO", "3", "AUTH", "default", "pw")[b"proto"] == 3
    srv.close()


def test_reset_restores_connection_defaults(srv):
    c = srv.client()
    c("SELECT", "3")
    c("MULTI")
    assert c("RESET") == b"RESET"
    assert c("DBSIZE") == 0
    assert str(c("EXEC")) == "ERR EXEC without MULTI"


def test_client_commands(srv):
    c = srv.client()
    client_id = c("CLIENT", "ID")
    assert isinstance(client_id, int)
    assert c("CLIENT", "SETNAME", "worker") == b"OK"
    assert str(c("CLIENT", "SETNAME", "bad name")) == (
        "ERR Client names cannot contain spaces, newlines or special characters.")
    assert b"name=worker" in c("CLIENT", "LIST")
    assert b"cmd=client|info" in c("CLIENT", "INFO")
    assert str(c("CLIENT", "KILL", "1.2.3.4:5")) == "ERR No such client"
    assert c("CLIENT", "KILL", "ID", "99999") == 0
    assert str(c("CLIENT", "NOPE")) == "ERR unknown subcommand 'NOPE'. Try CLIENT HELP."
    assert str(c("CLIENT", "UNBLOCK", str(client_id), "x")) == "ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR"


def test_client_kill_closes_the_other_connection(srv):
    a, b = srv.client(), srv.client()
    b_id = b("CLIENT", "ID")
    assert a("CLIENT", "KILL", "ID", str(b_id)) == 1
    assert b.transport.closed


def test_protected_mode_denies_non_loopback_clients():
    srv = InProcessServer()
    remote = srv.client(peer=("10.1.2.3", 5555))
    assert remote.transport.closed
    assert remote.replies()[0].args[0].startswith("DENIED Redis is running in protected mode")
    srv.close()


def test_protocol_error_replies_and_closes(srv):
    c = srv.client()
    c.send(b"*1\r\n:5\r\n")
    assert str(c.replies()[0]) == "ERR Protocol error: expected '$', got ':'"
    assert c.transport.closed


def test_inline_commands(srv):
    c = srv.client()
    c.send(b"PING\r\nECHO \"a b\"\r\n")
    assert c.replies() == [b"PONG", b"a b"]


def test_quit_replies_ok_then_closes(srv):
    c = srv.client()
    assert c("QUIT") == b"OK"
    assert c.transport.closed


def test_a_listening_server_answers_loading_until_its_dataset_is_in():
    """Between opening its sockets and "Ready to accept connections" (persistence still coming up), a
    client must neither read an empty dataset nor have a write acknowledged before the AOF is open."""
    srv = InProcessServer("--bind", "127.0.0.1", "--port", "0")
    server = srv.server

    async def early_client() -> bytes:
        await server.start()
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"SET k v\r\nDBSIZE\r\nINFO persistence\r\n")
        replies = b""
        while replies.count(b"-LOADING") < 2 or b"loading:1" not in replies:
            chunk = await asyncio.wait_for(reader.read(65536), 5)
            assert chunk, replies
            replies += chunk
        writer.close()
        return replies

    try:
        replies = srv.loop.run_until_complete(early_client())
        assert replies.startswith(b"-LOADING Redis is loading the dataset in memory\r\n" * 2)
        assert server.keyspace.dbs[0].data == {}
    finally:
        for listener in server.listeners:
            listener.close()
        srv.close()


def test_a_command_that_raises_answers_an_error_and_the_connection_goes_on(srv, monkeypatch):
    from emberkv.commands.table import COMMANDS

    def broken(c, argv):
        c.ks.dirty += 1  # as if it had changed something before failing
        raise ValueError("bad\r\nstate")

    seen: list = []
    srv.server.effect_feeds.append(lambda batch, multi: seen.extend(batch))
    monkeypatch.setattr(COMMANDS[b"set"], "handler", broken)
    client = srv.client()
    assert err(client("SET", "k", "v")) == "ERR internal error in 'set': ValueError: bad  state"
    assert client("PING") == b"PONG"
    assert seen == []  # nothing of it reaches the AOF or replicas


def test_a_command_that_raises_still_propagates_the_expiry_it_caused(srv, monkeypatch):
    from emberkv.commands.table import COMMANDS

    def broken(c, argv):
        c.ks.lookup_write(c.db, argv[1])  # finds the key expired: deleted, and a DEL is due
        raise RuntimeError("after the lookup")

    client = srv.client()
    client("SET", "old", "v", "PX", "1")
    srv.advance(0.01)
    seen: list = []
    srv.server.effect_feeds.append(lambda batch, multi: seen.extend(argv for _, argv in batch))
    monkeypatch.setattr(COMMANDS[b"set"], "handler", broken)
    assert err(client("SET", "old", "new")).startswith("ERR internal error in 'set'")
    assert seen == [[b"DEL", b"old"]]
    assert client("EXISTS", "old") == 0
