"""Crash campaign for the AOF: kill -9 a loaded emberkv at random moments and check every write it had
acknowledged is there after the restart.

    python bench/crash_campaign.py [--kills 200] [--writers 8] [--seed N] [--keep]

The server runs with ``appendonly yes``, ``appendfsync always`` and automatic rewrites of a small log,
so kills land while writing, fsyncing, switching incr files and renaming manifests. Writer threads
(one connection each) run:

* ``INCR c:<w>``: after the restart the counter is at least the last acknowledged value (and at most
  the last one sent: an unacknowledged INCR may or may not have made it);
* ``SET k:<w>:<n>``: every acknowledged key exists;
* ``MULTI / INCR t:<w> / SET tk:<w>:<n> / EXEC``: both effects or neither.

Some rounds slow the rewrite down (rdb-key-save-delay) and start one just before the kill, to kill in
the middle of it. A restart that fails (exit, no answer within the timeout) is counted and its directory
kept. The report is a table; the exit code is 0 only with 0 acknowledged writes lost and 0 failed
restarts.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

REDIS_CHECK_AOF = shutil.which("redis-check-aof")


def connect(port: int, timeout: float = 10) -> redis.Redis:
    """A client that never retries: a write sent again after a lost connection could apply twice."""
    return redis.Redis(port=port, socket_timeout=timeout, retry=Retry(NoBackoff(), 0))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, workdir: Path, port: int) -> None:
        self.workdir, self.port = workdir, port
        self.proc: subprocess.Popen | None = None
        self.moves = 0

    def start(self, timeout: float = 60) -> bool:
        """Start the server and wait until it has loaded. On a shared machine another process may
        take the port while the server is down: then it moves to a new port (counted apart)."""
        for _ in range(5):
            outcome = self._start_once(timeout)
            if outcome != "port taken":
                return outcome == "ok"
            self.kill()
            self.port = free_port()
            self.moves += 1
        return False

    def _start_once(self, timeout: float) -> str:
        argv = [sys.executable, "-m", "emberkv", "--port", str(self.port), "--dir", str(self.workdir),
                "--save", "", "--appendonly", "yes", "--appendfsync", "always",
                "--auto-aof-rewrite-min-size", "256kb", "--auto-aof-rewrite-percentage", "50",
                "--enable-debug-command", "yes", "--logfile", str(self.workdir / "emberkv.log")]
        # Anything the server prints outside its log (a traceback) is kept next to it.
        with open(self.workdir / "emberkv.stderr", "ab") as err:
            self.proc = subprocess.Popen(argv, cwd=self.workdir, stdout=subprocess.DEVNULL, stderr=err)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                log = (self.workdir / "emberkv.log").read_text(errors="replace").splitlines()[-3:]
                return "port taken" if any("Could not create server TCP listening socket" in line
                                           for line in log) else "failed"
            try:
                r = connect(self.port, 2)
                if r.info("persistence")["loading"] == 0:
                    if r.info("server")["process_id"] != self.proc.pid:
                        return "port taken"  # someone else answers on our port
                    return "ok"
            except redis.RedisError:
                pass
            time.sleep(0.05)
        return "failed"

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()


class Writer(threading.Thread):
    """One connection's writes, and what it knows was acknowledged."""

    def __init__(self, wid: int, port: int, rng: random.Random, counter: int, key_seq: int, tx_seq: int) -> None:
        super().__init__(daemon=True)
        self.wid, self.port, self.rng = wid, port, rng
        self.acked_counter = counter  # last INCR value acknowledged
        self.sent_counter = counter  # highest value an INCR sent might have produced
        self.key_seq = key_seq  # next SET k:<w>:<n>
        self.acked_keys: list[int] = []
        self.tx_seq = tx_seq
        self.acked_tx = tx_seq  # t:<w> after the last acknowledged transaction
        self.sent_tx = tx_seq
        self.acked_tx_keys: list[int] = []
        self.stop = threading.Event()
        self.ops = 0

    def run(self) -> None:
        w = self.wid
        try:
            r = connect(self.port)
            while not self.stop.is_set():
                op = self.rng.random()
                if op < 0.4:
                    self.sent_counter += 1
                    self.acked_counter = r.incr(f"c:{w}")
                elif op < 0.8:
                    n = self.key_seq
                    self.key_seq += 1
                    r.set(f"k:{w}:{n}", f"v{n}")
                    self.acked_keys.append(n)
                else:
                    self.sent_tx += 1
                    pipe = r.pipeline(transaction=True)
                    pipe.incr(f"t:{w}").set(f"tk:{w}:{self.sent_tx}", "1")
                    value, _ = pipe.execute()
                    self.acked_tx = value
                    self.acked_tx_keys.append(value)
                self.ops += 1
        except (redis.RedisError, OSError):
            pass  # the server went away


