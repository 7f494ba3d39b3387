"""AOF benchmark (issue: the AOF): emberkv and redis-server 7.0 side by side, in one run.

    python bench/bench_aof.py [--requests 1000000] [--rounds 1] [--load-writes 1000000] [--load-rounds 1]
                              [--skip-throughput]

1. ``redis-benchmark -t set,incr,lpush -n N -c 50`` with ``appendonly yes`` and
   ``appendfsync always`` at ``-P 1``, then ``appendfsync everysec`` at ``-P 16``. Runs alternate
   between the two servers; with several rounds the best of each is kept (a shared machine only ever
   makes a run slower). Targets: ratio >= 0.9 with always, >= 0.8 with everysec.
2. AOF load time for a log of N writes (SET/INCR/LPUSH on 100k keys, as Redis logged them): the same
   directory is loaded by both servers; the time is the "DB loaded from append only file" line of each
   log. With several load rounds the servers alternate, the best of each is kept and the range of the
   per-round ratios is printed. Target: emberkv <= 1.5x Redis's time.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

from common import REDIS_SERVER, Proc, free_port, redis_benchmark, send, start_pair, table

TESTS = "set,incr,lpush"


def throughput(requests: int, rounds: int) -> list[list[object]]:
    rows = []
    for policy, pipeline in (("always", 1), ("everysec", 16)):
        ember, redis = start_pair("--save", "", "--appendonly", "yes", "--appendfsync", policy)
        best: dict[str, dict[str, float]] = {"emberkv": {}, "redis": {}}
        try:
            for _ in range(rounds):
                for proc in (ember, redis):
                    result = redis_benchmark(proc.port, TESTS, requests, 50, pipeline)
                    for test, rps in result.items():
                        best[proc.name][test] = max(best[proc.name].get(test, 0.0), rps)
        finally:
            ember.stop()
            redis.stop()
        for test in best["redis"]:
            e, r = best["emberkv"].get(test, 0.0), best["redis"][test]
            rows.append([test, policy, pipeline, e, r, e / r if r else 0.0])
    return rows


def make_log(writes: int, workdir: Path) -> Path:
    """An AOF directory holding ``writes`` logged writes, written by redis-server itself."""
    workdir.mkdir(parents=True)
    port = free_port()
    proc = Proc("redis", [REDIS_SERVER, "--port", str(port), "--dir", str(workdir), "--save", "",
                          "--appendonly", "yes", "--appendfsync", "no", "--auto-aof-rewrite-percentage", "0"],
                port, workdir)
    try:
        per_test = writes // 3
        redis_benchmark(port, TESTS, per_test, 50, 16, extra=("-r", "100000"))
    finally:
        proc.stop()
    return workdir / "appendonlydir"


def load_seconds(name: str, argv: list[str], workdir: Path, port: int) -> tuple[float, float]:
    """(seconds the server reports for loading the AOF, seconds from exec until INFO says loading:0)."""
    started = time.time()
    proc = Proc(name, argv, port, workdir)
    while b"\nloading:0" not in send(port, "INFO", "persistence"):
        time.sleep(0.01)
    ready = time.time() - started
    try:
        deadline = time.time() + 10
        while True:
            log = (workdir / f"{name}.log").read_text(errors="replace")
            found = re.findall(r"DB loaded from append only file: ([\d.]+) seconds", log)
            if found or time.time() > deadline:
                return (float(found[-1]) if found else float("nan")), ready
            time.sleep(0.1)
    finally:
        send(port, "SHUTDOWN", "NOSAVE")
        proc.stop()


def load_time(writes: int, rounds: int, base: Path) -> tuple[list[list[object]], list[float]]:
    """The table rows (best of the rounds) and the load-time ratio of each round."""
    source = make_log(writes, base / "source")
    commands = sum(1 for line in open(next(source.glob("*.incr.aof")), "rb") if line.startswith(b"*"))
    best: dict[str, list[float]] = {}
    ratios = []
    for round_no in range(rounds):
        results = {}
        for name in ("emberkv", "redis"):
            workdir = base / f"{name}-{round_no}"
            workdir.mkdir()
            shutil.copytree(source, workdir / "appendonlydir")
            port = free_port()
            common = ["--port", str(port), "--dir", str(workdir), "--save", "", "--appendonly", "yes"]
            if name == "emberkv":
                argv = [os.sys.executable, "-m", "emberkv", *common]
            else:
                argv = [REDIS_SERVER, *common]
            results[name] = load_seconds(name, argv, workdir, port)
            shutil.rmtree(workdir, ignore_errors=True)
            best[name] = [min(a, b) for a, b in zip(best.get(name, results[name]), results[name], strict=True)]
        ratios.append(results["emberkv"][0] / results["redis"][0] if results["redis"][0] else 0.0)
    e, r = best["emberkv"], best["redis"]
    rows = [[f"load {commands} logged commands (s)", e[0], r[0], e[0] / r[0] if r[0] else 0.0],
            ["start-up until loaded (s)", e[1], r[1], e[1] / r[1] if r[1] else 0.0]]
    return rows, ratios


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--load-writes", type=int, default=1_000_000)
    parser.add_argument("--load-rounds", type=int, default=1)
    parser.add_argument("--skip-throughput", action="store_true")
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.2f} ({os.cpu_count()} CPUs)")
    if not args.skip_throughput:
        rows = throughput(args.requests, args.rounds)
        print(table(["test", "appendfsync", "-P", "emberkv ops/s", "redis ops/s", "ratio"], rows))
        print()
    base = Path(tempfile.mkdtemp(prefix="emberkv-aofload-"))
    try:
        rows, ratios = load_time(args.load_writes, args.load_rounds, base)
        print(table(["measure", "emberkv", "redis", "ratio"], rows))
        if len(ratios) > 1:
            print(f"load ratio per round: {min(ratios):.2f}-{max(ratios):.2f} "
                  f"({', '.join(f'{x:.2f}' for x in ratios)})")
    finally:
        shutil.rmtree(base, ignore_errors=True)
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
