"""Start-up from the AOF: Redis's files load to the dataset in their JSON; torn tails are cut off (only
in the last file, back to the last complete command or transaction); everything else that is wrong
stops start-up with one line naming file and offset, never a traceback."""

from __future__ import annotations

import json
import shutil

import pytest

from emberkv.persistence.aof.format import encode_command
from tests.aof_support import AOF_DIR, AofServer, file_commands, manifest, resp, write_aof_dir

BASE = resp([b"SELECT", b"0"], [b"SET", b"base", b"1"])
INCR_COMMANDS = [[b"SELECT", b"0"], [b"SET", b"a", b"1"], [b"INCR", b"a"], [b"MULTI"], [b"SET", b"b", b"x"],
                 [b"APPEND", b"b", b"y"], [b"EXEC"], [b"SELECT", b"3"], [b"SET", b"c", b"3"]]
INCR = b"".join(encode_command(c) for c in INCR_COMMANDS)


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def start(*options: str, loglevel: str = "notice") -> AofServer:
    return AofServer(*options, loglevel=loglevel)


def dataset(h: AofServer) -> dict:
    return {(db.id, k): v for db in h.server.keyspace.dbs for k, v in db.data.items()}


def boundaries(commands: list[list[bytes]]) -> list[int]:
    """Offsets where a replay may stop: after each command outside MULTI/EXEC."""
    out, pos, depth = [0], 0, 0
    for c in commands:
        pos += len(encode_command(c))
        depth += {b"MULTI": 1, b"EXEC": -1}.get(c[0], 0)
        if not depth:
            out.append(pos)
    return out


# -- Redis's own files --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["mp-aof-base", "mp-incr-only", "mp-rdb-preamble", "mp-timestamps"])
def test_redis_multi_part_aof_loads_to_its_json(workdir, fixtures_dir, name):
    shutil.copytree(fixtures_dir / "aof" / name, workdir / AOF_DIR)
    for p in (workdir / AOF_DIR).iterdir():
        p.chmod(0o644)
    expected = json.loads((fixtures_dir / "aof" / f"{name}.json").read_text())
    h = start()
    try:
        if not h.started:
            pytest.skip("a command these files use is not implemented in this tree yet")
        c = h.client()
        assert c("DEBUG", "DIGEST") == expected["debug_digest"].encode()
        for key in expected["keys"]:
            c("SELECT", str(key["db"]))
            raw = key["key"].encode() if isinstance(key["key"], str) else bytes.fromhex(key["key"]["hex"])
            assert c("TYPE", raw) == key["type"].encode()
            assert c("OBJECT", "ENCODING", raw) == key["encoding"].encode(), key["key"]
            if key["pexpireat"] is not None:
                assert c("PEXPIRETIME", raw) == key["pexpireat"]
    finally:
        h.close()


def test_an_old_single_file_aof_is_moved_into_the_directory_and_dump_rdb_ignored(workdir, fixtures_dir, capsys):
    shutil.copy(fixtures_dir / "aof" / "legacy-appendonly.aof", workdir / "appendonly.aof")
    (workdir / "dump.rdb").write_bytes(b"not even an rdb")
    expected = json.loads((fixtures_dir / "aof" / "legacy-appendonly.json").read_text())
    h = start()
    try:
        if not h.started:
            pytest.skip("a command this file uses is not implemented in this tree yet")
        out = capsys.readouterr().out
        assert "Successfully migrated an old-style AOF file (appendonly.aof) into the AOF directory " \
               "(appendonlydir)." in out
        assert not (workdir / "appendonly.aof").exists()
        assert (workdir / AOF_DIR / "appendonly.aof.manifest").read_bytes() == (
            b"file appendonly.aof seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\n")
        assert sum(len(db.data) for db in h.server.keyspace.dbs) == len(expected["keys"])
    finally:
        h.close()


