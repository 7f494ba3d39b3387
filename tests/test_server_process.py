"""The emberkv-server process: start-up, logs, signals, config errors, real clients and tools."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest
import redis

from tests.servers import free_port


def raw(port: int, payload: bytes, wait: float = 0.3) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(payload)
        time.sleep(wait)
        s.settimeout(1)
        chunks = []
        try:
            while chunk := s.recv(65536):
                chunks.append(chunk)
        except (TimeoutError, ConnectionResetError):
            pass
        return b"".join(chunks)


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_startup_log_has_redis_lines(emberkv):
    log = emberkv.log()
    assert f"Port: {emberkv.port}" in log
    assert f"PID: {emberkv.proc.pid}" in log
    assert "Server initialized" in log
    assert "Ready to accept connections" in log


def test_sigterm_shuts_down_cleanly(emberkv):
    assert emberkv.stop(signal.SIGTERM) == 0
    log = emberkv.log()
    assert "Received SIGTERM scheduling shutdown..." in log
    assert "ready to exit, bye bye" in log


def test_sigint_shuts_down_cleanly(emberkv):
    assert emberkv.stop(signal.SIGINT) == 0


def test_python_m_emberkv_version():
    out = subprocess.run([sys.executable, "-m", "emberkv", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and "emberkv" in out.stdout


def test_unknown_directive_is_fatal_with_exit_code_1(tmp_path):
    out = subprocess.run([sys.executable, "-m", "emberkv", "--port", str(free_port()), "--nosuchoption", "1"],
                         capture_output=True, text=True, cwd=tmp_path, timeout=30)
    assert out.returncode == 1
    assert "*** FATAL CONFIG FILE ERROR" in out.stderr
    assert "Traceback" not in out.stderr + out.stdout


def test_port_in_use_fails_with_one_line(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        out = subprocess.run([sys.executable, "-m", "emberkv", "--port", str(port), "--bind", "127.0.0.1",
                              "--save", ""], capture_output=True, text=True, cwd=tmp_path, timeout=30)
    assert out.returncode == 1
    assert "Traceback" not in out.stdout + out.stderr


def test_redis_py_roundtrip_and_pipeline(emberkv):
    r = emberkv.client()
    assert r.ping()
    pipe = r.pipeline(transaction=False)
    for i in range(100):
        pipe.echo(f"m{i}")
    assert pipe.execute() == [f"m{i}".encode() for i in range(100)]


def test_pipelined_raw_commands_in_one_packet(emberkv):
    reply = raw(emberkv.port, b"*1\r\n$4\r\nPING\r\n" * 50)
    assert reply == b"+PONG\r\n" * 50


def test_protocol_error_closes_only_that_connection(emberkv):
    r = emberkv.client()
    reply = raw(emberkv.port, b"*1\r\n:1\r\n")
    assert reply == b"-ERR Protocol error: expected '$', got ':'\r\n"
    assert r.ping()


def test_declared_huge_bulk_does_not_grow_memory(emberkv):
    before = rss_kib(emberkv.proc.pid)
    # Declare a 500 MB argument and send only a little of it, from several connections.
    socks = []
    for _ in range(5):
        s = socket.create_connection(("127.0.0.1", emberkv.port))
        s.sendall(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$500000000\r\nabc")
        socks.append(s)
    time.sleep(0.3)
    assert rss_kib(emberkv.proc.pid) - before < 20 * 1024
    for s in socks:
        s.close()
    assert emberkv.client().ping()


def test_bulk_over_proto_max_bulk_len_is_a_protocol_error(emberkv_factory):
    server = emberkv_factory("--proto-max-bulk-len", "1mb")
    reply = raw(server.port, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2000000\r\n")
    assert reply == b"-ERR Protocol error: invalid bulk length\r\n"
    assert server.client().ping()


def test_too_many_arguments_is_a_protocol_error(emberkv):
    reply = raw(emberkv.port, b"*2000000\r\n")
    assert reply == b"-ERR Protocol error: invalid multibulk length\r\n"


def test_client_query_buffer_limit_closes_the_client(emberkv_factory):
    server = emberkv_factory("--client-query-buffer-limit", "1mb")
    reply = raw(server.port, b"*2\r\n$4\r\nECHO\r\n$3000000\r\n" + b"x" * 1_500_000, wait=0.5)
    assert reply == b""
    assert server.client().ping()
    assert "max query buffer" in server.log()


@pytest.mark.skipif(shutil.which("redis-cli") is None, reason="redis-cli is not installed (redis-tools)")
def test_redis_cli_works_unchanged(emberkv):
    out = subprocess.run(["redis-cli", "-p", str(emberkv.port), "ECHO", "hello"],
                         capture_output=True, text=True, timeout=10)
    assert out.stdout.strip() == "hello"
    out = subprocess.run(["redis-cli", "-p", str(emberkv.port)], input="PING\nDBSIZE\n",
                         capture_output=True, text=True, timeout=10)
    assert out.stdout.split() == ["PONG", "0"]


def test_info_has_redis_sections(emberkv):
    info = emberkv.client().info("everything")
    for field in ("redis_version", "tcp_port", "connected_clients", "used_memory",
                  "rdb_changes_since_last_save", "aof_enabled", "total_commands_processed",
                  "role", "used_cpu_sys"):
        assert field in info, field
    assert info["redis_version"] == "7.0.15"


def test_config_get_reports_defaults(emberkv):
    r = emberkv.client()
    assert r.config_get("maxmemory-policy") == {"maxmemory-policy": "noeviction"}
    assert r.config_get("port")["port"] == str(emberkv.port)


def test_config_set_port_moves_the_listener(emberkv):
    r = emberkv.client()
    new_port = free_port()
    assert r.config_set("port", new_port)
    moved = redis.Redis(port=new_port, socket_timeout=5)
    for _ in range(50):
        try:
            assert moved.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    assert moved.config_get("port") == {"port": str(new_port)}
    emberkv.port = new_port  # so the fixture's shutdown finds it


def test_config_set_loglevel_and_dir_take_effect(emberkv_factory, tmp_path):
    r = emberkv_factory("--enable-protected-configs", "yes").client()
    r.config_set("loglevel", "warning")
    assert r.config_get("loglevel") == {"loglevel": "warning"}
    target = tmp_path / "elsewhere"
    target.mkdir()
    r.config_set("dir", str(target))
    r.save()
    assert (target / "dump.rdb").exists()
    with pytest.raises(redis.ResponseError):
        r.config_set("dir", str(tmp_path / "missing"))


def test_monitor_streams_other_clients_commands(emberkv):
    monitor = socket.create_connection(("127.0.0.1", emberkv.port), timeout=5)
    monitor.sendall(b"MONITOR\r\n")
    assert monitor.recv(100) == b"+OK\r\n"
    emberkv.client().echo("watched")
    time.sleep(0.2)
    line = monitor.recv(1000)
    assert b'"echo" "watched"' in line.lower()
    monitor.close()


def test_idle_clients_are_closed_after_timeout(emberkv_factory):
    server = emberkv_factory("--timeout", "1")
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
        s.sendall(b"PING\r\n")
        assert s.recv(100) == b"+PONG\r\n"
        time.sleep(2.5)
        assert s.recv(100) == b""


def test_pidfile_is_written_and_removed(emberkv_factory, tmp_path):
    pidfile = tmp_path / "emberkv.pid"
    server = emberkv_factory("--pidfile", str(pidfile))
    assert pidfile.read_text().strip() == str(server.proc.pid)
    server.stop()
    assert not pidfile.exists()


def test_logfile_receives_the_log(emberkv_factory, tmp_path):
    logfile = tmp_path / "server.log"
    server = emberkv_factory("--logfile", str(logfile))
    assert "Ready to accept connections" in logfile.read_text()
    server.client().ping()
