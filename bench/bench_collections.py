"""Collections benchmark (issue: collections): redis-benchmark -t lpush,rpush,lpop,rpop,sadd,hset,
spop,zadd,zpopmin,lrange_100,lrange_600 at -P 1 and -P 16 against emberkv and redis-server side by side.

    python bench/bench_collections.py [--requests 1000000] [--clients 50]
Targets: >= 0.8 of Redis's ops/s at -P 16 for the single-element commands, >= 0.6 for LRANGE_600.
"""

from __future__ import annotations

import argparse

from common import redis_benchmark, start_pair, table

TESTS = "lpush,rpush,lpop,rpop,sadd,hset,spop,zadd,zpopmin,lrange_100,lrange_600"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--pipelines", default="1,16")
    args = parser.parse_args()
    ember, redis = start_pair("--save", "", "--appendonly", "no")
    try:
        rows = []
        for pipeline in [int(p) for p in args.pipelines.split(",")]:
            e = redis_benchmark(ember.port, TESTS, args.requests, args.clients, pipeline)
            r = redis_benchmark(redis.port, TESTS, args.requests, args.clients, pipeline)
            for name in r:
                if name in e:
                    rows.append([name, pipeline, e[name], r[name], e[name] / r[name]])
        print(table(["test", "-P", "emberkv ops/s", "redis ops/s", "ratio"], rows))
    finally:
        ember.stop()
        redis.stop()


if __name__ == "__main__":
    main()
