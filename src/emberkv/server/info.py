"""INFO: Redis's sections and field names, so monitoring tools that parse Redis's INFO read ours.

``INFO`` with no argument (or ``default``) gives the default sections, ``all``/``everything`` adds
commandstats and errorstats; several section names may be given (Redis 7.0).
"""

from __future__ import annotations

import os
import platform
import resource
import sys
import time
from typing import TYPE_CHECKING

from emberkv import REDIS_COMPAT_VERSION

if TYPE_CHECKING:
    from emberkv.server.app import Server

DEFAULT_SECTIONS = ["server", "clients", "memory", "persistence", "stats", "replication", "cpu",
                    "modules", "errorstats", "cluster", "keyspace"]
ALL_EXTRA = ["commandstats", "latencystats"]


def render_info(server: Server, sections: list[bytes]) -> bytes:
    wanted = [s.decode("utf-8", "replace").lower() for s in sections] or ["default"]
    names: list[str] = []
    for name in wanted:
        if name in ("default",):
            names += DEFAULT_SECTIONS
        elif name in ("all", "everything"):
            names += DEFAULT_SECTIONS + ALL_EXTRA
        else:
            names.append(name)
    blocks = []
    for name in dict.fromkeys(names):
        render = SECTIONS.get(name)
        if render is None:
            continue
        fields = render(server)
        title = TITLES.get(name, name.capitalize())
        lines = [f"# {title}"] + [f"{k}:{v}" for k, v in fields]
        blocks.append("\r\n".join(lines) + "\r\n")
    return "\r\n".join(blocks).encode()


