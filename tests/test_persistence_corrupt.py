"""Damaged RDB files are never loaded: a file cut at any offset, or with any one bit flipped (checksum
on), is refused with the file name and the byte offset, leaving nothing loaded; at start-up that stops
the server (exit code 1, one log line, no traceback), as does an unreadable or 0-byte file. A missing
file starts empty.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from emberkv.server.startup import start_persistence
from tests.inproc import InProcessServer
from tests.persistence_support import sample_file, try_load
from tests.servers import emberkv_argv, free_port


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


# -- loading damaged files -----------------------------------------------------------------------

def test_a_file_cut_at_any_offset_is_refused_naming_file_and_offset(workdir):
    data = sample_file(workdir / "dump.rdb")
    cut = workdir / "cut.rdb"
    for size in range(len(data)):
        cut.write_bytes(data[:size])
        error, keys = try_load(cut)
        assert error is not None, f"a file cut at {size} of {len(data)} bytes loaded"
        assert str(cut) in error and " offset " in error and "\n" not in error
        assert keys == 0
    assert try_load(workdir / "dump.rdb") == (None, 48)


def test_any_flipped_bit_is_refused_when_the_file_has_a_checksum(workdir):
    data = sample_file(workdir / "dump.rdb", keys=5)
    bad = workdir / "bad.rdb"
    for i in range(len(data)):
        for bit in range(8):
            flipped = bytearray(data)
            flipped[i] ^= 1 << bit
            bad.write_bytes(flipped)
            error, keys = try_load(bad)
            assert error is not None, f"bit {bit} of byte {i} flipped and the file still loaded"
            assert keys == 0


def test_truncated_file_in_the_middle_of_a_big_value_names_a_later_offset(workdir):
    data = sample_file(workdir / "dump.rdb")
    (workdir / "cut.rdb").write_bytes(data[: len(data) - 20])
    error, _ = try_load(workdir / "cut.rdb")
    offset = int(error.split(" offset ")[1].split(":")[0])
    assert 0 < offset <= len(data) - 20


def start_fails(workdir: Path, *extra: str) -> str:
    """Start emberkv-server in workdir; it must exit with 1. Returns what it printed."""
    argv = emberkv_argv(free_port(), workdir, *extra)
    result = subprocess.run(argv, capture_output=True, text=True, timeout=30, cwd=workdir)
    assert result.returncode == 1, result.stdout + result.stderr
    output = result.stdout + result.stderr
    assert "Traceback" not in output
    return output


def fatal_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if " # " in line and "dump.rdb" in line]


@pytest.mark.parametrize("damage", ["empty", "header only", "cut in a key", "checksum", "flipped bit",
                                    "garbage", "newer version", "stream"])
def test_start_up_stops_on_a_damaged_file_with_one_line(tmp_path, damage):
    workdir = tmp_path / "server"
    workdir.mkdir()
    good = sample_file_in(tmp_path)
    damaged = {
        "empty": b"",
        "header only": good[:9],
        "cut in a key": good[: len(good) // 2],
        "checksum": good[:-1] + bytes([good[-1] ^ 0x80]),
        "flipped bit": good[:60] + bytes([good[60] ^ 4]) + good[61:],
        "garbage": b"this is not an RDB file at all",
        "newer version": b"REDIS0011" + good[9:],
        "stream": stream_fixture(),
    }[damage]
    (workdir / "dump.rdb").write_bytes(damaged)
    output = start_fails(workdir)
    lines = fatal_lines(output)
    assert len(lines) == 1, output
    assert str(workdir / "dump.rdb") in lines[0] and " offset " in lines[0]
    assert "Ready to accept connections" not in output
    assert (workdir / "dump.rdb").read_bytes() == damaged  # never touched


def sample_file_in(tmp_path: Path) -> bytes:
    d = tmp_path / "sample"
    d.mkdir(exist_ok=True)
    cwd = os.getcwd()
    os.chdir(d)
    try:
        return sample_file(d / "dump.rdb")
    finally:
        os.chdir(cwd)


def stream_fixture() -> bytes:
    """A valid Redis file with a stream key (a type emberkv refuses by name), else a stand-in."""
    from tests.servers import FIXTURES

    for path in sorted((FIXTURES / "rdb").rglob("*.rdb")):
        if "stream" in path.name:
            return path.read_bytes()
    return b"REDIS0010\xff"  # no fixtures: a file cut before its checksum still makes the point


def test_start_up_stops_when_the_file_cannot_be_read(tmp_path):
    workdir = tmp_path / "server"
    workdir.mkdir()
    (workdir / "dump.rdb").mkdir()  # reading a directory fails even for root
    output = start_fails(workdir)
    lines = [line for line in output.splitlines() if "dump.rdb" in line]
    assert len(lines) == 1 and "Is a directory" in lines[0], output


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_start_up_stops_when_the_file_is_not_readable(tmp_path):
    workdir = tmp_path / "server"
    workdir.mkdir()
    (workdir / "dump.rdb").write_bytes(sample_file_in(tmp_path))
    (workdir / "dump.rdb").chmod(0)
    output = start_fails(workdir)
    assert "Permission denied" in output


def test_a_missing_file_starts_empty(emberkv):
    assert emberkv.client().dbsize() == 0
    assert "DB loaded from disk" not in emberkv.log()




def test_startup_stops_and_keeps_nothing_for_a_damaged_file_in_process(workdir):
    data = sample_file(workdir / "dump.rdb")
    (workdir / "dump.rdb").write_bytes(data[:-3])
    srv = InProcessServer("--appendonly", "no")
    try:
        assert srv.loop.run_until_complete(start_persistence(srv.server)) is False
        assert all(not db.data for db in srv.server.keyspace.dbs)
        assert not srv.server.persistence.loading
    finally:
        srv.close()


def test_load_errors_never_escape_as_tracebacks(workdir, monkeypatch):
    """Whatever the codec raises becomes one LoadError line with the file and offset."""
    sample_file(workdir / "dump.rdb")

    def broken(*args, **kwargs):
        raise ValueError("something unexpected")

    monkeypatch.setattr("emberkv.persistence.rdb.reader.RdbReader.load_into", broken)
    error, keys = try_load(workdir / "dump.rdb")
    assert error is not None and "something unexpected" in error and " offset " in error and keys == 0
