"""``emberkv backup`` as a user meets it: --help everywhere, named exit codes, and every failure as one
clear line on stderr (never a traceback), with nothing deleted or overwritten by a failed run."""

from __future__ import annotations

import json
import os

import pytest

from emberkv.backup import errors as E
from tests.backup_support import cli_env, run_cli
from tests.servers import free_port, start_emberkv

SUBCOMMANDS = ("create", "list", "verify", "restore", "prune")


def one_line_error(proc, *fragments: str) -> str:
    lines = proc.stderr.strip().splitlines()
    assert lines, "no error message"
    assert "Traceback" not in proc.stderr
    last = lines[-1]
    assert last.startswith("emberkv backup ") and ": error: " in last, last
    for fragment in fragments:
        assert fragment in last, last
    return last


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    server = start_emberkv(tmp_path_factory.mktemp("src"))
    server.client().config_set("requirepass", "s3cret")  # (the start-up check PINGs without a password)
    client = server.client(password="s3cret")
    client.set("a", "1")
    client.set("b", "2")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def catalog(tmp_path_factory, source):
    path = tmp_path_factory.mktemp("catalog")
    proc = run_cli("create", "--from", f"redis://:s3cret@127.0.0.1:{source.port}", "--catalog", str(path), "-q")
    assert proc.returncode == 0, proc.stderr
    return path, proc.stdout.strip()


@pytest.mark.parametrize("sub", SUBCOMMANDS)
def test_every_subcommand_has_help_with_the_exit_codes(sub):
    proc = run_cli(sub, "--help")
    assert proc.returncode == E.EXIT_OK
    assert "--catalog" in proc.stdout and "exit codes:" in proc.stdout and "5 not-found" in proc.stdout


def test_usage_errors_exit_2():
    assert run_cli().returncode == E.EXIT_USAGE
    assert run_cli("bogus").returncode == E.EXIT_USAGE
    assert run_cli("create").returncode == E.EXIT_USAGE  # --from is required
    assert run_cli("restore", "x").returncode == E.EXIT_USAGE  # --data-dir or --into is required
    assert run_cli("verify", "--catalog", "/nonexistent").returncode == E.EXIT_USAGE  # an id or --all
    proc = run_cli("prune", "--catalog", "/nonexistent")
    assert proc.returncode == E.EXIT_USAGE
    one_line_error(proc, "--keep-last")
    proc = run_cli("prune", "--keep-last", "-1")
    one_line_error(proc, "must not be negative")
    proc = run_cli("create", "--from", "http://x", "--catalog", "/nonexistent")
    assert proc.returncode == E.EXIT_USAGE
    one_line_error(proc, "bad address")
    proc = run_cli("create", "--from", "redis://h:notaport", "--catalog", "/nonexistent")
    one_line_error(proc, "must be numbers")
    proc = run_cli("create", "--from", "redis://h", "--compress-level", "99")
    one_line_error(proc, "--compress-level")


def test_unreachable_server(tmp_path):
    proc = run_cli("create", "--from", f"redis://127.0.0.1:{free_port()}", "--catalog", str(tmp_path / "c"))
    assert proc.returncode == E.EXIT_UNREACHABLE
    one_line_error(proc, "cannot connect to redis://127.0.0.1:", "refused")
    assert not (tmp_path / "c").exists()


def test_wrong_or_missing_password(source, tmp_path):
    proc = run_cli("create", "--from", f"redis://:hunter2@127.0.0.1:{source.port}", "--catalog", str(tmp_path))
    assert proc.returncode == E.EXIT_AUTH
    one_line_error(proc, "authentication to redis://127.0.0.1:", "failed: WRONGPASS")
    assert "hunter2" not in proc.stderr  # the password is never printed
    env = cli_env()
    env.pop("REDISCLI_AUTH", None)
    proc = run_cli("create", "--from", f"redis://127.0.0.1:{source.port}", "--catalog", str(tmp_path), env=env)
    assert proc.returncode == E.EXIT_AUTH
    one_line_error(proc, "requires a password")
    assert os.listdir(tmp_path) == []


def test_password_from_rediscli_auth(source, tmp_path):
    proc = run_cli("create", "--from", f"127.0.0.1:{source.port}", "--catalog", str(tmp_path), "-q",
                   env=cli_env(REDISCLI_AUTH="s3cret"))
    assert proc.returncode == E.EXIT_OK, proc.stderr
    assert proc.stdout.strip() in os.listdir(tmp_path)


def test_auth_with_a_username(tmp_path):
    server = start_emberkv(tmp_path / "acl")
    server.client().config_set("requirepass", "pw")
    try:
        ok = run_cli("create", "--from", f"redis://default:pw@127.0.0.1:{server.port}", "--catalog",
                     str(tmp_path / "c"), "-q")
        assert ok.returncode == E.EXIT_OK, ok.stderr
        bad = run_cli("create", "--from", f"redis://nobody:pw@127.0.0.1:{server.port}", "--catalog",
                      str(tmp_path / "c"), "-q")
        assert bad.returncode == E.EXIT_AUTH
    finally:
        server.stop()


def test_unknown_and_ambiguous_ids(catalog):
    path, backup_id = catalog
    for args in (("verify", "nope"), ("restore", "nope", "--data-dir", str(path / "x"))):
        proc = run_cli(*args, "--catalog", str(path))
        assert proc.returncode == E.EXIT_NOT_FOUND
        one_line_error(proc, "no backup 'nope'")
    assert not (path / "x").exists()
    prefix = run_cli("verify", backup_id[:10], "--catalog", str(path))
    assert prefix.returncode == E.EXIT_OK and backup_id in prefix.stdout
    latest = run_cli("verify", "latest", "--catalog", str(path))
    assert latest.returncode == E.EXIT_OK and backup_id in latest.stdout


