"""RDB benchmark (issue: RDB persistence): emberkv and redis-server 7.0 side by side, in one run.

    python bench/bench_rdb.py [--strings 1000000] [--mixed 100000] [--rounds 3] [--only mixed]
                              [--save-load-only]

For two datasets, built the same way on both servers (1,000,000 small strings from DEBUG POPULATE;
100,000 keys of every type, a tenth with a TTL):

* SAVE time (best of ``rounds``), the file size, and the load time at start-up (the server's own
  "DB loaded from disk: N seconds" line, best of ``rounds``);
* during BGSAVE: peak memory against memory just before, once with an idle server and once with a
  client rewriting half of the keys while the save runs; the BGSAVE duration;
* during BGSAVE: p50/p99/max latency of one client doing GET/SET in a loop (a separate process, so
  the samplers here do not disturb it), against the same client with no save running.

Memory: emberkv is one process, sampled from /proc/<pid>/statm (RSS) every ~2 ms. Redis forks, so its
figure is the PSS of parent plus child (/proc/<pid>/smaps_rollup), which counts each shared page
once; Redis's RSS before the save is its PSS then too.

Targets (emberkv): SAVE <= 1.2x Redis's time, load <= 1.5x, file size <= 1.1x, peak memory during
BGSAVE <= 1.1x memory before it when idle and <= 1.3x with half the keys rewritten, p99 <= 10 ms.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import random
import re
import shutil
import socket
import threading
import time

import hiredis
from common import Proc, send, start_pair, table

PAGE = os.sysconf("SC_PAGE_SIZE")
MB = 1024 * 1024


# -- talking to a server ---------------------------------------------------------------------------

class Conn:
    """A raw RESP connection (hiredis parses replies): a lean client for pipelines and latency loops."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.reader = hiredis.Reader()

    def pipeline(self, commands: list[tuple]) -> list:
        self.sock.sendall(b"".join(encode(c) for c in commands))
        replies: list = []
        while len(replies) < len(commands):
            reply = self.reader.gets()
            if reply is False:
                self.reader.feed(self.sock.recv(1 << 20))
            else:
                replies.append(reply)
        return replies

    def __call__(self, *args):
        return self.pipeline([args])[0]

    def close(self) -> None:
        self.sock.close()


def encode(args: tuple) -> bytes:
    parts = [a if isinstance(a, bytes) else str(a).encode() for a in args]
    return b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts)


def info(port: int, field: str) -> str:
    text = send(port, "INFO", "persistence").decode()
    match = re.search(rf"^{field}:(\S+)", text, re.M)
    return match.group(1) if match else ""


def wait_bgsave(port: int, poll: float = 0.01) -> None:
    while info(port, "rdb_bgsave_in_progress") != "0":
        time.sleep(poll)


# -- datasets --------------------------------------------------------------------------------------

def mixed_commands(n: int, seed: int = 1) -> list[tuple]:
    """n keys: 40% strings, 15% each lists, hashes, sets (half of them intsets) and zsets; 10% TTLs."""
    rng = random.Random(seed)
    out: list[tuple] = []
    for i in range(n):
        kind = rng.random()
        key = f"m:{i}"
        if kind < 0.40:
            out.append(("SET", key, "v" * rng.randrange(1, 60)))
        elif kind < 0.55:
            out.append(("RPUSH", key, *(f"item-{j}" for j in range(rng.randrange(5, 50)))))
        elif kind < 0.70:
            out.append(("HSET", key, *(x for j in range(rng.randrange(5, 20)) for x in (f"f{j}", f"val-{j}"))))
        elif kind < 0.85:
            if rng.random() < 0.5:
                out.append(("SADD", key, *(rng.randrange(10**6) for _ in range(rng.randrange(5, 30)))))
            else:
                out.append(("SADD", key, *(f"member-{rng.randrange(10**6)}" for _ in range(rng.randrange(5, 30)))))
        else:
            out.append(("ZADD", key, *(x for j in range(rng.randrange(5, 30)) for x in (rng.random() * 100, f"z{j}"))))
        if rng.random() < 0.1:
            out.append(("EXPIRE", key, 10**6))
    return out


def build(port: int, dataset: str, strings: int, mixed: int) -> None:
    send(port, "FLUSHALL")
    if dataset == "strings":
        send(port, "DEBUG", "POPULATE", str(strings))
        return
    conn = Conn(port)
    commands = mixed_commands(mixed)
    for i in range(0, len(commands), 2000):
        conn.pipeline(commands[i:i + 2000])
    conn.close()


