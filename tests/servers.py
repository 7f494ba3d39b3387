"""Real server processes for tests: emberkv-server and, as the oracle, Redis's redis-server.

Both are started on free ports with their own temporary directories and stopped after the test.
When redis-server is not installed the tests that need it are skipped with a message saying so; CI
installs it, so there they always run.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import redis

REDIS_SERVER = shutil.which("redis-server")
SHARED = Path(__file__).resolve().parents[2] / "shared"
FIXTURES = SHARED / "fixtures"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """A server started as a child process; ``client()`` gives a redis-py client to it."""

    def __init__(self, argv: list[str], port: int, workdir: Path, log: Path) -> None:
        self.argv = argv
        self.port = port
        self.dir = workdir
        self.log_path = log
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 15.0) -> ServerProcess:
        self.log_file = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.argv, stdout=self.log_file, stderr=subprocess.STDOUT,
                                     cwd=self.dir, stdin=subprocess.DEVNULL)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                    # PING answers while the dataset loads; ready means loading is over.
                    s.sendall(b"INFO persistence\r\n")
                    if b"loading:0" in s.recv(65536):
                        return self
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"server was not ready (answering, dataset loaded) within {timeout}s:\n{self.log()}")

    def client(self, **kwargs) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=10, **kwargs)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log_file.close()
        return self.proc.returncode

    def kill(self) -> None:
        self.stop(signal.SIGKILL)


def emberkv_argv(port: int, workdir: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "emberkv", "--port", str(port), "--dir", str(workdir),
            "--save", "", "--enable-debug-command", "yes", *extra]


def redis_argv(port: int, workdir: Path, *extra: str) -> list[str]:
    return [REDIS_SERVER or "redis-server", "--port", str(port), "--dir", str(workdir), "--save", "",
            "--enable-debug-command", "yes", "--appendonly", "no", *extra]


def start_emberkv(workdir: Path, *extra: str) -> ServerProcess:
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    return ServerProcess(emberkv_argv(port, workdir, *extra), port, workdir,
                         workdir / "emberkv.log").start()


def start_redis(workdir: Path, *extra: str) -> ServerProcess:
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    return ServerProcess(redis_argv(port, workdir, *extra), port, workdir,
                         workdir / "redis.log").start()


def env_flag(name: str) -> bool:
    return os.environ.get(name, "") not in ("", "0")
