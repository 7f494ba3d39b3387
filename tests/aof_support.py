"""Helpers for the AOF tests: an in-process server with the AOF attached, driven one event-loop turn
at a time, and readers for what ended up in the AOF directory."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from emberkv.persistence.aof.format import AofReader, encode_command
from emberkv.persistence.aof.manifest import Manifest
from emberkv.server.startup import start_persistence
from tests.inproc import InProcessClient, InProcessServer, encode_request

AOF_DIR = "appendonlydir"


class Conn:
    """A client of an AofServer: each call sends one command and runs the loop until it is answered
    (the AOF holds replies until the log is written)."""

    def __init__(self, harness: AofServer) -> None:
        self.harness = harness
        self.inner: InProcessClient = harness.srv.client()

    def send(self, *args) -> None:
        self.inner.send(encode_request(args))

    def replies(self) -> list:
        return self.inner.replies()

    def __call__(self, *args):
        self.send(*args)
        replies: list = []
        loop = self.harness.srv.loop
        deadline = loop.time() + 10
        while True:
            self.harness.turn()
            replies += self.replies()
            if replies or self.closed or loop.time() > deadline:
                break
            loop.run_until_complete(asyncio.sleep(0.0005))  # an fsync on the bio thread
        return replies[0] if len(replies) == 1 else replies

    @property
    def closed(self) -> bool:
        return self.inner.transport.closed


class AofServer:
    """An in-process server started like emberkv-server starts (persistence included), in the current
    directory, with ``--appendonly yes`` unless options say otherwise."""

    def __init__(self, *options: str, appendonly: str = "yes", loglevel: str = "notice") -> None:
        self.srv = InProcessServer("--appendonly", appendonly, *options)
        self.server = self.srv.server
        self.server.log.set_level(loglevel)
        self.started = self.srv.loop.run_until_complete(start_persistence(self.server))
        self.aof = getattr(self.server, "aof", None)

    def client(self) -> Conn:
        return Conn(self)

    def turn(self, times: int = 3) -> None:
        """Run the event loop for a few iterations (barriers, callbacks)."""
        for _ in range(times):
            self.srv.loop.run_until_complete(asyncio.sleep(0))

    def settle(self) -> None:
        """Run the loop until no reply waits for the log (fsyncs on the bio thread included)."""
        aof = self.aof
        self.turn()
        self.wait(lambda: not aof.held and not aof.bio.pending)
        self.turn()

    def wait(self, predicate, timeout: float = 10.0) -> None:
        """Run the loop until predicate() holds (rewrites, background fsyncs)."""
        loop = self.srv.loop
        deadline = loop.time() + timeout
        while not predicate():
            if loop.time() > deadline:
                raise AssertionError("condition not reached in time")
            loop.run_until_complete(asyncio.sleep(0.005))

    def close(self) -> None:
        if self.aof is not None:
            self.aof.on_shutdown(False)
        self.srv.close()


def manifest(workdir: Path | str = ".") -> Manifest:
    return Manifest.parse((Path(workdir) / AOF_DIR / "appendonly.aof.manifest").read_bytes())


def file_commands(path: Path | str) -> list[list[bytes]]:
    """The commands of an AOF file with RESP content (annotations skipped)."""
    reader = AofReader()
    reader.feed(Path(path).read_bytes())
    out: list[list[bytes]] = []
    for _, items in reader.batches():
        out.extend(items)
    assert reader.pending == b"", "the file ends with an unfinished command"
    return out


def incr_commands(workdir: Path | str = ".") -> list[list[bytes]]:
    """Commands of every incr file of the manifest, in order."""
    out: list[list[bytes]] = []
    for f in manifest(workdir).incrs:
        out.extend(file_commands(Path(workdir) / AOF_DIR / f.name))
    return out


def write_aof_dir(workdir: Path, incr: bytes, base: bytes | None = None, name: str = "appendonly.aof") -> Path:
    """An AOF directory with an optional RESP base and one incr file."""
    d = workdir / AOF_DIR
    d.mkdir(parents=True, exist_ok=True)
    lines = []
    if base is not None:
        (d / f"{name}.1.base.aof").write_bytes(base)
        lines.append(f"file {name}.1.base.aof seq 1 type b\n")
    (d / f"{name}.1.incr.aof").write_bytes(incr)
    lines.append(f"file {name}.1.incr.aof seq 1 type i\n")
    (d / f"{name}.manifest").write_text("".join(lines))
    return d


def resp(*commands: list[bytes]) -> bytes:
    return b"".join(encode_command(c) for c in commands)


def chdir(path: Path | str) -> None:
    os.chdir(path)