def rewrite_keys(port: int, dataset: str, strings: int, mixed: int, stop: threading.Event) -> None:
    """Overwrite half of the keys (with values of the same size), pipelined, until done or stopped."""
    conn = Conn(port)
    if dataset == "strings":
        keys = [f"key:{i}" for i in range(0, strings, 2)]
    else:
        keys = [f"m:{i}" for i in range(0, mixed, 2)]
    for i in range(0, len(keys), 500):
        if stop.is_set():
            break
        conn.pipeline([("SET", k, "rewritten-value") for k in keys[i:i + 500]])
    conn.close()


# -- memory ----------------------------------------------------------------------------------------

def rss(pid: int) -> int:
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * PAGE


def pss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except FileNotFoundError:
        return []


def memory(proc: Proc) -> int:
    """emberkv: RSS. Redis: PSS of the server and of its save child, if any."""
    pid = proc.pid()
    if proc.name == "emberkv":
        return rss(pid)
    return pss(pid) + sum(pss(child) for child in children(pid))


def bgsave_memory(proc: Proc, dataset: str, strings: int, mixed: int, writes: bool) -> tuple[int, int, float]:
    """(memory before, peak memory during the save, seconds the save took)."""
    port = proc.port
    time.sleep(0.5)
    before = memory(proc)
    stop = threading.Event()
    writer = None
    started = time.perf_counter()
    assert send(port, "BGSAVE").startswith(b"+Background saving started")
    if writes:
        writer = threading.Thread(target=rewrite_keys, args=(port, dataset, strings, mixed, stop))
        writer.start()
    done = threading.Event()

    def watch() -> None:
        wait_bgsave(port, 0.005)
        done.set()

    threading.Thread(target=watch, daemon=True).start()
    peak = before
    while not done.is_set():
        peak = max(peak, memory(proc))
        time.sleep(0.002)
    seconds = time.perf_counter() - started
    stop.set()
    if writer is not None:
        writer.join()
    return before, peak, seconds


# -- latency ---------------------------------------------------------------------------------------

def latency_client(port: int, keys: list[str], stop, out) -> None:
    """GET/SET in a loop until stop is set; sends the sorted latencies (seconds) back."""
    conn = Conn(port)
    samples = []
    clock = time.perf_counter
    i = 0
    while not stop.is_set():
        key = keys[i % len(keys)]
        t = clock()
        if i & 1:
            conn("SET", key, "x")
        else:
            conn("GET", key)
        samples.append(clock() - t)
        i += 1
    conn.close()
    samples.sort()
    out.put(samples)


