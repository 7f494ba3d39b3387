"""``emberkv check-rdb FILE``: reports like redis-check-rdb, exits 0 only for a sound file emberkv can
load, and never ends in a traceback, whatever the file holds."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import pytest

from emberkv.cli.check_rdb import EXIT_CORRUPT, EXIT_OK, EXIT_UNSUPPORTED, EXIT_USAGE, main
from tests.servers import FIXTURES
from tests.test_rdb_faults import TINY


def check(path: Path, capsys) -> tuple[int, str]:
    code = main([str(path)])
    return code, capsys.readouterr().out


def test_sound_file_reports_version_aux_keys_and_checksum(tmp_path, capsys):
    path = tmp_path / "dump.rdb"
    path.write_bytes(TINY)
    code, out = check(path, capsys)
    assert code == EXIT_OK
    assert f"[offset 0] Checking RDB file {path}" in out
    assert "[offset 5] RDB version 10" in out
    assert "AUX FIELD redis-ver = '7.0.15'" in out
    assert "Selecting DB ID 0" in out and "Selecting DB ID 3" in out
    assert f"[offset {len(TINY)}] Checksum OK" in out
    assert "\\o/ RDB looks OK! \\o/" in out
    assert "[info] 11 keys read" in out and "[info] 1 expires" in out and "[info] 0 already expired" in out
    for line in ("[info] 4 string keys", "[info] 1 list keys", "[info] 2 set keys", "[info] 2 hash keys",
                 "[info] 2 zset keys", "[info] db0: 10 keys", "[info] db3: 1 keys"):
        assert line in out


def test_truncated_file_reports_offset_reason_and_what_was_read(tmp_path, capsys):
    path = tmp_path / "cut.rdb"
    path.write_bytes(TINY[:200])
    code, out = check(path, capsys)
    assert code == EXIT_CORRUPT
    assert "--- RDB ERROR DETECTED ---" in out
    assert "Unexpected EOF reading RDB file" in out
    assert "[additional info] Reading key" in out and "[additional info] Reading type" in out
    assert "RDB looks OK" not in out


def test_bad_checksum_is_reported(tmp_path, capsys):
    path = tmp_path / "crc.rdb"
    path.write_bytes(TINY[:-1] + bytes([TINY[-1] ^ 1]))
    code, out = check(path, capsys)
    assert code == EXIT_CORRUPT
    assert f"[offset {len(TINY) - 8}] Wrong RDB checksum expected" in out


def test_checksum_disabled_is_said(tmp_path, capsys):
    path = tmp_path / "nocrc.rdb"
    path.write_bytes(TINY[:-8] + bytes(8))
    code, out = check(path, capsys)
    assert code == EXIT_OK and "saved with checksum disabled" in out


@pytest.mark.parametrize(("name", "what"), [("redis7/streams.rdb", "stream key 'stream:s'"),
                                            ("legacy/redis_40_with_module.rdb", "module key 'foo'"),
                                            ("legacy/redis_60_with_module_aux.rdb", "module AUX data of 'test__rdb'")])
def test_valid_files_emberkv_cannot_load_are_walked_and_flagged(name, what, capsys):
    path = FIXTURES / "rdb" / name
    if not path.is_file():
        pytest.skip(f"{path} not found: needs ../shared/fixtures")
    code, out = check(path, capsys)
    assert code == EXIT_UNSUPPORTED
    assert "RDB looks OK" in out and what in out and "emberkv cannot load" in out


def test_every_redis_fixture_that_redis_loads_checks_out(capsys):
    paths = sorted((FIXTURES / "rdb").glob("*/*.rdb")) if FIXTURES.is_dir() else []
    if not paths:
        pytest.skip(f"{FIXTURES} not found: needs ../shared/fixtures")
    for path in paths:
        code, out = check(path, capsys)
        assert code in (EXIT_OK, EXIT_UNSUPPORTED), out
        assert "RDB looks OK" in out


def test_missing_file_and_usage(tmp_path, capsys):
    code, out = check(tmp_path / "nope.rdb", capsys)
    assert code == EXIT_CORRUPT and "Cannot open" in out
    assert main([]) == EXIT_USAGE
    assert "Usage: emberkv check-rdb" in capsys.readouterr().out
    assert main(["--help"]) == EXIT_OK


def test_garbage_never_ends_in_a_traceback(tmp_path, capsys):
    rng = random.Random(3)
    path = tmp_path / "garbage.rdb"
    for i in range(300):
        data = bytearray(TINY)
        for _ in range(rng.randrange(1, 6)):
            data[rng.randrange(len(data))] ^= rng.randrange(1, 256)
        path.write_bytes(bytes(data[: rng.randrange(len(data))] if i % 2 else data))
        code, out = check(path, capsys)
        assert code == EXIT_CORRUPT, out
        assert "Traceback" not in out and "[internal error]" not in out


def test_runs_as_a_program(tmp_path):
    path = tmp_path / "dump.rdb"
    path.write_bytes(TINY)
    result = subprocess.run([sys.executable, "-m", "emberkv.cli.check_rdb", str(path)], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == EXIT_OK and "RDB looks OK" in result.stdout and not result.stderr