def test_with_appendonly_yes_and_no_aof_the_server_starts_empty_and_writes_a_base(workdir, capsys):
    (workdir / "dump.rdb").write_bytes(b"REDIS0010garbage")
    h = start()
    try:
        assert h.started and dataset(h) == {}
        out = capsys.readouterr().out
        assert "Creating AOF base file appendonly.aof.1.base.rdb on server start" in out
        assert "Creating AOF incr file appendonly.aof.1.incr.aof on server start" in out
        assert (workdir / AOF_DIR / "appendonly.aof.1.base.rdb").read_bytes()[:9] == b"REDIS0010"
    finally:
        h.close()


# -- replaying ----------------------------------------------------------------------------------------


def test_base_and_incr_replay_with_transactions_and_databases(workdir):
    write_aof_dir(workdir, INCR, BASE)
    h = start()
    try:
        assert h.started
        assert dataset(h) == {(0, b"base"): b"1", (0, b"a"): b"2", (0, b"b"): b"xy", (3, b"c"): b"3"}
        assert h.server.keyspace.dirty == 0
    finally:
        h.close()


def test_an_expire_time_already_past_keeps_the_key_until_it_is_expired_and_logged(workdir):
    write_aof_dir(workdir, resp([b"SELECT", b"0"], [b"SET", b"k", b"v", b"PXAT", b"1000"],
                                [b"APPEND", b"k", b"w"], [b"SET", b"live", b"1"]))
    h = start()
    try:
        db = h.server.keyspace.dbs[0]
        assert db.data[b"k"] == b"vw" and db.expires[b"k"] == 1000  # as it was when it was logged
        assert h.client()("GET", "k") is None
        assert file_commands(workdir / AOF_DIR / "appendonly.aof.1.incr.aof")[-1] == [b"DEL", b"k"]
    finally:
        h.close()


def test_the_incr_file_goes_on_where_it_ended(workdir):
    write_aof_dir(workdir, INCR, BASE)
    h = start()
    try:
        h.client()("SET", "new", "1")
        commands = file_commands(workdir / AOF_DIR / "appendonly.aof.1.incr.aof")
        assert commands[:len(INCR_COMMANDS)] == INCR_COMMANDS
        assert commands[len(INCR_COMMANDS):] == [[b"SELECT", b"0"], [b"SET", b"new", b"1"]]
    finally:
        h.close()


# -- torn tails -----------------------------------------------------------------------------------------


def test_every_truncation_of_the_last_incr_loads_the_complete_prefix(workdir):
    cuts = boundaries(INCR_COMMANDS)
    for cut in range(len(INCR) + 1):
        shutil.rmtree(workdir / AOF_DIR, ignore_errors=True)
        write_aof_dir(workdir, INCR[:cut], BASE)
        h = start(loglevel="warning")
        try:
            assert h.started, cut
            kept = max(b for b in cuts if b <= cut)
            assert (workdir / AOF_DIR / "appendonly.aof.1.incr.aof").read_bytes() == INCR[:kept], cut
            assert h.server.keyspace.dbs[0].data[b"base"] == b"1"
        finally:
            h.close()


def test_a_cut_inside_a_transaction_goes_back_to_its_multi(workdir, capsys):
    multi_at = len(resp(*INCR_COMMANDS[:3]))
    cut = multi_at + len(resp(*INCR_COMMANDS[3:5])) + 3
    write_aof_dir(workdir, INCR[:cut], BASE)
    h = start()
    try:
        out = capsys.readouterr().out
        assert "!!! Truncating the AOF appendonly.aof.1.incr.aof at offset %d !!!" % multi_at in out
        assert f"Dropped {cut - multi_at} bytes of an unfinished MULTI/EXEC block" in out
        assert (workdir / AOF_DIR / "appendonly.aof.1.incr.aof").stat().st_size == multi_at
        assert b"b" not in h.server.keyspace.dbs[0].data
        h.client()("SET", "after", "1")
    finally:
        h.close()
    h = start()
    try:
        assert h.server.keyspace.dbs[0].data[b"after"] == b"1"  # not swallowed by an open MULTI
    finally:
        h.close()