def percentiles(samples: list[float]) -> tuple[float, float, float]:
    n = len(samples)
    return (samples[n // 2] * 1000, samples[min(n - 1, int(n * 0.99))] * 1000, samples[-1] * 1000)


def latency(proc: Proc, dataset: str, strings: int, mixed: int, during_bgsave: bool,
            seconds: float = 2.0) -> tuple[tuple[float, float, float], float]:
    """((p50, p99, max) in ms, BGSAVE duration or the window length) of the GET/SET client."""
    keys = [f"key:{i}" for i in range(0, strings, 997)] if dataset == "strings" else \
        [f"m:{i}" for i in range(0, mixed, 97)]
    ctx = mp.get_context("fork")
    stop, out = ctx.Event(), ctx.Queue()
    client = ctx.Process(target=latency_client, args=(proc.port, keys, stop, out))
    client.start()
    time.sleep(0.3)
    started = time.perf_counter()
    if during_bgsave:
        assert send(proc.port, "BGSAVE").startswith(b"+Background saving started")
        wait_bgsave(proc.port, 0.02)
    else:
        time.sleep(seconds)
    window = time.perf_counter() - started
    stop.set()
    samples = out.get()
    client.join()
    return percentiles(samples), window


# -- saving and loading ----------------------------------------------------------------------------

def save_seconds(port: int) -> float:
    started = time.perf_counter()
    assert send(port, "SAVE") == b"+OK\r\n"
    return time.perf_counter() - started


def restart(proc: Proc) -> float:
    """Restart proc on its directory (a fresh process loads dump.rdb); the load time it logs ("DB
    loaded from disk: N seconds"). Memory is measured on fresh processes: after FLUSHALL, freed memory
    stays in the allocators and would flatter the ratios."""
    send(proc.port, "SHUTDOWN", "NOSAVE")
    proc.stop()
    again = Proc(proc.name, proc.argv, proc.port, proc.dir)
    proc.log, proc.proc = again.log, again.proc
    deadline = time.time() + 600
    while time.time() < deadline:
        log = (proc.dir / f"{proc.name}.log").read_text(errors="replace")
        found = re.findall(r"DB loaded from disk: ([\d.]+) seconds", log)
        if found and info(proc.port, "loading") == "0":
            return float(found[-1])
        time.sleep(0.05)
    raise RuntimeError(f"{proc.name} did not report its load time")


# -- the run ---------------------------------------------------------------------------------------

def ratio(e: float, r: float) -> float:
    return e / r if r else float("nan")


def run_dataset(dataset: str, args: argparse.Namespace) -> list[list[object]]:
    ember, redis = start_pair("--save", "", "--appendonly", "no")
    rows: list[list[object]] = []
    try:
        procs = (ember, redis)
        for proc in procs:
            build(proc.port, dataset, args.strings, args.mixed)
        keys = [send(p.port, "DBSIZE").decode().strip(":\r\n") for p in procs]
        assert keys[0] == keys[1], keys
        label = f"{dataset} ({int(keys[0]):,} keys)"

        saves = [min(save_seconds(p.port) for _ in range(args.rounds)) for p in procs]
        rows.append([label, "SAVE (s)", saves[0], saves[1], ratio(*saves), "<= 1.2"])
        sizes = [(p.dir / "dump.rdb").stat().st_size / MB for p in procs]
        rows.append([label, "file size (MB)", sizes[0], sizes[1], ratio(*sizes), "<= 1.1"])
        loads = [min(restart(p) for _ in range(args.rounds)) for p in procs]
        rows.append([label, "load at start-up (s)", loads[0], loads[1], ratio(*loads), "<= 1.5"])

        if args.save_load_only:
            return rows
        for writes, target in ((False, "<= 1.1x before"), (True, "<= 1.3x before")):
            results = []
            for p in procs:
                restart(p)
                results.append(bgsave_memory(p, dataset, args.strings, args.mixed, writes))
            what = "half the keys rewritten" if writes else "idle"
            (eb, ep, es), (rb, rp, rs) = results
            rows.append([label, f"BGSAVE, {what}: memory before (MB)", eb / MB, rb / MB, ratio(eb, rb), ""])
            rows.append([label, f"BGSAVE, {what}: peak during (MB)", ep / MB, rp / MB, ratio(ep, rp), ""])
            rows.append([label, f"BGSAVE, {what}: peak / before", ep / eb, rp / rb, ratio(ep / eb, rp / rb),
                         f"emberkv {target}"])
            rows.append([label, f"BGSAVE, {what}: duration (s)", es, rs, ratio(es, rs), ""])

        for p in procs:
            restart(p)
        base = [latency(p, dataset, args.strings, args.mixed, False)[0] for p in procs]
        during = [latency(p, dataset, args.strings, args.mixed, True) for p in procs]
        for i, name in enumerate(("p50", "p99", "max")):
            rows.append([label, f"GET/SET {name} latency, no save (ms)", base[0][i], base[1][i],
                         ratio(base[0][i], base[1][i]), ""])
            rows.append([label, f"GET/SET {name} latency during BGSAVE (ms)", during[0][0][i], during[1][0][i],
                         ratio(during[0][0][i], during[1][0][i]), "p99 <= 10 ms" if name == "p99" else ""])
        rows.append([label, "BGSAVE duration with that client (s)", during[0][1], during[1][1],
                     ratio(during[0][1], during[1][1]), ""])
    finally:
        for proc in (ember, redis):
            proc.stop()
        shutil.rmtree(ember.dir.parent, ignore_errors=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--strings", type=int, default=1_000_000, help="keys of the small-strings dataset")
    parser.add_argument("--mixed", type=int, default=100_000, help="keys of the mixed-types dataset")
    parser.add_argument("--rounds", type=int, default=3, help="SAVE and load repeats (best kept)")
    parser.add_argument("--only", choices=["strings", "mixed"], help="run one dataset only")
    parser.add_argument("--save-load-only", action="store_true",
                        help="measure SAVE, file size and load only (no BGSAVE memory or latency runs)")
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.2f} ({os.cpu_count()} CPUs)")
    rows: list[list[object]] = []
    for dataset in ("strings", "mixed"):
        if args.only in (None, dataset):
            rows += run_dataset(dataset, args)
    print(table(["dataset", "measure", "emberkv", "redis", "emberkv / redis", "target"], rows))
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
