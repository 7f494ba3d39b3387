"""Faults: a source killed mid-transfer, a full destination, corrupted backups, interrupted restores.

In every case the run fails with one line and a named exit code, nothing half-made is listed, and
nothing that existed before is lost: an offline restore leaves the target as it was, an online one
that stopped part way says so.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time

import pytest

from emberkv.backup import errors as E
from tests.backup_support import cli_env, populate, run_cli
from tests.servers import REDIS_SERVER, start_emberkv, start_redis


def listed(catalog) -> list[str]:
    proc = run_cli("list", "--json", "--catalog", str(catalog))
    return [m["id"] for m in json.loads(proc.stdout)] if proc.returncode == 0 else []


def leftovers(catalog) -> list[str]:
    return [n for n in os.listdir(catalog) if n.startswith(".")] if os.path.isdir(catalog) else []


def popen_cli(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "emberkv.cli.main", "backup", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=cli_env())


def wait_for(predicate, timeout: float = 15.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    pytest.fail("condition not reached in time")


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    server = start_emberkv(tmp_path_factory.mktemp("src"))
    populate(server.client())
    yield server
    server.stop()


@pytest.fixture(scope="module")
def backup_id_and_catalog(tmp_path_factory, source):
    catalog = tmp_path_factory.mktemp("catalog")
    proc = run_cli("create", "--from", f"redis://127.0.0.1:{source.port}", "--catalog", str(catalog), "-q")
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip(), catalog


def copy_backup(backup_id, catalog, dest):
    shutil.copytree(catalog / backup_id, dest / backup_id)
    return dest / backup_id


# -- the source dies --------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["emberkv", "redis"])
def test_source_killed_mid_transfer(tmp_path, kind):
    if kind == "redis" and REDIS_SERVER is None:
        pytest.skip("redis-server is not installed (CI installs it)")
    start = start_emberkv if kind == "emberkv" else start_redis
    extra = () if kind == "emberkv" else ("--repl-diskless-sync-delay", "0")
    server = start(tmp_path / "victim", *extra)
    try:
        client = server.client()
        client.mset({f"k{i}": "x" * 100 for i in range(120)})
        client.config_set("rdb-key-save-delay", 20_000)  # 20 ms a key: 2.4 s of transfer
        catalog = tmp_path / "catalog"
        proc = popen_cli("create", "--from", f"redis://127.0.0.1:{server.port}", "--catalog", str(catalog),
                         "--progress", "plain")
        wait_for(lambda: any(n.startswith(".incoming-") for n in leftovers(catalog)))
        time.sleep(0.8)
        server.proc.send_signal(signal.SIGKILL)
        server.proc.wait()
        out, err = proc.communicate(timeout=60)
    finally:
        server.stop()
    assert proc.returncode == E.EXIT_UNREACHABLE, err
    assert "Traceback" not in err
    assert "incomplete" in err.splitlines()[-1] or "lost" in err.splitlines()[-1]
    assert out == "" and listed(catalog) == [] and leftovers(catalog) == []


# -- the destination is full ---------------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path):
    """A 1 MiB tmpfs (skipped where mounting is not allowed; the RLIMIT_FSIZE tests cover the rest)."""
    mount_point = tmp_path / "small"
    mount_point.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount_point)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {proc.stderr.strip()}")
    yield mount_point
    subprocess.run(["umount", "-l", str(mount_point)], check=False)


@pytest.fixture(scope="module")
def big_source(tmp_path_factory):
    server = start_emberkv(tmp_path_factory.mktemp("big"), "--rdbcompression", "no")
    server.client().execute_command("DEBUG", "POPULATE", 30_000, "key", 100)  # an RDB of ~3.5 MB
    yield server
    server.stop()


def test_backup_to_a_full_disk(big_source, small_disk):
    catalog = small_disk / "catalog"
    proc = run_cli("create", "--from", f"redis://127.0.0.1:{big_source.port}", "--catalog", str(catalog),
                   "--no-compress")
    assert proc.returncode == E.EXIT_STORAGE
    assert "no space left on device" in proc.stderr.splitlines()[-1] and "Traceback" not in proc.stderr
    assert listed(catalog) == [] and leftovers(catalog) == []
    assert shutil.disk_usage(small_disk).used < 100_000  # the staging area is gone


def _limit_file_size(limit: int):
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


def test_backup_hits_the_file_size_limit(big_source, tmp_path):
    catalog = tmp_path / "catalog"
    proc = run_cli("create", "--from", f"redis://127.0.0.1:{big_source.port}", "--catalog", str(catalog),
                   "--no-compress", preexec_fn=_limit_file_size(256 * 1024))
    assert proc.returncode == E.EXIT_STORAGE
    assert "file too large" in proc.stderr.splitlines()[-1] and "Traceback" not in proc.stderr
    assert listed(catalog) == [] and leftovers(catalog) == []


def test_offline_restore_to_a_full_disk_keeps_the_old_file(big_source, small_disk, tmp_path):
    catalog = tmp_path / "catalog"
    made = run_cli("create", "--from", f"redis://127.0.0.1:{big_source.port}", "--catalog", str(catalog), "-q",
                   "--no-compress")
    assert made.returncode == 0, made.stderr
    (small_disk / "dump.rdb").write_bytes(b"old data")
    proc = run_cli("restore", made.stdout.strip(), "--data-dir", str(small_disk), "--force", "--catalog",
                   str(catalog))
    assert proc.returncode == E.EXIT_STORAGE
    assert "no space left on device" in proc.stderr.splitlines()[-1]
    assert os.listdir(small_disk) == ["dump.rdb"] and (small_disk / "dump.rdb").read_bytes() == b"old data"


def test_offline_restore_hits_the_file_size_limit(backup_id_and_catalog, tmp_path):
    backup_id, catalog = backup_id_and_catalog
    data = tmp_path / "data"
    data.mkdir()
    (data / "dump.rdb").write_bytes(b"old data")
    proc = run_cli("restore", backup_id, "--data-dir", str(data), "--force", "--catalog", str(catalog),
                   preexec_fn=_limit_file_size(4096))
    assert proc.returncode == E.EXIT_STORAGE
    assert os.listdir(data) == ["dump.rdb"] and (data / "dump.rdb").read_bytes() == b"old data"


# -- corrupted backups ---------------------------------------------------------------------------------------


def flip_byte(path, where: float = 0.5) -> None:
    data = bytearray(path.read_bytes())
    data[int(len(data) * where)] ^= 0x40
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("compress", [True, False])
def test_corrupted_backup_fails_verify_and_restores_refuse(source, tmp_path, compress):
    catalog = tmp_path / "catalog"
    made = run_cli("create", "--from", f"redis://127.0.0.1:{source.port}", "--catalog", str(catalog), "-q",
                   *([] if compress else ["--no-compress"]))
    backup_id = made.stdout.strip()
    good = run_cli("create", "--from", f"redis://127.0.0.1:{source.port}", "--catalog", str(catalog), "-q")
    [obj] = [p for p in (catalog / backup_id).iterdir() if p.name.startswith("dump.rdb")]
    flip_byte(obj)

    proc = run_cli("verify", "--all", "--catalog", str(catalog))
    assert proc.returncode == E.EXIT_CORRUPT
    lines = proc.stdout.splitlines()
    assert f"FAILED {backup_id}:" in lines[0] and "SHA-256" in lines[0]
    assert lines[1].startswith(f"OK {good.stdout.strip()}")

    data = tmp_path / "data"
    proc = run_cli("restore", backup_id, "--data-dir", str(data), "--catalog", str(catalog))
    assert proc.returncode == E.EXIT_CORRUPT
    assert "is corrupt" in proc.stderr.splitlines()[-1] and "nothing was restored" in proc.stderr
    assert os.listdir(data) == []

    target = start_emberkv(tmp_path / "target")
    try:
        proc = run_cli("restore", backup_id, "--into", f"redis://127.0.0.1:{target.port}", "--catalog",
                       str(catalog))
        assert proc.returncode == E.EXIT_CORRUPT and "nothing was restored" in proc.stderr
        assert target.client().dbsize() == 0
    finally:
        target.stop()


def test_verify_names_each_mismatch(backup_id_and_catalog, tmp_path):
    backup_id, catalog = backup_id_and_catalog
    copy = copy_backup(backup_id, catalog, tmp_path)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["digest"] = "f" * 40
    manifest["keys"] = {"0": 1}
    (copy / "manifest.json").write_text(json.dumps(manifest))
    proc = run_cli("verify", backup_id, "--catalog", str(tmp_path))
    assert proc.returncode == E.EXIT_CORRUPT
    assert "DEBUG DIGEST is" in proc.stdout and "keys per database is" in proc.stdout


def test_uncompressed_rdb_with_a_bad_crc_is_reported_by_offset(source, tmp_path):
    catalog = tmp_path / "catalog"
    made = run_cli("create", "--from", f"redis://127.0.0.1:{source.port}", "--catalog", str(catalog), "-q",
                   "--no-compress")
    backup_id = made.stdout.strip()
    flip_byte(catalog / backup_id / "dump.rdb", where=0.999)  # inside the CRC-64 trailer
    proc = run_cli("verify", backup_id, "--catalog", str(catalog))
    assert proc.returncode == E.EXIT_CORRUPT
    assert "Wrong RDB checksum" in proc.stdout and "at offset" in proc.stdout


def test_missing_or_truncated_data(backup_id_and_catalog, tmp_path):
    backup_id, catalog = backup_id_and_catalog
    copy = copy_backup(backup_id, catalog, tmp_path)
    obj = copy / "dump.rdb.zst"
    obj.write_bytes(obj.read_bytes()[:100])
    proc = run_cli("verify", backup_id, "--catalog", str(tmp_path))
    assert proc.returncode == E.EXIT_CORRUPT and f"FAILED {backup_id}" in proc.stdout
    obj.unlink()
    proc = run_cli("verify", backup_id, "--catalog", str(tmp_path))
    assert proc.returncode == E.EXIT_CORRUPT
    assert "has no readable data" in proc.stderr.splitlines()[-1]


# -- interrupted restores ------------------------------------------------------------------------------------


def _fifo_backup(backup_id, catalog, tmp_path):
    """A copy of the backup whose data is a FIFO: the test decides how much of it the restore gets."""
    copy = copy_backup(backup_id, catalog, tmp_path)
    obj = copy / "dump.rdb.zst"
    data = obj.read_bytes()
    obj.unlink()
    os.mkfifo(obj)
    return obj, data


@pytest.mark.parametrize("appendonly", [False, True])
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_interrupted_offline_restore_leaves_the_target_unchanged(backup_id_and_catalog, tmp_path, appendonly, sig):
    backup_id, catalog = backup_id_and_catalog
    fifo, data = _fifo_backup(backup_id, catalog, tmp_path)
    target = tmp_path / "data"
    (target / "appendonlydir").mkdir(parents=True)
    (target / "dump.rdb").write_bytes(b"old rdb")
    (target / "appendonlydir" / "appendonly.aof.manifest").write_text("old manifest")
    args = ["restore", backup_id, "--data-dir", str(target), "--force", "--catalog", str(tmp_path),
            "--progress", "plain"] + (["--appendonly"] if appendonly else [])
    proc = popen_cli(*args)
    with open(fifo, "wb") as pipe:
        pipe.write(data[: len(data) // 2])
        pipe.flush()
        time.sleep(0.5)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode in (-signal.SIGKILL, E.EXIT_INTERRUPTED)
    assert (target / "dump.rdb").read_bytes() == b"old rdb"
    assert (target / "appendonlydir" / "appendonly.aof.manifest").read_text() == "old manifest"
    assert os.listdir(target / "appendonlydir") == ["appendonly.aof.manifest"]
    if sig == signal.SIGINT:
        assert "interrupted" in err.splitlines()[-1]
        assert sorted(os.listdir(target)) == ["appendonlydir", "dump.rdb"]  # no temp files either


def test_interrupted_online_restore_is_reported_as_partial(tmp_path):
    source = start_emberkv(tmp_path / "src")
    source.client().execute_command("DEBUG", "POPULATE", 200_000, "key", 10)
    catalog = tmp_path / "catalog"
    made = run_cli("create", "--from", f"redis://127.0.0.1:{source.port}", "--catalog", str(catalog), "-q")
    source.stop()
    assert made.returncode == 0, made.stderr
    target = start_emberkv(tmp_path / "target")
    try:
        proc = popen_cli("restore", made.stdout.strip(), "--into", f"redis://127.0.0.1:{target.port}", "--catalog",
                         str(catalog))
        client = target.client()
        wait_for(lambda: client.dbsize() > 0)
        target.proc.send_signal(signal.SIGKILL)
        out, err = proc.communicate(timeout=60)
    finally:
        target.stop()
    assert proc.returncode == E.EXIT_PARTIAL, err
    last = err.splitlines()[-1]
    assert "restore interrupted after" in last and "of 200000 keys" in last and "partial restore" in last