def test_an_unfinished_multi_block_is_reverted(workdir, capsys):
    write_aof_dir(workdir, resp(*INCR_COMMANDS[:6]), BASE)
    h = start()
    try:
        out = capsys.readouterr().out
        assert "Revert incomplete MULTI/EXEC transaction in AOF file appendonly.aof.1.incr.aof" in out
        assert h.started and b"b" not in h.server.keyspace.dbs[0].data
    finally:
        h.close()


def test_nul_bytes_left_by_a_crash_are_cut_off(workdir):
    write_aof_dir(workdir, INCR + encode_command([b"SET", b"torn", b"v"])[:9] + b"\0" * 4096, BASE)
    h = start()
    try:
        assert h.started
        assert (workdir / AOF_DIR / "appendonly.aof.1.incr.aof").read_bytes() == INCR
    finally:
        h.close()


def test_a_torn_tail_is_refused_with_aof_load_truncated_no(workdir, capsys):
    write_aof_dir(workdir, INCR[:-4], BASE)
    h = start("--aof-load-truncated", "no")
    try:
        assert not h.started
        line = [x for x in capsys.readouterr().out.splitlines() if "Unexpected end of file" in x]
        assert len(line) == 1 and "appendonly.aof.1.incr.aof" in line[0] and "at offset" in line[0]
        assert (workdir / AOF_DIR / "appendonly.aof.1.incr.aof").read_bytes() == INCR[:-4]
    finally:
        h.close()


def test_a_truncated_file_that_is_not_the_last_is_fatal_and_left_alone(workdir, capsys):
    d = write_aof_dir(workdir, INCR, BASE[:-3])
    h = start()
    try:
        assert not h.started
        assert "Fatal error: the truncated file is not the last file" in capsys.readouterr().out
        assert (d / "appendonly.aof.1.base.aof").read_bytes() == BASE[:-3]
    finally:
        h.close()


# -- fatal errors, one line each ------------------------------------------------------------------------


def fatal_line(capsys) -> str:
    lines = [x for x in capsys.readouterr().out.splitlines() if " # " in x]
    assert lines, "nothing logged"
    assert not any("Traceback" in x for x in lines)
    return lines[-1]


@pytest.mark.parametrize("incr, words", [
    (INCR[:30] + b"X" + INCR[31:], "Bad file format reading the append only file appendonly.aof.1.incr.aof at offset"),
    (INCR + b"+OK\r\n" + INCR, "Bad file format reading the append only file appendonly.aof.1.incr.aof at offset"),
    (INCR + resp([b"NOSUCHCMD", b"x"]), f"Unknown command 'NOSUCHCMD' reading the append only file "
                                        f"appendonly.aof.1.incr.aof at offset {len(INCR)}"),
    (INCR.replace(b"*3\r\n$3\r\nSET\r\n$1\r\na", b"*2\r\n$3\r\nSET\r\n$1\r\na", 1) ,
     "Wrong number of arguments for 'set' command reading the append only file appendonly.aof.1.incr.aof "
     "at offset 23"),
    (resp([b"SELECT", b"99"], [b"SET", b"a", b"1"]), "SELECT 99"),
])
def test_corrupt_commands_stop_start_up_with_file_and_offset(workdir, capsys, incr, words):
    write_aof_dir(workdir, incr, BASE)
    h = start()
    try:
        assert not h.started
        assert words in fatal_line(capsys)
    finally:
        h.close()


@pytest.mark.parametrize("text, words", [
    (b"file appendonly.aof.1.base.aof seq 1 type b\nfile appendonly.aof.9.incr.aof seq 9 type i\n",
     "Unable to obtain the AOF file appendonly.aof.9.incr.aof length. stat: No such file or directory"),
    (b"file appendonly.aof.1.base.aof seq 1 type b\nfile appendonly.aof.1.base.aof seq 2 type b\n",
     "Found duplicate base file information"),
    (b"file appendonly.aof.1.base.aof seq 1\n", "Invalid AOF manifest file format"),
    (b"", "Found an empty AOF manifest"),
    (b"file ../x seq 1 type b\n", "File can't be a path, just a filename"),
])
def test_a_broken_manifest_stops_start_up(workdir, capsys, text, words):
    d = write_aof_dir(workdir, INCR, BASE)
    (d / "appendonly.aof.manifest").write_bytes(text)
    h = start()
    try:
        assert not h.started
        line = fatal_line(capsys)
        assert words in line
    finally:
        h.close()


