"""``emberkv backup {create,list,verify,restore,prune}``: the command line over the backup library.

Every failure is one line on stderr (``emberkv backup <command>: error: ...``) and a named exit code
(errors.py, listed in ``--help``); a traceback would mean a bug, and even then only one line is shown.
Results for scripts go to stdout (the new backup's id, ``list --json``), progress to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import asdict
from datetime import UTC, datetime

from emberkv.backup.catalog import Catalog, open_catalog
from emberkv.backup.connection import parse_address
from emberkv.backup.errors import (
    EXIT_CORRUPT,
    EXIT_ERROR,
    EXIT_EXISTS,
    EXIT_INTERRUPTED,
    EXIT_NAMES,
    EXIT_OK,
    EXIT_USAGE,
    BackupError,
)
from emberkv.backup.progress import Reporter, human_bytes

DEFAULT_CATALOG = "./backups"

EPILOG = "exit codes: " + ", ".join(f"{code} {name}" for code, name in sorted(EXIT_NAMES.items()))


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--catalog", metavar="DEST", default=os.environ.get("EMBERKV_BACKUP_CATALOG", DEFAULT_CATALOG),
                        help="a directory or s3://bucket/prefix (default: $EMBERKV_BACKUP_CATALOG or ./backups)")
    parser.add_argument("--s3-endpoint", metavar="URL", default=None,
                        help="S3-compatible endpoint (default: $AWS_ENDPOINT_URL or AWS)")
    parser.add_argument("--s3-region", metavar="REGION", default=None, help="default: $AWS_DEFAULT_REGION")
    parser.add_argument("--s3-profile", metavar="NAME", default=None, help="an AWS credentials profile")
    parser.add_argument("--tmp-dir", metavar="DIR", default=None, help="local staging for S3 uploads")
    parser.add_argument("--progress", choices=("auto", "bar", "plain", "off"), default="auto",
                        help="progress display (default: a bar on a terminal, plain lines otherwise)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress output")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="emberkv backup", epilog=EPILOG,
                                     description="Online backups of emberkv and Redis servers, and restores.")
    sub = parser.add_subparsers(dest="command", metavar="{create,list,verify,restore,prune}")
    sub.required = True

    p = sub.add_parser("create", help="snapshot a running server into the catalog", epilog=EPILOG)
    p.add_argument("--from", dest="source", required=True, metavar="URL",
                   help="redis://[[user]:password@]host[:port] or unix:///path (password also from $REDISCLI_AUTH)")
    p.add_argument("--no-compress", action="store_true", help="store the RDB as is instead of zstd-compressed")
    p.add_argument("--compress-level", type=int, default=3, metavar="N", help="zstd level (default 3)")
    p.add_argument("--timeout", type=float, default=60.0, metavar="SECONDS", help="network timeout (default 60)")
    _common(p)
    p.set_defaults(func=cmd_create)

    p = sub.add_parser("list", help="list the backups in the catalog", epilog=EPILOG)
    p.add_argument("--json", action="store_true", help="the manifests as a JSON array")
    _common(p)
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("verify", help="re-read backups and check them against their manifests", epilog=EPILOG)
    p.add_argument("id", nargs="?", help="a backup id (or a unique prefix, or 'latest')")
    p.add_argument("--all", action="store_true", help="verify every backup in the catalog")
    _common(p)
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("restore", help="restore a backup into a data directory or a running server", epilog=EPILOG)
    p.add_argument("id", help="a backup id (or a unique prefix, or 'latest')")
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--data-dir", metavar="DIR", help="offline: install into this (stopped) server's dir")
    target.add_argument("--into", metavar="URL", help="online: send the keys to this running server")
    p.add_argument("--force", action="store_true", help="offline: replace existing data")
    p.add_argument("--appendonly", action="store_true",
                   help="offline: the target runs with appendonly yes: write a fresh AOF directory")
    p.add_argument("--dbfilename", default="dump.rdb", help="offline: RDB file name (default dump.rdb)")
    p.add_argument("--appenddirname", default="appendonlydir", help="offline: AOF directory name")
    p.add_argument("--appendfilename", default="appendonly.aof", help="offline: AOF base name")
    p.add_argument("--replace", action="store_true", help="online: overwrite keys that already exist")
    p.add_argument("--db", type=int, metavar="N", help="online: only the keys of database N")
    p.add_argument("--match", metavar="PATTERN", help="online: only keys matching this glob pattern")
    p.add_argument("--timeout", type=float, default=60.0, metavar="SECONDS", help="network timeout (default 60)")
    _common(p)
    p.set_defaults(func=cmd_restore)

    p = sub.add_parser("prune", help="delete backups that no retention rule keeps (dry run unless --yes)",
                       epilog=EPILOG)
    for rule in ("last", "hourly", "daily", "weekly"):
        p.add_argument(f"--keep-{rule}", type=int, default=0, metavar="N")
    p.add_argument("--yes", action="store_true", help="really delete (default: only show what would go)")
    _common(p)
    p.set_defaults(func=cmd_prune)
    return parser


def _catalog(args: argparse.Namespace) -> Catalog:
    return open_catalog(args.catalog, {"endpoint": args.s3_endpoint, "region": args.s3_region,
                                       "profile": args.s3_profile, "tmp_dir": args.tmp_dir})


def _reporter(args: argparse.Namespace) -> Reporter:
    mode = "off" if args.quiet else {"auto": None, "bar": "rich", "plain": "plain", "off": "off"}[args.progress]
    return Reporter(mode)


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _say(args: argparse.Namespace, text: str) -> None:
    """A status line for people (stderr, so stdout stays for results)."""
    if not args.quiet:
        print(text, file=sys.stderr)


# -- commands ------------------------------------------------------------------------------------------


def cmd_create(args: argparse.Namespace) -> int:
    from emberkv.backup.create import create_backup

    if not 1 <= args.compress_level <= 22:
        raise BackupError("--compress-level must be between 1 and 22", EXIT_USAGE)
    manifest = create_backup(_catalog(args), parse_address(args.source), _reporter(args),
                             not args.no_compress, args.compress_level, args.timeout)
    _say(args, f"backup {manifest.id}: {manifest.total_keys} keys, {human_bytes(manifest.size)} RDB "
               f"({human_bytes(manifest.stored_size)} stored), digest {manifest.digest or 'unknown'}")
    print(manifest.id)
    return EXIT_OK


def cmd_list(args: argparse.Namespace) -> int:
    manifests, problems = _catalog(args).manifests()
    for problem in problems:
        print(f"warning: {problem}", file=sys.stderr)
    if args.json:
        print(json.dumps([asdict(m) | {"created_iso": m.created_iso} for m in manifests], indent=2))
        return EXIT_OK
    rows = [(m.id, _when(m.created), human_bytes(m.stored_size), str(m.total_keys), m.source) for m in manifests]
    header = ("ID", "TIME", "SIZE", "KEYS", "SOURCE")
    if sys.stdout.isatty():
        from rich.console import Console
        from rich.table import Table

        table = Table(*header)
        for row in rows:
            table.add_row(*row)
        Console().print(table)
    else:
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
        for row in [header, *rows]:
            print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    return EXIT_OK


def cmd_verify(args: argparse.Namespace) -> int:
    from emberkv.backup.verify import verify_backup

    if bool(args.id) == bool(args.all):
        raise BackupError("give a backup id or --all (not both)", EXIT_USAGE)
    catalog = _catalog(args)
    targets = catalog.manifests()[0] if args.all else [catalog.get(args.id)]
    if not targets:
        _say(args, f"no backups in {catalog.location}")
    failed = 0
    reporter = _reporter(args)
    for manifest in targets:
        problems = verify_backup(catalog, manifest, reporter)
        if problems:
            failed += 1
            print(f"FAILED {manifest.id}: " + "; ".join(problems))
        else:
            print(f"OK {manifest.id}: {manifest.total_keys} keys, digest {manifest.digest or 'unknown'}")
    return EXIT_CORRUPT if failed else EXIT_OK


def cmd_restore(args: argparse.Namespace) -> int:
    catalog = _catalog(args)
    manifest = catalog.get(args.id)
    if args.data_dir:
        if args.replace or args.db is not None or args.match:
            raise BackupError("--replace, --db and --match apply to online restores (--into)", EXIT_USAGE)
        from emberkv.backup.restore import restore_offline

        path = restore_offline(catalog, manifest, args.data_dir, _reporter(args), args.force, args.appendonly,
                               args.dbfilename, args.appenddirname, args.appendfilename)
        _say(args, f"restored {manifest.id} ({manifest.total_keys} keys) to {path}")
        if not args.appendonly and os.path.isdir(os.path.join(args.data_dir, args.appenddirname)):
            _say(args, f"note: {args.data_dir} also has an AOF directory; a server running with appendonly yes "
                       "ignores dump.rdb (use --appendonly)")
        return EXIT_OK
    if args.force or args.appendonly:
        raise BackupError("--force and --appendonly apply to offline restores (--data-dir)", EXIT_USAGE)
    from emberkv.backup.restore_online import restore_online

    match = args.match.encode() if args.match else None
    report = restore_online(catalog, manifest, parse_address(args.into), _reporter(args), args.replace,
                            args.db, match, args.timeout, args.tmp_dir)
    skipped = [f"{n} {what}" for n, what in ((report.expired, "expired"), (report.filtered, "filtered out"),
                                             (report.existing, "already existed (use --replace)"),
                                             (report.failed_count, "refused by the target")) if n]
    _say(args, f"restored {report.restored} keys of {manifest.id} into {args.into.split('@')[-1]}"
               + (f" (skipped: {', '.join(skipped)})" if skipped else ""))
    for failure in report.failed:
        _say(args, f"  refused: {failure}")
    if report.functions:
        _say(args, f"loaded {report.functions} function libraries")
    for failure in report.function_errors:
        _say(args, f"  function library refused: {failure}")
    if report.digest_note:
        _say(args, report.digest_note)
    if report.failed_count or report.function_errors:
        return EXIT_ERROR
    return EXIT_EXISTS if report.existing else EXIT_OK


def cmd_prune(args: argparse.Namespace) -> int:
    from emberkv.backup.prune import plan_prune

    rules = (args.keep_last, args.keep_hourly, args.keep_daily, args.keep_weekly)
    if any(n < 0 for n in rules):
        raise BackupError("--keep-* counts must not be negative", EXIT_USAGE)
    if not any(rules):
        raise BackupError("give at least one of --keep-last/--keep-hourly/--keep-daily/--keep-weekly", EXIT_USAGE)
    catalog = _catalog(args)
    manifests, problems = catalog.manifests()
    for problem in problems:
        print(f"warning: {problem}", file=sys.stderr)
    kept, doomed = plan_prune(manifests, *rules)
    for m in manifests:
        if m.id in kept:
            print(f"keep   {m.id}  {_when(m.created)}  ({', '.join(kept[m.id])})")
    for m in doomed:
        if args.yes:
            catalog.delete(m)
            print(f"delete {m.id}  {_when(m.created)}  deleted")
        else:
            print(f"delete {m.id}  {_when(m.created)}  (dry run: use --yes to delete)")
    if args.yes:
        for name in catalog.cleanup():
            _say(args, f"removed {name} (left by an interrupted run)")
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2, already printed)
        return int(exc.code or 0)
    try:
        return args.func(args)
    except BackupError as exc:
        print(f"emberkv backup {args.command}: error: {exc.message}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        print(f"emberkv backup {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_ERROR
    except Exception as exc:  # a bug: still one line, never a traceback
        print(f"emberkv backup {args.command}: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