def test_missing_catalog_directory(tmp_path):
    proc = run_cli("list", "--catalog", str(tmp_path / "none"))
    assert proc.returncode == E.EXIT_STORAGE
    one_line_error(proc, "does not exist")


def test_list_table_and_json(catalog):
    path, backup_id = catalog
    table = run_cli("list", "--catalog", str(path))
    assert table.returncode == E.EXIT_OK
    header, row = table.stdout.splitlines()
    assert header.split() == ["ID", "TIME", "SIZE", "KEYS", "SOURCE"]
    assert row.split()[0] == backup_id and row.split()[-2:] == ["2", row.split()[-1]]
    [doc] = json.loads(run_cli("list", "--json", "--catalog", str(path)).stdout)
    assert doc["id"] == backup_id and doc["keys"] == {"0": 2} and doc["source"].startswith("redis://127.0.0.1:")
    assert "s3cret" not in json.dumps(doc)


def test_unreadable_manifest_is_reported_not_fatal(catalog, tmp_path):
    path, backup_id = catalog
    broken = path / "20000101T000000Z-000000"
    broken.mkdir(exist_ok=True)
    (broken / "manifest.json").write_text("{not json")
    try:
        proc = run_cli("list", "--catalog", str(path))
        assert proc.returncode == E.EXIT_OK and backup_id in proc.stdout
        assert "warning: unreadable manifest" in proc.stderr
    finally:
        (broken / "manifest.json").unlink()
        broken.rmdir()


def test_half_made_backups_are_never_listed(catalog):
    path, backup_id = catalog
    (path / ".incoming-20990101T000000Z-abcdef").mkdir()
    (path / "20990101T000000Z-abcdef").mkdir()
    (path / "20990101T000000Z-abcdef" / "dump.rdb.zst").write_bytes(b"partial")
    try:
        proc = run_cli("list", "--json", "--catalog", str(path))
        assert [m["id"] for m in json.loads(proc.stdout)] == [backup_id]
    finally:
        (path / "20990101T000000Z-abcdef" / "dump.rdb.zst").unlink()
        (path / "20990101T000000Z-abcdef").rmdir()
        (path / ".incoming-20990101T000000Z-abcdef").rmdir()


def test_online_restore_errors(source, catalog):
    path, backup_id = catalog
    url = f"redis://127.0.0.1:{free_port()}"
    proc = run_cli("restore", backup_id, "--into", url, "--catalog", str(path))
    assert proc.returncode == E.EXIT_UNREACHABLE
    one_line_error(proc, "cannot connect")
    proc = run_cli("restore", backup_id, "--into", f"redis://:bad@127.0.0.1:{source.port}", "--catalog", str(path))
    assert proc.returncode == E.EXIT_AUTH
    proc = run_cli("restore", backup_id, "--data-dir", str(path / "d"), "--replace", "--catalog", str(path))
    assert proc.returncode == E.EXIT_USAGE
    proc = run_cli("restore", backup_id, "--into", url, "--force", "--catalog", str(path))
    assert proc.returncode == E.EXIT_USAGE


def test_online_restore_into_an_existing_db_number_it_cannot_select(tmp_path, catalog):
    path, backup_id = catalog
    small = start_emberkv(tmp_path / "small", "--databases", "1")
    try:
        src = start_emberkv(tmp_path / "src2")
        try:
            src.client().execute_command("SELECT", 3)
            c = src.client(db=3)
            c.set("x", "y")
            made = run_cli("create", "--from", f"redis://127.0.0.1:{src.port}", "--catalog", str(tmp_path / "c"), "-q")
            assert made.returncode == 0, made.stderr
        finally:
            src.stop()
        proc = run_cli("restore", made.stdout.strip(), "--into", f"redis://127.0.0.1:{small.port}", "--catalog",
                       str(tmp_path / "c"))
        assert proc.returncode == E.EXIT_PARTIAL
        one_line_error(proc, "restore interrupted after 0 of 1 keys", "SELECT", "partial")
    finally:
        small.stop()


def test_prune_dry_run_then_delete_and_clean_leftovers(source, tmp_path):
    catalog = tmp_path / "catalog"
    ids = []
    for _ in range(3):
        proc = run_cli("create", "--from", f"redis://:s3cret@127.0.0.1:{source.port}", "--catalog", str(catalog), "-q")
        assert proc.returncode == 0, proc.stderr
        ids.append(proc.stdout.strip())
    dry = run_cli("prune", "--keep-last", "2", "--catalog", str(catalog))
    assert dry.returncode == E.EXIT_OK
    assert f"delete {ids[0]}" in dry.stdout and "dry run" in dry.stdout
    assert f"keep   {ids[2]}" in dry.stdout and "(last)" in dry.stdout
    assert [m["id"] for m in json.loads(run_cli("list", "--json", "--catalog", str(catalog)).stdout)] == ids
    stale, fresh, half_deleted = (catalog / ".incoming-old", catalog / ".incoming-new", catalog / ".deleting-x")
    for d in (stale, fresh, half_deleted):
        d.mkdir()
    os.utime(stale, (1, 1))
    real = run_cli("prune", "--keep-last", "2", "--yes", "--catalog", str(catalog))
    assert real.returncode == E.EXIT_OK and f"delete {ids[0]}  " in real.stdout and "deleted" in real.stdout
    assert [m["id"] for m in json.loads(run_cli("list", "--json", "--catalog", str(catalog)).stdout)] == ids[1:]
    assert sorted(os.listdir(catalog)) == sorted([".incoming-new", *ids[1:]])
    assert "removed .incoming-old" in real.stderr and "removed .deleting-x" in real.stderr
