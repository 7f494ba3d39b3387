"""Server core benchmark (issue: server core): redis-benchmark -t ping,set,get,incr,mset at -P 1 and
-P 16 against emberkv and redis-server side by side, plus RSS after DEBUG POPULATE 1000000.

    python bench/bench_core.py [--requests 1000000] [--clients 50]
Targets: ratio >= 0.95 at -P 1, >= 0.8 at -P 16, memory <= 1.5x Redis.
"""

from __future__ import annotations

import argparse
import time

from common import redis_benchmark, send, start_pair, table

TESTS = "ping,set,get,incr,mset"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--populate", type=int, default=1_000_000)
    args = parser.parse_args()
    ember, redis = start_pair("--save", "", "--appendonly", "no")
    try:
        rows = []
        for pipeline in (1, 16):
            e = redis_benchmark(ember.port, TESTS, args.requests, args.clients, pipeline)
            r = redis_benchmark(redis.port, TESTS, args.requests, args.clients, pipeline)
            for name in r:
                if name in e:
                    rows.append([name, pipeline, e[name], r[name], e[name] / r[name]])
        print(table(["test", "-P", "emberkv ops/s", "redis ops/s", "ratio"], rows))
        print()
        mem_rows = []
        for proc in (ember, redis):
            send(proc.port, "FLUSHALL")
            before = proc.rss()
            started = time.time()
            send(proc.port, "DEBUG", "POPULATE", str(args.populate))
            mem_rows.append([proc.name, before / 2**20, proc.rss() / 2**20, time.time() - started])
        mem_rows.append(["ratio", "", mem_rows[0][2] / mem_rows[1][2], ""])
        print(table(["server", "RSS before (MiB)", f"RSS after POPULATE {args.populate} (MiB)",
                     "populate s"], mem_rows))
    finally:
        ember.stop()
        redis.stop()


if __name__ == "__main__":
    main()
