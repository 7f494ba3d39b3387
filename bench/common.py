"""Shared pieces of the benchmarks: start emberkv and redis-server side by side, run redis-benchmark
against both in one run, and print ratios emberkv / Redis (absolute numbers drift on a shared
machine; ratios measured in one run do not)."""

from __future__ import annotations

import csv
import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REDIS_SERVER = shutil.which("redis-server")
REDIS_BENCHMARK = shutil.which("redis-benchmark")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Proc:
    """A server process on a free port in its own temporary directory."""

    def __init__(self, name: str, argv: list[str], port: int, workdir: Path) -> None:
        self.name, self.argv, self.port, self.dir = name, argv, port, workdir
        self.log = open(workdir / f"{name}.log", "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(argv, cwd=workdir, stdout=self.log, stderr=subprocess.STDOUT)
        wait_ready(port, self.proc)

    def pid(self) -> int:
        return self.proc.pid

    def rss(self) -> int:
        with open(f"/proc/{self.proc.pid}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()


def wait_ready(port: int, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                # PING answers while the dataset loads; ready means loading is over.
                s.sendall(b"INFO persistence\r\n")
                if b"loading:0" in s.recv(65536):
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"port {port} not ready (answering, dataset loaded) within {timeout}s")


def start_pair(*options: str, workdir: Path | None = None) -> tuple[Proc, Proc]:
    """emberkv and redis-server with the same options (``--save ""`` etc. are the caller's)."""
    if REDIS_SERVER is None:
        sys.exit("redis-server is not installed (apt-get install redis-server redis-tools)")
    base = workdir or Path(tempfile.mkdtemp(prefix="emberkv-bench-"))
    edir, rdir = base / "emberkv", base / "redis"
    edir.mkdir(parents=True, exist_ok=True)
    rdir.mkdir(parents=True, exist_ok=True)
    eport, rport = free_port(), free_port()
    common = ["--dir", "{dir}", "--enable-debug-command", "yes", *options]
    ember = Proc("emberkv", [sys.executable, "-m", "emberkv", "--port", str(eport)]
                 + [a.replace("{dir}", str(edir)) for a in common], eport, edir)
    redis = Proc("redis", [REDIS_SERVER, "--port", str(rport)]
                 + [a.replace("{dir}", str(rdir)) for a in common], rport, rdir)
    return ember, redis


def redis_benchmark(port: int, tests: str, requests: int, clients: int = 50, pipeline: int = 1,
                    extra: tuple[str, ...] = ()) -> dict[str, float]:
    """ops/s per test, from redis-benchmark's CSV output."""
    if REDIS_BENCHMARK is None:
        sys.exit("redis-benchmark is not installed (apt-get install redis-tools)")
    out = subprocess.run(
        [REDIS_BENCHMARK, "-p", str(port), "-t", tests, "-n", str(requests), "-c", str(clients),
         "-P", str(pipeline), "-q", "--csv", *extra],
        capture_output=True, text=True, check=True,
    ).stdout
    result = {}
    for row in csv.reader(io.StringIO(out)):
        if len(row) >= 2 and row[0] != "test":
            try:
                result[row[0]] = float(row[1])
            except ValueError:
                pass
    return result


def send(port: int, *args: str | bytes, timeout: float = 600) -> bytes:
    """One command over a raw socket; returns the raw reply."""
    parts = [a if isinstance(a, bytes) else a.encode() for a in args]
    request = b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts)
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(request)
        return s.recv(65536)


def table(headers: list[str], rows: list[list[object]]) -> str:
    """A Markdown table (pasted as is into the README)."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(_fmt(x) for x in row) + " |")
    return "\n".join(lines)


def _fmt(x: object) -> str:
    if isinstance(x, float):
        return f"{x:,.2f}" if x < 100 else f"{x:,.0f}"
    return str(x)
