"""Backup and restore benchmark (issue 6): 1,000,000 keys, emberkv and redis-server 7.0 as sources.

    python bench/bench_backup.py [--keys 1000000] [--value-size 100] [--no-s3]

For each source server (emberkv, then Redis, both filled with ``DEBUG POPULATE``):

* the baseline: ``redis-cli --rdb`` to a file, then ``cp`` of that file into a directory;
* ``emberkv backup create`` into a directory catalog (zstd, and ``--no-compress``) and into an S3
  catalog (moto's standalone server, in this process: a local stand-in, not a real S3's speed);
* ``emberkv backup restore``: offline into a data directory (baseline: ``cp`` of the RDB), and online
  (RESTORE pipelines) into an empty emberkv and an empty Redis.

Every step is timed wall-clock as a user would run it (the command's whole life, Python start-up
included); throughput is the RDB's size divided by that time. Results are printed as Markdown tables.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import REDIS_SERVER, Proc, free_port, send, start_pair, table

ROOT = Path(__file__).resolve().parents[1]
ENV = dict(os.environ, PYTHONPATH=str(ROOT / "src"))


def timed(argv: list[str], env: dict | None = None) -> tuple[float, subprocess.CompletedProcess]:
    started = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, env=env or ENV)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        sys.exit(f"{' '.join(argv)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return elapsed, proc


def backup(*args: str, env: dict | None = None) -> tuple[float, subprocess.CompletedProcess]:
    return timed([sys.executable, "-m", "emberkv.cli.main", "backup", *args, "--progress", "off"], env)


def mb_s(size: int, seconds: float) -> float:
    return size / seconds / 1e6


def start_moto() -> tuple[object, str]:
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    return server, f"http://127.0.0.1:{port}"


def run_source(name: str, source: Proc, targets: dict[str, Proc], work: Path, s3: tuple | None) -> list[list]:
    rows: list[list] = []
    url = f"redis://127.0.0.1:{source.port}"
    rdb = work / f"{name}-cli.rdb"
    seconds, _ = timed(["redis-cli", "-p", str(source.port), "--rdb", str(rdb)])
    size = rdb.stat().st_size
    copy_dir = work / f"{name}-copy"
    copy_dir.mkdir()
    copy_seconds, _ = timed(["cp", str(rdb), str(copy_dir / "dump.rdb")])
    total = seconds + copy_seconds
    rows.append([name, "backup", "redis-cli --rdb + cp (baseline)", f"{total:.2f}", mb_s(size, total), "1.00"])

    def row(step: str, what: str, secs: float) -> None:
        rows.append([name, step, what, f"{secs:.2f}", mb_s(size, secs), f"{secs / total:.2f}" if step == "backup"
                     else ""])

    catalog = work / f"{name}-catalog"
    secs, proc = backup("create", "--from", url, "--catalog", str(catalog))
    backup_id = proc.stdout.strip()
    row("backup", "emberkv backup create, directory, zstd", secs)
    secs, _ = backup("create", "--from", url, "--catalog", str(work / f"{name}-catalog-raw"), "--no-compress")
    row("backup", "emberkv backup create, directory, no compression", secs)
    if s3 is not None:
        endpoint, env = s3
        secs, _ = backup("create", "--from", url, "--catalog", f"s3://bench/{name}", "--s3-endpoint", endpoint,
                         env=env)
        row("backup", "emberkv backup create, S3 (moto), zstd", secs)
    manifest = json.loads((catalog / backup_id / "manifest.json").read_text())
    secs, _ = backup("verify", backup_id, "--catalog", str(catalog))
    row("verify", "emberkv backup verify (decode + digest)", secs)

    data_dir = work / f"{name}-restored"
    cp_secs, _ = timed(["cp", str(rdb), str(work / "scratch.rdb")])
    row("restore", "cp of the RDB (offline baseline)", cp_secs)
    secs, _ = backup("restore", backup_id, "--data-dir", str(data_dir), "--catalog", str(catalog))
    row("restore", "emberkv backup restore --data-dir", secs)
    if s3 is not None:
        endpoint, env = s3
        s3_id = json.loads(backup("list", "--json", "--catalog", f"s3://bench/{name}", "--s3-endpoint", endpoint,
                                  env=env)[1].stdout)[0]["id"]
        secs, _ = backup("restore", s3_id, "--data-dir", str(work / f"{name}-restored-s3"), "--catalog",
                         f"s3://bench/{name}", "--s3-endpoint", endpoint, env=env)
        row("restore", "emberkv backup restore --data-dir, from S3 (moto)", secs)
    for target_name, target in targets.items():
        send(target.port, "FLUSHALL")
        secs, proc = backup("restore", backup_id, "--into", f"redis://127.0.0.1:{target.port}", "--catalog",
                            str(catalog))
        keys = manifest["keys"]
        row("restore", f"emberkv backup restore --into {target_name} ({sum(keys.values()) / secs:,.0f} keys/s)",
            secs)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keys", type=int, default=1_000_000)
    parser.add_argument("--value-size", type=int, default=100)
    parser.add_argument("--no-s3", action="store_true", help="skip the S3 (moto) catalog")
    args = parser.parse_args()
    if REDIS_SERVER is None or shutil.which("redis-cli") is None:
        sys.exit("redis-server and redis-cli are needed (apt-get install redis-server redis-tools)")
    work = Path(tempfile.mkdtemp(prefix="emberkv-bench-backup-"))
    options = ("--save", "", "--repl-diskless-sync-delay", "0")
    ember, redis = start_pair(*options, workdir=work / "sources")
    targets_pair = start_pair("--save", "", workdir=work / "targets")
    targets = {"emberkv": targets_pair[0], "redis": targets_pair[1]}
    moto = None
    s3 = None
    try:
        if not args.no_s3:
            import boto3

            moto, endpoint = start_moto()
            creds = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"}
            boto3.client("s3", endpoint_url=endpoint, **{"region_name": "us-east-1"},
                         aws_access_key_id="bench", aws_secret_access_key="bench").create_bucket(Bucket="bench")
            s3 = (endpoint, dict(ENV, **creds))
        for server in (ember, redis):
            send(server.port, "DEBUG", "POPULATE", str(args.keys), "key", str(args.value_size))
        rows = []
        for name, server in (("emberkv", ember), ("redis", redis)):
            rows += run_source(name, server, targets, work, s3)
        print(f"\n{args.keys:,} keys (DEBUG POPULATE, {args.value_size}-byte values), {os.cpu_count()} CPUs\n")
        print(table(["source", "step", "what", "seconds", "MB/s (RDB)", "vs baseline"], rows))
    finally:
        for proc in (ember, redis, *targets.values()):
            proc.stop()
        if moto is not None:
            moto.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
