"""``emberkv check-aof`` against ``redis-check-aof``: same report, same exit code and same file
afterwards, on sound files, every truncation, bit flips, --fix, --truncate-to-timestamp and broken
manifests. Plus our own checks where no oracle is needed."""

from __future__ import annotations

import io
import os
import random
import re
import shutil
import subprocess

import pytest

from emberkv.cli.check_aof import EXIT_INVALID, EXIT_OK, run
from emberkv.persistence.aof.format import encode_command

REDIS_CHECK_AOF = shutil.which("redis-check-aof")
needs_oracle = pytest.mark.skipif(REDIS_CHECK_AOF is None,
                                  reason="redis-check-aof is not installed (CI installs redis-tools)")

SOUND = (b"#TS:100\r\n" + encode_command([b"SELECT", b"0"]) + encode_command([b"SET", b"k1", b"v1"])
         + b"#TS:200\r\n" + encode_command([b"MULTI"]) + encode_command([b"INCR", b"c"])
         + encode_command([b"LPUSH", b"l", b"a", b"b"]) + encode_command([b"EXEC"]) + b"#TS:300\r\n"
         + encode_command([b"SET", b"k2", b"x" * 40]))
MANIFEST = b"file b.aof seq 1 type b\nfile i1.aof seq 1 type i\nfile i2.aof seq 2 type i\n"


def _normalize(out: bytes) -> bytes:
    out = re.sub(rb"\d+:C \d+ \w+ \d+ [\d:.]+ # ", b"", out)  # Redis's log prefix on manifest errors
    out = out.replace(b"redis-check-aof", b"emberkv check-aof")
    return re.sub(rb"\n+", b"\n", out)


def ours(workdir, args: list[str], stdin: bytes = b"") -> tuple[int, bytes]:
    out = io.BytesIO()
    cwd = os.getcwd()
    os.chdir(workdir)
    try:
        code = run(args, out, io.BytesIO(stdin))
    finally:
        os.chdir(cwd)
    return code, out.getvalue()


def compare(tmp_path, files: dict[str, bytes], args: list[str], stdin: bytes = b"") -> None:
    results = []
    for who in ("redis", "ember"):
        d = tmp_path / who
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir()
        for name, data in files.items():
            (d / name).write_bytes(data)
        if who == "redis":
            p = subprocess.run([REDIS_CHECK_AOF, *args], cwd=d, input=stdin, capture_output=True)
            code, out = p.returncode, p.stdout
        else:
            code, out = ours(d, args, stdin)
        results.append((code, _normalize(out), {n: (d / n).read_bytes() for n in files}))
    assert results[1] == results[0], f"{args} on {files!r}"


@needs_oracle
def test_every_truncation_of_a_file_is_judged_like_redis_check_aof(tmp_path):
    for n in range(len(SOUND) + 1):
        compare(tmp_path, {"a.aof": SOUND[:n]}, ["a.aof"])


@needs_oracle
def test_bit_flips_are_judged_like_redis_check_aof(tmp_path):
    rng = random.Random(5)
    for _ in range(150):
        data = bytearray(SOUND)
        data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        compare(tmp_path, {"a.aof": bytes(data)}, ["a.aof"])


@needs_oracle
def test_fix_cuts_the_same_bytes_as_redis_check_aof(tmp_path):
    for n in range(0, len(SOUND) + 1, 5):
        compare(tmp_path, {"a.aof": SOUND[:n]}, ["--fix", "a.aof"], stdin=b"y\n")
    compare(tmp_path, {"a.aof": SOUND[:50]}, ["--fix", "a.aof"], stdin=b"n\n")


@needs_oracle
@pytest.mark.parametrize("ts", ["50", "100", "150", "250", "300", "400", "x", "", "0"])
def test_truncate_to_timestamp_like_redis_check_aof(tmp_path, ts):
    compare(tmp_path, {"a.aof": SOUND}, ["--truncate-to-timestamp", ts, "a.aof"])


