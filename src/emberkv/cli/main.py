"""``emberkv``: the user's tools, each a thin ``main(argv) -> int`` over the library.

    emberkv check-rdb FILE
    emberkv check-aof [--fix] [--truncate-to-timestamp TS] MANIFEST-OR-FILE
    emberkv backup {create,list,verify,restore,prune} ...

Tools are imported only when chosen, so each starts fast and a missing optional dependency of one
cannot break the others.
"""

from __future__ import annotations

import importlib
import sys

TOOLS = {
    "check-rdb": ("emberkv.cli.check_rdb", "verify an RDB file (like redis-check-rdb)"),
    "check-aof": ("emberkv.cli.check_aof", "verify or repair an AOF (like redis-check-aof)"),
    "backup": ("emberkv.backup.cli", "create, list, verify, restore and prune backups"),
}

USAGE = "usage: emberkv {" + ",".join(TOOLS) + "} ...\n\n" + "\n".join(
    f"  {name:<10} {about}" for name, (_, about) in TOOLS.items()
) + "\n\nemberkv-server starts the server.\n"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help", "help"):
        sys.stdout.write(USAGE)
        return 0 if argv else 2
    if argv[0] in ("-v", "--version"):
        from emberkv import __version__

        print(f"emberkv {__version__}")
        return 0
    tool = TOOLS.get(argv[0])
    if tool is None:
        sys.stderr.write(f"emberkv: unknown command '{argv[0]}'\n" + USAGE)
        return 2
    module = importlib.import_module(tool[0])
    return module.main(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
