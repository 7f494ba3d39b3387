"""kill -9 under load with appendfsync always, at random moments and in the middle of rewrites: after the
restart every acknowledged write is there. The quick version of bench/crash_campaign.py (which runs
hundreds of kills), plus a deterministic kill during a rewrite."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.servers import start_emberkv

CAMPAIGN = Path(__file__).resolve().parents[1] / "bench" / "crash_campaign.py"


def test_random_kills_under_load_lose_no_acknowledged_write():
    out = subprocess.run([sys.executable, str(CAMPAIGN), "--kills", "12", "--writers", "6", "--seed", "11",
                          "--quiet"], capture_output=True, text=True, timeout=240)
    assert "RESULT: PASS" in out.stdout, out.stdout + out.stderr
    assert "| acknowledged writes lost | 0 |" in out.stdout
    assert "| failed restarts | 0 |" in out.stdout


def test_a_kill_in_the_middle_of_a_rewrite_loses_nothing(tmp_path):
    options = ("--appendonly", "yes", "--appendfsync", "always")
    server = start_emberkv(tmp_path, *options)
    r = server.client()
    pipe = r.pipeline(transaction=False)
    for i in range(2000):
        pipe.set(f"before:{i}", i)
    pipe.execute()
    r.config_set("rdb-key-save-delay", "2000")  # 2000 keys x 2 ms: four seconds of rewrite
    assert r.bgrewriteaof() in (True, b"Background append only file rewriting started")
    for i in range(300):
        r.set(f"during:{i}", i)
        r.incr("counter")
    assert r.info("persistence")["aof_rewrite_in_progress"] == 1
    assert any(name.startswith("temp-rewriteaof") for name in os.listdir(tmp_path))
    server.proc.send_signal(signal.SIGKILL)
    server.proc.wait()
    server.log_file.close()
    manifest = (tmp_path / "appendonlydir" / "appendonly.aof.manifest").read_text()
    assert "appendonly.aof.2.incr.aof" in manifest and "base.rdb seq 2" not in manifest

    server = start_emberkv(tmp_path, *options)
    try:
        r = server.client()
        while r.info("persistence")["loading"]:
            time.sleep(0.01)
        assert r.dbsize() == 2301
        assert r.get("counter") == b"300" and r.get("during:299") == b"299" and r.get("before:1999") == b"1999"
        assert not any(name.startswith("temp-rewriteaof") for name in os.listdir(tmp_path))
        r.bgrewriteaof()
        deadline = time.time() + 20
        while r.info("persistence")["aof_rewrite_in_progress"] and time.time() < deadline:
            time.sleep(0.05)
        assert r.info("persistence")["aof_last_bgrewrite_status"] == "ok"
        assert r.dbsize() == 2301
    finally:
        server.stop()
