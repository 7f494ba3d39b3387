"""``emberkv-server [configfile] [--option value ...]``: start the server, as redis-server starts.

Exit codes: 0 after a clean shutdown, 1 for a configuration error or a failure at start-up (port in use,
unreadable data), each reported as one clear line (or Redis's FATAL CONFIG block), never a traceback.
"""

from __future__ import annotations

import os
import sys

import uvloop

from emberkv import REDIS_COMPAT_VERSION, __version__
from emberkv.server.config import FatalConfigError, load_config
from emberkv.server.log import Logger

USAGE = """Usage: emberkv-server [/path/to/redis.conf] [options] [-]
       emberkv-server - (read config from stdin)
       emberkv-server -v or --version
       emberkv-server -h or --help

Examples:
       emberkv-server (run the server with default config)
       emberkv-server /etc/redis/redis.conf
       emberkv-server --port 7777
       emberkv-server /etc/myredis.conf --loglevel verbose -
       emberkv-server --port 7777 --save "" --appendonly yes
"""


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] in (["-v"], ["--version"]):
        print(f"emberkv server v={__version__} redis_compat={REDIS_COMPAT_VERSION} bits=64")
        return 0
    if argv[:1] in (["-h"], ["--help"]):
        print(USAGE, end="")
        return 0
    try:
        config = load_config(argv, stdin=sys.stdin)
    except FatalConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    log = Logger(config["loglevel"], config["logfile"])
    log.warning("oO0OoO0OoO0Oo emberkv is starting oO0OoO0OoO0Oo")
    log.warning(f"emberkv version={__version__}, redis compatibility={REDIS_COMPAT_VERSION}, "
                f"bits=64, pid={os.getpid()}, just started")
    log.warning("Configuration loaded" if config.file else
                "Warning: no config file specified, using the default config. In order to specify a "
                "config file use emberkv-server /path/to/redis.conf")
    try:
        os.chdir(config["dir"])
    except OSError as exc:
        log.warning(f"Can't chdir to '{config['dir']}': {exc.strerror}")
        return 1
    return uvloop.run(_serve(config, log))


async def _serve(config, log: Logger) -> int:
    # Imported here so that `--help` and config errors do not pay for loading every command.
    import emberkv.commands  # noqa: F401  (registers the command table)
    from emberkv.server.app import Server
    from emberkv.server.startup import start_persistence

    server = Server(config, log)
    server.install_signal_handlers()
    try:
        await server.start()
    except OSError as exc:
        log.warning(str(exc.strerror or exc))
        return 1
    server.banner()
    unimplemented = config.unimplemented_in_use()
    if unimplemented:
        log.warning("These options are accepted but have no effect in emberkv: " + ", ".join(unimplemented))
    _write_pidfile(config["pidfile"], log)
    log.notice("Server initialized")
    if not await start_persistence(server):
        return 1
    if server.shutdown_event.is_set():
        return server.exit_code  # a shutdown request interrupted loading
    log.notice("Ready to accept connections")
    server.persistence.loading = False  # set by server.start(): from here on, commands are served
    server.loop.call_later(1 / max(1, config["hz"]), server.cron)
    await server.shutdown_event.wait()
    return server.exit_code


def _write_pidfile(path: str, log: Logger) -> None:
    if not path:
        return
    try:
        with open(path, "w") as f:
            f.write(f"{os.getpid()}\n")
    except OSError as exc:
        log.warning(f"Failed to write PID file: {exc.strerror}")