@needs_oracle
def test_manifests_are_checked_file_by_file_like_redis_check_aof(tmp_path):
    for n in range(0, len(SOUND) + 1, 9):
        last_cut = {"m.manifest": MANIFEST, "b.aof": SOUND, "i1.aof": SOUND, "i2.aof": SOUND[:n]}
        compare(tmp_path, last_cut, ["m.manifest"])
        compare(tmp_path, last_cut, ["--fix", "m.manifest"], stdin=b"y\n")
        middle_cut = {"m.manifest": MANIFEST, "b.aof": SOUND, "i1.aof": SOUND[:n], "i2.aof": SOUND}
        compare(tmp_path, middle_cut, ["--fix", "m.manifest"], stdin=b"y\n")


@needs_oracle
@pytest.mark.parametrize("manifest", [
    b"", b"#x\n", b"file b.aof seq 1 type b", b"file b.aof seq 1 type b\nfile b.aof seq 2 type b\n",
    b"file b.aof seq 0 type b\n", b"file a/b seq 1 type b\n", b"file b.aof seq 1 type z\n", b"\n",
    b'file "b.aof" seq 1 type b\n', b"file 'b.aof' seq 1 type b\n", b'file "b\\x2eaof" seq 1 type b\n',
    b'file "b.aof seq 1 type b\n', b"FILE b.aof SEQ 1 TYPE b extra 1\n", b"file nope seq 1 type i\n",
    b"file i1.aof seq 2 type i\nfile i2.aof seq 1 type i\n", b"file b.aof seq 1 type h\n",
    b"file b.aof seq 1 type b\n" + b"#" * 2000 + b"\n", b'file "a b" seq 1 type b\n', b"xyz\nfile b seq 1 type b\n",
])
def test_manifest_errors_are_reported_like_redis_check_aof(tmp_path, manifest):
    files = {"m.manifest": manifest, "b.aof": SOUND, "i1.aof": SOUND, "i2.aof": SOUND, "a b": SOUND}
    compare(tmp_path, files, ["m.manifest"])


@needs_oracle
@pytest.mark.parametrize("args", [["nothere"], ["--fix", "nothere"], ["--truncate-to-timestamp", "x", "a.aof"]])
def test_bad_arguments_like_redis_check_aof(tmp_path, args):
    compare(tmp_path, {"a.aof": SOUND}, args)


def test_usage_and_exit_codes(tmp_path):
    (tmp_path / "a.aof").write_bytes(SOUND)
    (tmp_path / "bad.aof").write_bytes(SOUND[:-3])
    assert ours(tmp_path, [])[0] == EXIT_INVALID
    assert ours(tmp_path, ["a.aof"])[0] == EXIT_OK
    code, out = ours(tmp_path, ["bad.aof"])
    assert code == EXIT_INVALID and b"is not valid. Use the --fix option" in out


def test_fix_of_the_last_incr_file_makes_the_directory_loadable(tmp_path):
    (tmp_path / "m.manifest").write_bytes(MANIFEST)
    (tmp_path / "b.aof").write_bytes(SOUND)
    (tmp_path / "i1.aof").write_bytes(SOUND)
    (tmp_path / "i2.aof").write_bytes(SOUND + encode_command([b"SET", b"torn", b"value"])[:20])
    code, out = ours(tmp_path, ["--fix", "m.manifest"], stdin=b"y\n")
    assert code == EXIT_OK, out
    assert (tmp_path / "i2.aof").read_bytes() == SOUND
    code, out = ours(tmp_path, ["m.manifest"])
    assert code == EXIT_OK and b"All AOF files and manifest are valid" in out


def test_an_rdb_preamble_is_checked_then_the_tail(tmp_path):
    from emberkv.keyspace.db import Keyspace
    from emberkv.persistence.rdb.writer import rdb_save_keyspace

    ks = Keyspace()
    ks.dbs[0].data[b"k"] = b"v"
    with open(tmp_path / "p.aof", "wb") as f:
        rdb_save_keyspace(f, ks, {b"aof-base": 1})
        f.write(encode_command([b"SET", b"x", b"1"]))
    code, out = ours(tmp_path, ["p.aof"])
    assert code == EXIT_OK
    assert b"RDB preamble is OK, proceeding with AOF tail..." in out and b"AOF p.aof is valid" in out
    with open(tmp_path / "p.aof", "r+b") as f:
        f.seek(12)
        f.write(b"\xff")
    code, out = ours(tmp_path, ["p.aof"])
    assert code == EXIT_INVALID and b"RDB preamble of AOF file is not sane, aborting." in out
