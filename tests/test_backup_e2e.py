"""End to end: back up a running emberkv and a running Redis 7.0 holding every data type, verify, and
restore offline and online into both; each time the target's DEBUG DIGEST equals the source's.

The CLI runs in process (``emberkv.backup.cli.main``) for speed; test_backup_errors.py runs it as a user
does, in a child process.
"""

from __future__ import annotations

import json
import os
import threading

import pytest

from emberkv.backup.cli import main
from emberkv.backup.errors import EXIT_ERROR, EXIT_EXISTS, EXIT_OK
from emberkv.persistence.rdb.reader import RdbReader
from tests.backup_support import digest, populate
from tests.servers import REDIS_SERVER, start_emberkv, start_redis

pytestmark = pytest.mark.interop

LIBRARY = "#!lua name=backuptest\nredis.register_function('backup_test_fn', function() return 42 end)"


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    """emberkv and Redis sources holding the same data, and an empty target of each kind."""
    if REDIS_SERVER is None:
        pytest.skip("redis-server is not installed: the end-to-end backup tests need it (CI installs it)")
    base = tmp_path_factory.mktemp("e2e")
    started = {
        "emberkv": start_emberkv(base / "emberkv-src"),
        # Redis waits repl-diskless-sync-delay (5 s) before a diskless transfer, to batch replicas.
        "redis": start_redis(base / "redis-src", "--repl-diskless-sync-delay", "0"),
        "emberkv-target": start_emberkv(base / "emberkv-dst"),
        "redis-target": start_redis(base / "redis-dst"),
    }
    populate(started["emberkv"].client())
    populate(started["redis"].client())
    yield started
    for server in started.values():
        server.stop()


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def backup(capsys, catalog, server, *extra: str) -> str:
    code, out, err = run(capsys, "create", "--from", f"redis://127.0.0.1:{server.port}", "--catalog",
                         str(catalog), *extra)
    assert code == EXIT_OK, err
    return out.strip()


@pytest.mark.parametrize("source", ["emberkv", "redis"])
@pytest.mark.parametrize("compress", [True, False])
def test_backup_verify_and_restore_everywhere(servers, capsys, tmp_path, source, compress):
    src = servers[source]
    want = digest(src.client())
    catalog = tmp_path / "catalog"
    backup_id = backup(capsys, catalog, src, *([] if compress else ["--no-compress"]))

    code, out, _ = run(capsys, "list", "--json", "--catalog", str(catalog))
    [entry] = json.loads(out)
    assert entry["id"] == backup_id and entry["digest"] == want.decode()
    assert entry["keys"] == {"0": 17, "2": 2, "15": 1} and entry["expires"] == 3
    assert entry["server"] == source and entry["compression"] == ("zstd" if compress else "none")
    assert (catalog / backup_id / entry["object"]).is_file()

    code, out, _ = run(capsys, "verify", backup_id, "--catalog", str(catalog))
    assert code == EXIT_OK and out.startswith(f"OK {backup_id}")

    # Offline into a data directory, loaded by both servers.
    data_dir = tmp_path / "data"
    assert run(capsys, "restore", backup_id, "--data-dir", str(data_dir), "--catalog", str(catalog))[0] == EXIT_OK
    for start in (start_emberkv, start_redis):
        loaded = start(data_dir)
        try:
            assert digest(loaded.client()) == want
        finally:
            loaded.stop()

    # Offline as the base of a fresh AOF directory.
    aof_dir = tmp_path / "aof"
    code, _, err = run(capsys, "restore", backup_id, "--data-dir", str(aof_dir), "--appendonly", "--catalog",
                       str(catalog))
    assert code == EXIT_OK, err
    assert (aof_dir / "appendonlydir" / "appendonly.aof.manifest").read_text() == (
        "file appendonly.aof.1.base.rdb seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\n")
    for start in (start_emberkv, start_redis):
        loaded = start(aof_dir, "--appendonly", "yes")
        try:
            assert digest(loaded.client()) == want
        finally:
            loaded.stop()

    # Online, into both kinds of server.
    for target in ("emberkv-target", "redis-target"):
        client = servers[target].client()
        client.flushall()
        code, _, err = run(capsys, "restore", backup_id, "--into", f"redis://127.0.0.1:{servers[target].port}",
                           "--catalog", str(catalog))
        assert code == EXIT_OK, err
        assert "DEBUG DIGEST matches the backup" in err
        assert digest(client) == want


def test_online_restore_filters_by_db_and_pattern(servers, capsys, tmp_path):
    catalog = tmp_path / "catalog"
    backup_id = backup(capsys, catalog, servers["emberkv"])
    target = servers["redis-target"]
    client = target.client()
    client.flushall()
    code, _, err = run(capsys, "restore", backup_id, "--into", f"redis://127.0.0.1:{target.port}", "--db", "0",
                       "--match", "s:*", "--catalog", str(catalog))
    assert code == EXIT_OK, err
    assert sorted(client.keys()) == sorted(k for k in servers["emberkv"].client().keys() if k.startswith(b"s:"))
    assert "filtered out" in err and "digest" not in err.lower()


