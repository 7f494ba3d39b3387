"""Every directive Redis 7.0.15 knows: its kind, default, flags and aliases. The one list of them.

Defaults, ranges and flags were read off a running redis-server 7.0.15 (Debian's build, which knows
the TLS directives and ``lua-enable-deprecated-api``). Flags:

* IMMUTABLE: set only at start-up; CONFIG SET answers "can't set immutable config";
* PROTECTED: CONFIG SET refuses it ("can't set protected config") unless enable-protected-configs is
  ``yes``, or ``local`` and the client is local; it names files the server writes, so a client able to
  change it could make the server write anywhere;
* HIDDEN: testing aids that CONFIG GET with a glob does not list (an exact name still finds them).

Aliases are the names Redis kept when it renamed a directive (slave -> replica, ziplist -> listpack):
each works wherever the name does, and CONFIG GET with a glob lists it as a directive of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from emberkv.server.config_special import (
    Bind,
    ClientOutputBufferLimit,
    NotifyKeyspaceEvents,
    OomScoreAdjValues,
    Percentiles,
    Replicaof,
)
from emberkv.server.config_special import Save as SaveKind
from emberkv.server.config_values import (
    INT_MAX,
    INT_MIN,
    LLONG_MAX,
    UINT_MAX,
    ULLONG_MAX,
    Bool,
    Dir,
    Enum,
    Int,
    Kind,
    Memory,
    MemoryOrPercent,
    Octal,
    String,
    check_hostname,
    check_no_defrag,
    check_proc_title,
    plain_name,
)

IMMUTABLE = 1
PROTECTED = 2
HIDDEN = 4


@dataclass(frozen=True)
class Directive:
    name: str
    kind: Kind
    default: Any  # a typed value, or a callable giving one (for defaults read at start-up)
    flags: int = 0
    aliases: tuple[str, ...] = ()


DEFAULT_SAVE = [(3600, 1), (300, 100), (60, 10000)]
DEFAULT_BUFFER_LIMITS = {"normal": (0, 0, 0), "replica": (256 << 20, 64 << 20, 60),
                         "pubsub": (32 << 20, 8 << 20, 60)}
_YES_NO_LOCAL = Enum("no", "yes", "local")
_SHUTDOWN = Enum("default", "save", "nosave", "now", "force")
_PORT = Int(0, 65535)
_STR = String()

_TABLE: list[Directive] = []


def _add(name: str, kind: Kind, default: Any, flags: int = 0, alias: str | None = None) -> None:
    _TABLE.append(Directive(name, kind, default, flags, (alias,) if alias else ()))


_b = _add  # the rows below read as a table: name, kind, default[, flags[, alias]]

# -- Networking and general --------------------------------------------------------------------------
_b("bind", Bind(), ["*", "-::*"])
_b("bind-source-addr", _STR, "")
_b("protected-mode", Bool(), True)
_b("port", _PORT, 6379)
_b("tcp-backlog", Int(0, INT_MAX), 511, IMMUTABLE)
_b("unixsocket", _STR, "", IMMUTABLE)
_b("unixsocketperm", Octal(), 0, IMMUTABLE)
_b("socket-mark-id", Int(0, UINT_MAX), 0, IMMUTABLE)
_b("timeout", Int(0, INT_MAX), 0)
_b("tcp-keepalive", Int(0, INT_MAX), 300)
_b("daemonize", Bool(), False, IMMUTABLE)
_b("supervised", Enum("upstart", "systemd", "auto", "no"), "no", IMMUTABLE)
_b("pidfile", _STR, "", IMMUTABLE)
_b("loglevel", Enum("debug", "verbose", "notice", "warning"), "notice")
_b("logfile", _STR, "", IMMUTABLE)
_b("syslog-enabled", Bool(), False, IMMUTABLE)
_b("syslog-ident", _STR, "redis", IMMUTABLE)
_b("syslog-facility", Enum("user", *(f"local{i}" for i in range(8))), "local0", IMMUTABLE)
_b("crash-log-enabled", Bool(), True)
_b("crash-memcheck-enabled", Bool(), True)
_b("databases", Int(1, INT_MAX), 16, IMMUTABLE)
_b("always-show-logo", Bool(), False, IMMUTABLE)
_b("set-proc-title", Bool(), True, IMMUTABLE)
_b("proc-title-template", String(check_proc_title), "{title} {listen-addr} {server-mode}")
_b("enable-protected-configs", _YES_NO_LOCAL, "no", IMMUTABLE)
_b("enable-debug-command", _YES_NO_LOCAL, "no", IMMUTABLE)
_b("enable-module-command", _YES_NO_LOCAL, "no", IMMUTABLE)
_b("hz", Int(0, INT_MAX, clamp=(1, 500)), 10)
_b("dynamic-hz", Bool(), True)
_b("maxclients", Int(1, UINT_MAX), 10000)
_b("io-threads", Int(1, 128), 1, IMMUTABLE)
_b("io-threads-do-reads", Bool(), False, IMMUTABLE)
_b("proto-max-bulk-len", Memory(1 << 20), 512 << 20)
_b("client-query-buffer-limit", Memory(1 << 20), 1 << 30)
_b("client-output-buffer-limit", ClientOutputBufferLimit(), DEFAULT_BUFFER_LIMITS)
_b("ignore-warnings", _STR, "")
_b("shutdown-timeout", Int(0, INT_MAX), 10)
_b("shutdown-on-sigint", _SHUTDOWN, "default")
_b("shutdown-on-sigterm", _SHUTDOWN, "default")
_b("disable-thp", Bool(), True, IMMUTABLE)
_b("oom-score-adj", Enum("no", "yes", "relative", "absolute"), "no")
_b("oom-score-adj-values", OomScoreAdjValues(), [0, 200, 800])
for _name in ("server_cpulist", "bio_cpulist", "aof_rewrite_cpulist", "bgsave_cpulist"):
    _b(_name, _STR, "", IMMUTABLE)

# -- Snapshotting (RDB) ------------------------------------------------------------------------------
_b("save", SaveKind(), DEFAULT_SAVE)
_b("stop-writes-on-bgsave-error", Bool(), True)
_b("rdbcompression", Bool(), True)
_b("rdbchecksum", Bool(), True, IMMUTABLE)
_b("sanitize-dump-payload", Enum("no", "yes", "clients"), "no")
_b("dbfilename", String(plain_name("dbfilename", "filename")), "dump.rdb", PROTECTED)
_b("rdb-del-sync-files", Bool(), False)
_b("dir", Dir(), None, PROTECTED)  # None: the working directory at start-up
_b("rdb-save-incremental-fsync", Bool(), True)
_b("rdb-key-save-delay", Int(INT_MIN, INT_MAX), 0, HIDDEN)
_b("key-load-delay", Int(INT_MIN, INT_MAX), 0, HIDDEN)
_b("loading-process-events-interval-bytes", Int(1024, INT_MAX), 2 << 20, HIDDEN)

# -- Append only file --------------------------------------------------------------------------------
_b("appendonly", Bool(), False)
_b("appendfilename", String(plain_name("appendfilename", "filename")), "appendonly.aof", IMMUTABLE)
_b("appenddirname", String(plain_name("appenddirname", "dirname")), "appendonlydir", IMMUTABLE)
_b("appendfsync", Enum("everysec", "always", "no"), "everysec")
_b("no-appendfsync-on-rewrite", Bool(), False)
_b("auto-aof-rewrite-percentage", Int(0, INT_MAX), 100)
_b("auto-aof-rewrite-min-size", Memory(), 64 << 20)
_b("aof-load-truncated", Bool(), True)
_b("aof-use-rdb-preamble", Bool(), True)
_b("aof-timestamp-enabled", Bool(), False)
_b("aof-rewrite-incremental-fsync", Bool(), True)
_b("aof-disable-auto-gc", Bool(), False)

# -- Replication -------------------------------------------------------------------------------------
_b("replicaof", Replicaof(), None, IMMUTABLE, "slaveof")
_b("masterauth", _STR, "")
_b("masteruser", _STR, "")
_b("replica-serve-stale-data", Bool(), True, 0, "slave-serve-stale-data")
_b("replica-read-only", Bool(), True, 0, "slave-read-only")
_b("replica-ignore-disk-write-errors", Bool(), False)
_b("repl-diskless-sync", Bool(), True)
_b("repl-diskless-sync-delay", Int(0, INT_MAX), 5)
_b("repl-diskless-sync-max-replicas", Int(0, INT_MAX), 0)
_b("repl-diskless-load", Enum("disabled", "on-empty-db", "swapdb"), "disabled")
_b("repl-ping-replica-period", Int(1, INT_MAX), 10, 0, "repl-ping-slave-period")
_b("repl-timeout", Int(1, INT_MAX), 60)
_b("repl-disable-tcp-nodelay", Bool(), False)
_b("repl-backlog-size", Memory(1, floor=16 << 10), 1 << 20)
_b("repl-backlog-ttl", Int(0, LLONG_MAX), 3600)
_b("replica-priority", Int(0, INT_MAX), 100, 0, "slave-priority")
_b("replica-announced", Bool(), True)
_b("replica-announce-ip", _STR, "", 0, "slave-announce-ip")
_b("replica-announce-port", _PORT, 0, 0, "slave-announce-port")
_b("replica-lazy-flush", Bool(), False, 0, "slave-lazy-flush")
_b("replica-ignore-maxmemory", Bool(), True, 0, "slave-ignore-maxmemory")
_b("min-replicas-to-write", Int(0, INT_MAX), 0, 0, "min-slaves-to-write")
_b("min-replicas-max-lag", Int(0, INT_MAX), 10, 0, "min-slaves-max-lag")
_b("propagation-error-behavior", Enum("ignore", "panic", "panic-on-replicas"), "ignore")

# -- Security, clients, memory -----------------------------------------------------------------------
_b("requirepass", _STR, "")
_b("aclfile", _STR, "", IMMUTABLE)
_b("acllog-max-len", Int(0, LLONG_MAX), 128)
_b("acl-pubsub-default", Enum("allchannels", "resetchannels"), "resetchannels")
_b("maxmemory", Memory(0, ULLONG_MAX), 0)
_b("maxmemory-policy", Enum("volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl", "allkeys-lru",
                            "allkeys-lfu", "allkeys-random", "noeviction"), "noeviction")
_b("maxmemory-samples", Int(1, INT_MAX), 5)
_b("maxmemory-eviction-tenacity", Int(0, 100), 10)
_b("maxmemory-clients", MemoryOrPercent(), 0)
_b("lazyfree-lazy-eviction", Bool(), False)
_b("lazyfree-lazy-expire", Bool(), False)
_b("lazyfree-lazy-server-del", Bool(), False)
_b("lazyfree-lazy-user-del", Bool(), False)
_b("lazyfree-lazy-user-flush", Bool(), False)
_b("lfu-log-factor", Int(0, INT_MAX), 10)
_b("lfu-decay-time", Int(0, INT_MAX), 1)
_b("active-expire-effort", Int(1, 10), 1)
_b("tracking-table-max-keys", Int(0, LLONG_MAX), 1000000)

# -- Scripting, monitoring ---------------------------------------------------------------------------
_b("busy-reply-threshold", Int(0, LLONG_MAX), 5000, 0, "lua-time-limit")
_b("lua-enable-deprecated-api", Bool(), False, IMMUTABLE | HIDDEN)
_b("slowlog-log-slower-than", Int(-1, LLONG_MAX), 10000)
_b("slowlog-max-len", Int(0, LLONG_MAX), 128)
_b("latency-monitor-threshold", Int(0, LLONG_MAX), 0)
_b("latency-tracking", Bool(), True)
_b("latency-tracking-info-percentiles", Percentiles(), [50.0, 99.0, 99.9])
_b("notify-keyspace-events", NotifyKeyspaceEvents(), "")
_b("watchdog-period", Int(0, INT_MAX), 0, HIDDEN)
_b("use-exit-on-panic", Bool(), False, HIDDEN)

# -- Encodings of small values -----------------------------------------------------------------------
_b("hash-max-listpack-entries", Int(0, LLONG_MAX), 512, 0, "hash-max-ziplist-entries")
_b("hash-max-listpack-value", Memory(), 64, 0, "hash-max-ziplist-value")
_b("list-max-listpack-size", Int(INT_MIN, INT_MAX), -2, 0, "list-max-ziplist-size")
_b("list-compress-depth", Int(0, INT_MAX), 0)
_b("set-max-intset-entries", Int(0, LLONG_MAX), 512)
_b("zset-max-listpack-entries", Int(0, LLONG_MAX), 128, 0, "zset-max-ziplist-entries")
_b("zset-max-listpack-value", Memory(), 64, 0, "zset-max-ziplist-value")
_b("hll-sparse-max-bytes", Memory(), 3000)
_b("stream-node-max-bytes", Memory(), 4096)
_b("stream-node-max-entries", Int(0, LLONG_MAX), 100)
_b("activerehashing", Bool(), True)

# -- Active defragmentation, jemalloc ----------------------------------------------------------------
_b("activedefrag", Bool(check_no_defrag), False)
_b("active-defrag-ignore-bytes", Memory(1), 100 << 20)
_b("active-defrag-threshold-lower", Int(0, 1000), 10)
_b("active-defrag-threshold-upper", Int(0, 1000), 100)
_b("active-defrag-cycle-min", Int(1, 99), 1)
_b("active-defrag-cycle-max", Int(1, 99), 25)
_b("active-defrag-max-scan-fields", Int(1, LLONG_MAX), 1000)
_b("jemalloc-bg-thread", Bool(), True)

# -- Cluster -----------------------------------------------------------------------------------------
_b("cluster-enabled", Bool(), False, IMMUTABLE)
_b("cluster-config-file", _STR, "nodes.conf", IMMUTABLE)
_b("cluster-port", _PORT, 0, IMMUTABLE)
_b("cluster-node-timeout", Int(0, LLONG_MAX), 15000)
_b("cluster-replica-validity-factor", Int(0, INT_MAX), 10, 0, "cluster-slave-validity-factor")
_b("cluster-migration-barrier", Int(0, INT_MAX), 1)
_b("cluster-allow-replica-migration", Bool(), True)
_b("cluster-require-full-coverage", Bool(), True)
_b("cluster-replica-no-failover", Bool(), False, 0, "cluster-slave-no-failover")
_b("cluster-allow-reads-when-down", Bool(), False)
_b("cluster-allow-pubsubshard-when-down", Bool(), True)
_b("cluster-link-sendbuf-limit", Memory(0, ULLONG_MAX), 0)
_b("cluster-announce-hostname", String(check_hostname), "")
_b("cluster-announce-ip", _STR, "")
_b("cluster-announce-port", _PORT, 0)
_b("cluster-announce-bus-port", _PORT, 0)
_b("cluster-announce-tls-port", _PORT, 0)
_b("cluster-preferred-endpoint-type", Enum("ip", "hostname", "unknown-endpoint"), "ip")

# -- TLS ---------------------------------------------------------------------------------------------
_b("tls-port", _PORT, 0)
for _name in ("tls-cert-file", "tls-key-file", "tls-key-file-pass", "tls-client-cert-file",
              "tls-client-key-file", "tls-client-key-file-pass", "tls-dh-params-file", "tls-ca-cert-file",
              "tls-ca-cert-dir", "tls-protocols", "tls-ciphers", "tls-ciphersuites"):
    _b(_name, _STR, "")
_b("tls-auth-clients", Enum("no", "yes", "optional"), "yes")
_b("tls-replication", Bool(), False)
_b("tls-cluster", Bool(), False)
_b("tls-prefer-server-ciphers", Bool(), False)
_b("tls-session-caching", Bool(), True)
_b("tls-session-cache-size", Int(0, INT_MAX), 20480)
_b("tls-session-cache-timeout", Int(0, INT_MAX), 300)

DIRECTIVES: tuple[Directive, ...] = tuple(_TABLE)

# Canonical name and every alias (lower-case) -> its directive.
BY_NAME: dict[str, Directive] = {}
for _d in DIRECTIVES:
    for _key in (_d.name, *_d.aliases):
        BY_NAME[_key] = _d

# Turning TLS on at run time fails as it does in a Redis without certificates: emberkv has no TLS.
NO_TLS = frozenset(("tls-port", "tls-replication", "tls-cluster"))
NO_TLS_REASON = "Unable to update TLS configuration. Check server logs."

# Directives that only a config file or the command line may give: they are not configs CONFIG GET
# knows, and their lines are kept as written by CONFIG REWRITE. Value: (fewest, most) arguments.
FILE_ONLY: dict[str, tuple[int, int | None]] = {
    "include": (1, 1),
    "rename-command": (2, 2),
    "user": (1, None),
    "loadmodule": (1, None),
    "sentinel": (1, None),
}

# Directives of older versions that Redis 7.0 still accepts, with one argument, and ignores.
IGNORED = frozenset(("list-max-ziplist-entries", "list-max-ziplist-value", "lua-replicate-commands"))
