"""AOF directories move both ways between emberkv and a real redis-server 7.0: what emberkv logs loads
in Redis to the same DEBUG DIGEST and passes redis-check-aof; what Redis logs loads in emberkv to the
same digest. Also: the same commands are logged as the same effects by both servers."""

from __future__ import annotations

import re
import shutil
import subprocess
import time

import pytest

import emberkv.commands  # noqa: F401  (registers the command table)
from emberkv.commands.table import COMMANDS
from tests.aof_support import file_commands
from tests.servers import REDIS_SERVER, start_emberkv, start_redis

pytestmark = [
    pytest.mark.interop,
    pytest.mark.skipif(REDIS_SERVER is None, reason="redis-server is not installed (CI installs it)"),
]
REDIS_CHECK_AOF = shutil.which("redis-check-aof")


def implemented(*names: str) -> bool:
    """Commands of data types other engineers may not have landed yet are used only once they exist."""
    return all(name.encode() in COMMANDS for name in names)


def workload(server) -> None:
    """A mix of what the AOF must get right: relative TTLs, rewritten commands, transactions, dbs."""
    r = server.client()
    r.set("plain", "v")
    r.set("counter", 10)
    r.incrby("counter", 5)
    r.incrbyfloat("float", "1.25")
    r.append("plain", "+more")
    r.set("ex", "v", ex=1000)
    r.execute_command("SETEX", "setex", 1000, "v")
    r.execute_command("GETSET", "plain", "replaced")
    r.expire("counter", 5000)
    r.persist("counter")
    r.set("gone", "x")
    r.delete("gone", "never-was")
    r.set("short", "x", px=1)
    time.sleep(0.01)
    r.get("short")  # expired: logged as DEL
    r.zadd("z", {"a": 1, "b": 2.5, "c": -3, "d": 1e300})
    r.zincrby("z", 0.5, "a")
    r.zpopmin("z")
    pipe = r.pipeline(transaction=True)
    pipe.set("tx1", "1").incr("tx1").zadd("tx-z", {"m": 1})
    pipe.execute()
    r.execute_command("SELECT", "3")
    r.set("db3", "value")
    r.execute_command("SELECT", "0")
    if implemented("rpush", "lpop"):
        r.rpush("list", *range(100))
        r.lpop("list")
    if implemented("sadd", "srem"):
        r.sadd("set", *range(20))
        r.srem("set", 3)
    if implemented("hset", "hincrby"):
        r.hset("hash", mapping={f"f{i}": i for i in range(10)})
        r.hincrby("hash", "f1", 10)


def digest(server) -> bytes:
    return server.client().execute_command("DEBUG", "DIGEST")


def run_workload(start, workdir, *options: str) -> tuple[bytes, float]:
    """Run the workload on a fresh server with AOF on; its digest and when the workload began."""
    server = start(workdir, "--appendonly", "yes", "--appendfsync", "always", *options)
    try:
        began = time.time()
        workload(server)
        return digest(server), began
    finally:
        assert server.stop() == 0


def copy_aof(src, dst) -> None:
    dst.mkdir(parents=True, exist_ok=True)
    shutil.copytree(src / "appendonlydir", dst / "appendonlydir")