def verify(port: int, writers: list[Writer]) -> tuple[int, int, list[str]]:
    """(acknowledged writes checked, lost, problems)."""
    r = connect(port, 30)
    checked = lost = 0
    problems = []
    for w in writers:
        value = int(r.get(f"c:{w.wid}") or 0)
        checked += 1
        if not w.acked_counter <= value <= w.sent_counter:
            lost += value < w.acked_counter
            problems.append(f"c:{w.wid}={value}, acknowledged {w.acked_counter}, sent up to {w.sent_counter}")
        keys = [f"k:{w.wid}:{n}" for n in w.acked_keys]
        for start in range(0, len(keys), 1000):
            present = r.exists(*keys[start:start + 1000])
            checked += len(keys[start:start + 1000])
            missing = len(keys[start:start + 1000]) - present
            if missing:
                lost += missing
                problems.append(f"{missing} acknowledged keys k:{w.wid}:* missing")
        tx = int(r.get(f"t:{w.wid}") or 0)
        checked += 1
        if tx < w.acked_tx or tx > w.sent_tx:
            lost += tx < w.acked_tx
            problems.append(f"t:{w.wid}={tx}, acknowledged {w.acked_tx}, sent up to {w.sent_tx}")
        if tx and not r.exists(f"tk:{w.wid}:{tx}"):
            problems.append(f"transaction {tx} of writer {w.wid} half applied")
            lost += 1
        for n in w.acked_tx_keys[-50:]:
            checked += 1
            if not r.exists(f"tk:{w.wid}:{n}"):
                lost += 1
                problems.append(f"acknowledged transaction key tk:{w.wid}:{n} missing")
    return checked, lost, problems


def campaign(kills: int, writers_n: int, seed: int, workdir: Path, quiet: bool) -> dict:
    rng = random.Random(seed)
    server = Server(workdir, free_port())
    stats = {"kills": 0, "kills during a rewrite": 0, "failed restarts": 0, "acknowledged writes checked": 0,
             "acknowledged writes lost": 0, "writes sent": 0, "redis-check-aof failures": 0}
    state = [(0, 0, 0) for _ in range(writers_n)]
    if not server.start():
        stats["failed restarts"] += 1
        return stats
    started = time.time()
    for round_no in range(kills):
        port = server.port
        writers = [Writer(i, port, random.Random(rng.random()), *state[i]) for i in range(writers_n)]
        for w in writers:
            w.start()
        during_rewrite = rng.random() < 0.3
        time.sleep(rng.uniform(0.05, 0.8))
        if during_rewrite:
            try:
                admin = connect(port, 5)
                keys = max(1, admin.dbsize())
                # Slow enough that the rewrite takes about a second, so the kill lands inside it.
                admin.config_set("rdb-key-save-delay", str(max(20, 1_000_000 // keys)))
                admin.bgrewriteaof()
                time.sleep(rng.uniform(0.0, 0.2))
                if admin.info("persistence").get("aof_rewrite_in_progress"):
                    stats["kills during a rewrite"] += 1
            except redis.RedisError:
                pass
        server.kill()
        stats["kills"] += 1
        for w in writers:
            w.stop.set()
            w.join(15)
            stats["writes sent"] += w.ops
        if not server.start():
            stats["failed restarts"] += 1
            kept = workdir.parent / f"failed-restart-{round_no}"
            shutil.copytree(workdir, kept)
            print(f"round {round_no}: restart failed, directory kept in {kept}", file=sys.stderr)
            server.kill()
            if not server.start():
                break
        checked, lost, problems = verify(server.port, writers)
        stats["acknowledged writes checked"] += checked
        stats["acknowledged writes lost"] += lost
        for p in problems:
            print(f"round {round_no}: {p}", file=sys.stderr)
        if REDIS_CHECK_AOF and round_no % 10 == 0:
            check = subprocess.run([REDIS_CHECK_AOF, "appendonlydir/appendonly.aof.manifest"], cwd=workdir,
                                   capture_output=True, text=True)
            stats["redis-check-aof failures"] += check.returncode != 0
        # Continue from what the server holds now (an unacknowledged write may have made it).
        r = connect(server.port)
        state = [(int(r.get(f"c:{w.wid}") or 0), w.key_seq, int(r.get(f"t:{w.wid}") or 0)) for w in writers]
        if not quiet:
            print(f"round {round_no + 1}/{kills}: {sum(w.ops for w in writers)} writes, "
                  f"lost so far {stats['acknowledged writes lost']}", flush=True)
    server.stop()
    stats["restarts moved to another port (taken by another process)"] = server.moves
    stats["seconds"] = round(time.time() - started, 1)
    return stats


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kills", type=int, default=200)
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--seed", type=int, default=int(time.time()))
    parser.add_argument("--keep", action="store_true", help="keep the working directory")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    base = Path(tempfile.mkdtemp(prefix="emberkv-crash-"))
    workdir = base / "server"
    workdir.mkdir()
    print(f"seed {args.seed}, working directory {base}", flush=True)
    try:
        stats = campaign(args.kills, args.writers, args.seed, workdir, args.quiet)
    finally:
        if not args.keep and not any(p.name.startswith("failed-restart") for p in base.iterdir()):
            shutil.rmtree(base, ignore_errors=True)
    print("| measure | value |\n|---|---|")
    for name, value in stats.items():
        print(f"| {name} | {value} |")
    ok = stats["acknowledged writes lost"] == 0 and stats["failed restarts"] == 0 and stats["kills"] == args.kills
    print("RESULT: " + ("PASS" if ok else "FAIL"))
    return 0 if ok else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())