def _server(server: Server) -> list[tuple[str, object]]:
    uptime = int(time.time() - server.start_time)
    uname = platform.uname()
    hz = server.config["hz"]
    return [
        ("redis_version", REDIS_COMPAT_VERSION),
        ("redis_git_sha1", "00000000"),
        ("redis_git_dirty", 0),
        ("redis_build_id", "0"),
        ("redis_mode", "standalone"),
        ("os", f"{uname.system} {uname.release} {uname.machine}"),
        ("arch_bits", 64),
        ("monotonic_clock", "POSIX clock_gettime"),
        ("multiplexing_api", "epoll"),
        ("atomicvar_api", "c11-builtin"),
        ("gcc_version", "0.0.0"),
        ("process_id", os.getpid()),
        ("process_supervised", "no"),
        ("run_id", server.run_id),
        ("tcp_port", server.port),
        ("server_time_usec", int(time.time() * 1_000_000)),
        ("uptime_in_seconds", uptime),
        ("uptime_in_days", uptime // 86400),
        ("hz", hz),
        ("configured_hz", hz),
        ("lru_clock", int(time.time()) & 0xFFFFFF),
        ("executable", os.path.abspath(sys.argv[0]) if sys.argv and sys.argv[0] else ""),
        ("config_file", server.config.file or ""),
        ("io_threads_active", 0),
        ("emberkv_version", _version()),
    ]


def _version() -> str:
    from emberkv import __version__

    return __version__


def _clients(server: Server) -> list[tuple[str, object]]:
    return [
        ("connected_clients", len(server.clients)),
        ("cluster_connections", 0),
        ("maxclients", server.config["maxclients"]),
        ("client_recent_max_input_buffer", 0),
        ("client_recent_max_output_buffer", 0),
        ("blocked_clients", server.blocking.blocked_clients),
        ("tracking_clients", 0),
        ("clients_in_timeout_table", server.blocking.blocked_clients),
    ]


def rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _human(n: int) -> str:
    for unit, size in (("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if n >= size:
            return f"{n / size:.2f}{unit}"
    return f"{n}B"


def _memory(server: Server) -> list[tuple[str, object]]:
    rss = rss_bytes()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    maxmemory = server.config["maxmemory"]
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        total = 0
    # Python does not expose allocator-level accounting; used_memory is the resident size.
    return [
        ("used_memory", rss), ("used_memory_human", _human(rss)),
        ("used_memory_rss", rss), ("used_memory_rss_human", _human(rss)),
        ("used_memory_peak", peak), ("used_memory_peak_human", _human(peak)),
        ("used_memory_peak_perc", "%.2f%%" % (100.0 * rss / peak if peak else 100.0)),
        ("used_memory_overhead", 0), ("used_memory_startup", 0), ("used_memory_dataset", rss),
        ("total_system_memory", total), ("total_system_memory_human", _human(total)),
        ("used_memory_lua", 0), ("used_memory_scripts", 0), ("number_of_cached_scripts", 0),
        ("maxmemory", maxmemory), ("maxmemory_human", _human(maxmemory)),
        ("maxmemory_policy", server.config["maxmemory-policy"]),
        ("mem_fragmentation_ratio", "1.00"), ("mem_allocator", "pymalloc"),
        ("lazyfree_pending_objects", 0),
    ]


def _persistence(server: Server) -> list[tuple[str, object]]:
    return server.persistence.info_fields(server.keyspace.dirty, bool(server.config["appendonly"]))


def _stats(server: Server) -> list[tuple[str, object]]:
    ks, stats = server.keyspace, server.stats
    commands = list(_all_commands())
    return [
        ("total_connections_received", stats.total_connections),
        ("total_commands_processed", sum(cmd.calls for cmd in commands)),
        ("instantaneous_ops_per_sec", 0),
        ("total_net_input_bytes", stats.net_input_bytes),
        ("total_net_output_bytes", stats.net_output_bytes),
        ("rejected_connections", stats.rejected_connections),
        ("sync_full", 0), ("sync_partial_ok", 0), ("sync_partial_err", 0),
        ("expired_keys", ks.stat_expired_keys),
        ("evicted_keys", 0),
        ("keyspace_hits", ks.stat_keyspace_hits),
        ("keyspace_misses", ks.stat_keyspace_misses),
        ("pubsub_channels", len(server.pubsub.channels)),
        ("pubsub_patterns", len(server.pubsub.patterns)),
        ("latest_fork_usec", 0), ("total_forks", 0),
        ("total_error_replies", sum(cmd.failed_calls + cmd.rejected_calls for cmd in commands)),
    ]


def _replication(server: Server) -> list[tuple[str, object]]:
    master = getattr(server, "replication", None)
    online = master.online if master is not None else []
    offset = master.offset if master is not None else 0
    fields: list[tuple[str, object]] = [("role", "master"), ("connected_slaves", len(online))]
    for i, link in enumerate(online):
        port = link.options.listening_port or 0
        fields.append((f"slave{i}", f"ip={link.host},port={port},state=online,offset={link.ack_offset},lag=0"))
    return fields + [
        ("master_failover_state", "no-failover"), ("master_replid", server.run_id),
        ("master_replid2", "0" * 40), ("master_repl_offset", offset), ("second_repl_offset", -1),
        ("repl_backlog_active", 0), ("repl_backlog_size", 1048576),
        ("repl_backlog_first_byte_offset", 0), ("repl_backlog_histlen", 0),
    ]


def _cpu(server: Server) -> list[tuple[str, object]]:
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return [
        ("used_cpu_sys", "%.6f" % me.ru_stime), ("used_cpu_user", "%.6f" % me.ru_utime),
        ("used_cpu_sys_children", "%.6f" % kids.ru_stime),
        ("used_cpu_user_children", "%.6f" % kids.ru_utime),
        ("used_cpu_sys_main_thread", "%.6f" % me.ru_stime),
        ("used_cpu_user_main_thread", "%.6f" % me.ru_utime),
    ]


def _keyspace(server: Server) -> list[tuple[str, object]]:
    now = server.keyspace.now_ms
    fields = []
    for db in server.keyspace.dbs:
        if db.data:
            ttls = [when - now for when in db.expires.values() if when > now] if db.expires else []
            avg = sum(ttls) // len(ttls) if ttls else 0
            fields.append((f"db{db.id}", f"keys={len(db.data)},expires={len(db.expires)},avg_ttl={avg}"))
    return fields


def _commandstats(server: Server) -> list[tuple[str, object]]:
    fields = []
    for cmd in _all_commands():
        if cmd.calls or cmd.rejected_calls or cmd.failed_calls:
            usec = int(cmd.seconds * 1_000_000)
            per = usec / cmd.calls if cmd.calls else 0.0
            fields.append((
                f"cmdstat_{cmd.fullname}",
                f"calls={cmd.calls},usec={usec},usec_per_call={per:.2f},"
                f"rejected_calls={cmd.rejected_calls},failed_calls={cmd.failed_calls}",
            ))
    return fields


def _all_commands():
    from emberkv.commands.table import COMMANDS

    for cmd in COMMANDS.values():
        if cmd.subcommands:
            yield from cmd.subcommands.values()
        else:
            yield cmd


def _empty(server: Server) -> list[tuple[str, object]]:
    return []


def _cluster(server: Server) -> list[tuple[str, object]]:
    return [("cluster_enabled", 0)]


SECTIONS = {
    "server": _server, "clients": _clients, "memory": _memory, "persistence": _persistence,
    "stats": _stats, "replication": _replication, "cpu": _cpu, "modules": _empty,
    "errorstats": _empty, "cluster": _cluster, "keyspace": _keyspace, "commandstats": _commandstats,
    "latencystats": _empty,
}
TITLES = {"cpu": "CPU", "commandstats": "Commandstats", "errorstats": "Errorstats"}