def check_aof(workdir) -> str:
    out = subprocess.run([REDIS_CHECK_AOF, "appendonlydir/appendonly.aof.manifest"], cwd=workdir,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout
    return out.stdout


@pytest.mark.parametrize("options", [(), ("--aof-timestamp-enabled", "yes")])
def test_redis_loads_what_emberkv_logged(tmp_path, options):
    expected, _ = run_workload(start_emberkv, tmp_path / "ember", *options)
    if REDIS_CHECK_AOF:
        assert "All AOF files and manifest are valid" in check_aof(tmp_path / "ember")
    copy_aof(tmp_path / "ember", tmp_path / "redis")
    redis = start_redis(tmp_path / "redis", "--appendonly", "yes")
    try:
        assert digest(redis) == expected
    finally:
        redis.stop()


@pytest.mark.parametrize("preamble", ["yes", "no"])
def test_redis_loads_emberkv_after_a_rewrite(tmp_path, preamble):
    ember = start_emberkv(tmp_path / "ember", "--appendonly", "yes", "--aof-use-rdb-preamble", preamble)
    try:
        workload(ember)
        r = ember.client()
        assert r.bgrewriteaof() in (True, b"Background append only file rewriting started")
        deadline = time.time() + 10
        while r.info("persistence")["aof_rewrite_in_progress"] and time.time() < deadline:
            time.sleep(0.02)
        r.set("after-rewrite", "1")
        expected = digest(ember)
    finally:
        ember.stop()
    suffix = "rdb" if preamble == "yes" else "aof"
    assert (tmp_path / "ember" / "appendonlydir" / f"appendonly.aof.2.base.{suffix}").exists()
    if REDIS_CHECK_AOF:
        check_aof(tmp_path / "ember")
    copy_aof(tmp_path / "ember", tmp_path / "redis")
    redis = start_redis(tmp_path / "redis", "--appendonly", "yes")
    try:
        assert digest(redis) == expected
    finally:
        redis.stop()


@pytest.mark.parametrize("options", [(), ("--aof-use-rdb-preamble", "no"), ("--aof-timestamp-enabled", "yes")])
def test_emberkv_loads_what_redis_logged(tmp_path, options):
    redis = start_redis(tmp_path / "redis", "--appendonly", "yes", *options)
    try:
        workload(redis)
        r = redis.client()
        r.bgrewriteaof()
        deadline = time.time() + 10
        while r.info("persistence")["aof_rewrite_in_progress"] and time.time() < deadline:
            time.sleep(0.02)
        r.set("after-rewrite", "1")
        expected = digest(redis)
    finally:
        redis.stop()
    copy_aof(tmp_path / "redis", tmp_path / "ember")
    ember = start_emberkv(tmp_path / "ember", "--appendonly", "yes")
    try:
        assert digest(ember) == expected
    finally:
        ember.stop()


def _normalize(commands: list[list[bytes]], t0: float) -> list[list[bytes]]:
    """Absolute ms times become whole seconds from the start of the run (the servers' clocks differ
    by the few ms between their runs)."""
    out = []
    for argv in commands:
        out.append([b"<+%ds>" % round((int(a) - t0 * 1000) / 1000) if re.fullmatch(rb"1\d{12}", a) else a
                    for a in argv])
    return out


def test_both_servers_log_the_same_effects(tmp_path):
    logs = []
    for name, start in (("redis", start_redis), ("ember", start_emberkv)):
        _, t0 = run_workload(start, tmp_path / name)
        incr = tmp_path / name / "appendonlydir" / "appendonly.aof.1.incr.aof"
        logs.append(_normalize(file_commands(incr), t0))
    assert logs[1] == logs[0]


def test_switching_aof_on_at_run_time_lays_out_files_as_redis(tmp_path):
    layouts = []
    for name, start in (("redis", start_redis), ("ember", start_emberkv)):
        server = start(tmp_path / name)
        try:
            r = server.client()
            r.set("k", "v")
            r.config_set("appendonly", "yes")
            deadline = time.time() + 10
            while r.info("persistence")["aof_rewrite_in_progress"] or \
                    r.info("persistence")["aof_rewrites"] < 1:
                assert time.time() < deadline
                time.sleep(0.02)
            r.set("after", "1")
            assert r.info("persistence")["aof_enabled"] == 1
        finally:
            server.stop()
        d = tmp_path / name / "appendonlydir"
        layouts.append((sorted(p.name for p in d.iterdir()), (d / "appendonly.aof.manifest").read_bytes(),
                        file_commands(d / "appendonly.aof.1.incr.aof")))
    assert layouts[1] == layouts[0]