def test_a_broken_manifest_stops_start_up_even_with_appendonly_no(workdir, capsys):
    d = write_aof_dir(workdir, INCR, BASE)
    (d / "appendonly.aof.manifest").write_bytes(b"garbage\n")
    h = AofServer(appendonly="no")
    try:
        assert not h.started
        assert "Invalid AOF manifest file format" in fatal_line(capsys)
    finally:
        h.close()


def test_a_corrupt_rdb_base_is_fatal(workdir, capsys):
    d = workdir / AOF_DIR
    d.mkdir()
    (d / "appendonly.aof.1.base.rdb").write_bytes(b"REDIS0010\xfa\x02xx")
    (d / "appendonly.aof.manifest").write_bytes(b"file appendonly.aof.1.base.rdb seq 1 type b\n")
    h = start()
    try:
        assert not h.started
        assert "Error reading the RDB base file appendonly.aof.1.base.rdb, AOF loading aborted" in fatal_line(capsys)
    finally:
        h.close()


def test_loading_reports_progress_and_ends_with_loading_off(workdir):
    from emberkv.persistence.aof.loader import AofLoader

    big = resp([b"SELECT", b"0"], *([b"SET", b"key:%d" % i, b"v" * 50] for i in range(20000)))
    write_aof_dir(workdir, big)
    h = AofServer(appendonly="no")
    try:
        loader = AofLoader(h.server, str(workdir / AOF_DIR), manifest(workdir), "appendonly.aof")
        steps = loader.steps(64 * 1024)
        seen = []
        with pytest.raises(StopIteration):
            while True:
                next(steps)
                state = h.server.persistence
                seen.append((state.loading, state.loading_loaded_bytes, state.loading_total_bytes))
        assert len(seen) > 5 and all(s[0] for s in seen)
        assert [s[1] for s in seen] == sorted(s[1] for s in seen) and seen[-1][2] == len(big)
        assert not h.server.persistence.loading and len(h.server.keyspace.dbs[0].data) == 20000
    finally:
        h.close()


def test_a_log_of_many_transactions_loads_in_linear_time(workdir):
    import time

    transactions = [c for i in range(20000) for c in ([b"MULTI"], [b"INCR", b"t"], [b"SET", b"k:%d" % i, b"1"],
                                                    [b"EXEC"])]
    write_aof_dir(workdir, resp([b"SELECT", b"0"], *transactions))
    started = time.process_time()
    h = start(loglevel="warning")
    try:
        assert h.started and h.server.keyspace.dbs[0].data[b"t"] == b"20000"
        assert time.process_time() - started < 10  # was quadratic: minutes
    finally:
        h.close()


def test_clients_get_loading_while_the_aof_loads(tmp_path):
    import time

    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    from tests.servers import start_emberkv

    workdir = tmp_path / "server"
    write_aof_dir(workdir, resp([b"SELECT", b"0"], *([b"SET", b"key:%d" % i, b"v"] for i in range(3000))))
    server = start_emberkv(workdir, "--appendonly", "yes", "--key-load-delay", "500")
    try:
        r = server.client(retry=Retry(NoBackoff(), 0))  # redis-py retries on LOADING otherwise
        with pytest.raises(redis.exceptions.BusyLoadingError):
            r.get("key:1")
        info = r.info("persistence")
        assert info["loading"] == 1 and info["loading_total_bytes"] > 0
        assert {"loading_loaded_bytes", "loading_loaded_perc", "loading_eta_seconds"} <= set(info)
        deadline = time.time() + 30
        while r.info("persistence")["loading"]:
            assert time.time() < deadline
            time.sleep(0.05)
        assert r.dbsize() == 3000 and r.get("key:2999") == b"v"
    finally:
        server.stop()