def test_online_restore_keeps_existing_keys_unless_replace(servers, capsys, tmp_path):
    catalog = tmp_path / "catalog"
    backup_id = backup(capsys, catalog, servers["emberkv"])
    target = servers["emberkv-target"]
    client = target.client()
    client.flushall()
    client.set("s:short", "mine")
    url = f"redis://127.0.0.1:{target.port}"
    code, _, err = run(capsys, "restore", backup_id, "--into", url, "--catalog", str(catalog))
    assert code == EXIT_EXISTS and "1 already existed (use --replace)" in err
    assert client.get("s:short") == b"mine"
    code, _, err = run(capsys, "restore", backup_id, "--into", url, "--replace", "--catalog", str(catalog))
    assert code == EXIT_OK, err
    assert digest(client) == digest(servers["emberkv"].client())


def test_redis_stream_round_trips_through_redis_and_is_refused_by_name_by_emberkv(servers, capsys, tmp_path):
    source = start_redis(tmp_path / "with-stream", "--repl-diskless-sync-delay", "0")
    try:
        populate(source.client(), with_stream=True)
        source.client().execute_command("FUNCTION", "LOAD", LIBRARY)
        want = digest(source.client())
        catalog = tmp_path / "catalog"
        backup_id = backup(capsys, catalog, source)
        manifest = json.loads(run(capsys, "list", "--json", "--catalog", str(catalog))[1])[0]
        assert manifest["digest"] == want.decode()  # streams are digested from the file too
        assert run(capsys, "verify", "--all", "--catalog", str(catalog))[0] == EXIT_OK
        target = servers["redis-target"]
        target.client().flushall()
        target.client().execute_command("FUNCTION", "FLUSH")
        code, _, err = run(capsys, "restore", backup_id, "--into", f"redis://127.0.0.1:{target.port}",
                           "--catalog", str(catalog))
        assert code == EXIT_OK, err
        assert digest(target.client()) == want
        assert "loaded 1 function libraries" in err
        assert target.client().execute_command("FCALL", "backup_test_fn", 0) == 42
        ours = servers["emberkv-target"]
        ours.client().flushall()
        code, _, err = run(capsys, "restore", backup_id, "--into", f"redis://127.0.0.1:{ours.port}",
                           "--catalog", str(catalog))
        assert code == EXIT_ERROR
        assert "1 refused by the target" in err and "refused: stream: ERR Bad data format" in err
        assert "function library refused: #!lua name=backuptest" in err
        assert ours.client().dbsize() == 17
    finally:
        source.stop()


def test_offline_restore_refuses_existing_data_unless_forced(servers, capsys, tmp_path):
    catalog = tmp_path / "catalog"
    backup_id = backup(capsys, catalog, servers["emberkv"])
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "dump.rdb").write_bytes(b"precious")
    code, _, err = run(capsys, "restore", backup_id, "--data-dir", str(data_dir), "--catalog", str(catalog))
    assert code == EXIT_EXISTS and "use --force" in err
    assert (data_dir / "dump.rdb").read_bytes() == b"precious"
    (data_dir / "appendonlydir").mkdir()
    (data_dir / "appendonlydir" / "appendonly.aof.manifest").write_text("precious")
    code, _, err = run(capsys, "restore", backup_id, "--data-dir", str(data_dir), "--appendonly", "--catalog",
                       str(catalog))
    assert code == EXIT_EXISTS
    assert (data_dir / "appendonlydir" / "appendonly.aof.manifest").read_text() == "precious"
    assert run(capsys, "restore", backup_id, "--data-dir", str(data_dir), "--force", "--catalog", str(catalog))[0] == 0
    assert run(capsys, "restore", backup_id, "--data-dir", str(data_dir), "--appendonly", "--force", "--catalog",
               str(catalog))[0] == 0
    assert sorted(os.listdir(data_dir)) == ["appendonlydir", "dump.rdb"]
    assert len(os.listdir(data_dir / "appendonlydir")) == 3


def test_backup_taken_while_clients_write_is_one_point_in_time(servers, capsys, tmp_path):
    """A writer sets k0..k199 to round 1, 2, 3, ... in order while the backup runs. A point-in-time image
    holds some round r+1 for k0..k(p-1) and r for the rest: never a later write without the earlier ones."""
    source = start_emberkv(tmp_path / "busy")
    try:
        client = source.client()
        client.mset({f"k{i}": 0 for i in range(200)})
        client.config_set("rdb-key-save-delay", 5000)  # 5 ms a key: the transfer takes ~1 s
        done = threading.Event()
        first_round = threading.Event()

        def writer() -> None:
            other = source.client()
            r = 0
            while not done.is_set():
                r += 1
                for i in range(200):
                    other.set(f"k{i}", r)
                first_round.set()

        thread = threading.Thread(target=writer)
        thread.start()
        # On a loaded machine the snapshot could otherwise begin before the writer's first SET.
        assert first_round.wait(30)
        try:
            backup_id = backup(capsys, tmp_path / "catalog", source, "--no-compress")
        finally:
            done.set()
            thread.join()
        with open(tmp_path / "catalog" / backup_id / "dump.rdb", "rb") as f:
            values = {e.key: int(e.value) for e in RdbReader(f).entries()}
        rounds = [values[b"k%d" % i] for i in range(200)]
        assert max(rounds) - min(rounds) <= 1
        assert rounds == sorted(rounds, reverse=True)
        assert max(rounds) >= 1  # the writer did run before and during the snapshot
    finally:
        source.stop()
