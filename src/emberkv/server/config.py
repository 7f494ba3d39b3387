"""The server's configuration: loading it at start-up, and CONFIG GET / SET / REWRITE at run time.

Names, defaults, value syntax, error texts and the rendering of values are Redis 7.0.15's, so
redis.conf files, scripts and tools written for Redis work unchanged. The directive table lives in
``config_table``, value kinds in ``config_values`` and ``config_special``, the file and command-line
reader in ``config_load`` and REWRITE in ``config_rewrite``.

Every directive Redis knows is accepted, validated, stored and reported. Those in ``IMPLEMENTED`` take
effect in emberkv; the rest are kept only so that a Redis config file loads and CONFIG GET answers as
Redis would, and ``unimplemented_in_use()`` names the ones a user actually changed.

Typed values (``config[name]``): bool for yes/no, int for integers and memory sizes (bytes), str for
strings and enums (lower case), list[tuple[int, int]] for ``save``, list[str] for ``bind``, list[int]
for ``oom-score-adj-values``, list[float] for ``latency-tracking-info-percentiles``, dict class ->
(hard, soft, seconds) for ``client-output-buffer-limit`` (classes normal, replica, pubsub),
(host, port) or None for ``replicaof``, a letters str for ``notify-keyspace-events``, an int or an
'N%' str for ``maxmemory-clients``, and an absolute path for ``dir``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TextIO

from emberkv.keyspace.glob import glob_match
from emberkv.server.config_load import ConfigLoader, FatalConfigError, read_config_text
from emberkv.server.config_rewrite import rewrite_config_file
from emberkv.server.config_special import split_set_words
from emberkv.server.config_table import (
    BY_NAME,
    DIRECTIVES,
    HIDDEN,
    IMMUTABLE,
    NO_TLS,
    NO_TLS_REASON,
    PROTECTED,
    Directive,
)
from emberkv.server.config_values import BadValue

__all__ = ["IMPLEMENTED", "Config", "ConfigError", "FatalConfigError", "load_config"]

IMPLEMENTED = frozenset((
    "bind", "port", "protected-mode", "requirepass", "databases", "dir", "logfile", "loglevel", "pidfile",
    "timeout", "tcp-keepalive", "maxclients", "hz", "proto-max-bulk-len", "client-query-buffer-limit",
    "enable-debug-command", "enable-protected-configs", "daemonize", "save", "dbfilename",
    "rdbcompression", "rdbchecksum", "stop-writes-on-bgsave-error", "rdb-key-save-delay", "appendonly",
    "appendfilename", "appenddirname", "appendfsync", "auto-aof-rewrite-percentage",
    "auto-aof-rewrite-min-size", "aof-use-rdb-preamble", "aof-load-truncated", "aof-timestamp-enabled",
    "no-appendfsync-on-rewrite", "notify-keyspace-events", "list-max-listpack-size",
    "hash-max-listpack-entries", "hash-max-listpack-value", "set-max-intset-entries",
    "zset-max-listpack-entries", "zset-max-listpack-value", "maxmemory", "busy-reply-threshold",
    "aof-rewrite-incremental-fsync", "aof-disable-auto-gc", "key-load-delay",
    "loading-process-events-interval-bytes", "rdb-save-incremental-fsync",
))

_GLOB_CHARS = frozenset(b"*?[")


class ConfigError(Exception):
    """A refused CONFIG SET or REWRITE; ``message`` is the whole error reply ("ERR ...").

    An on_change callback may raise ConfigError("reason") to refuse a value: the reply then reads
    "ERR CONFIG SET failed (possibly related to argument '<name>') - reason"."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def load_config(argv: list[str], stdin: TextIO | None = None) -> Config:
    """The configuration from redis-server style arguments (without the program name)."""
    path, text = read_config_text(argv, stdin)
    config = Config(path)
    loader = ConfigLoader(config._values)
    loader.load(text)
    config._given = loader.given
    config.renamed_commands = loader.renamed_commands
    config.other_lines = loader.other_lines
    return config


def _default(directive: Directive) -> Any:
    if directive.name == "dir":
        return os.getcwd()
    value = directive.default
    return value.copy() if isinstance(value, list | dict) else value


class Config:
    def __init__(self, file: str | None = None) -> None:
        self.file = file
        self._defaults = {d.name: _default(d) for d in DIRECTIVES}
        self._values = {name: _default(BY_NAME[name]) for name in self._defaults}
        self._given: set[str] = set()
        self._callbacks: dict[str, list[Callable[[Any], None]]] = {}
        self.renamed_commands: list[tuple[str, str]] = []  # rename-command lines, in order
        self.other_lines: list[tuple[str, list[str]]] = []  # user / loadmodule / sentinel lines

    def __getitem__(self, name: str) -> Any:
        return self._values[BY_NAME[name.lower()].name]

    # -- CONFIG GET ------------------------------------------------------------------------------------

    def get_matching(self, patterns: list[bytes]) -> list[tuple[bytes, bytes]]:
        """Name/value pairs for CONFIG GET. A pattern without glob characters is an exact name (hidden
        directives too) and is answered under the name as given; a glob lists every visible name and
        alias it matches. A name already answered (in any letter case) is not repeated."""
        found: dict[bytes, tuple[bytes, bytes]] = {}
        for pattern in patterns:
            if _GLOB_CHARS.isdisjoint(pattern):
                directive = BY_NAME.get(pattern.decode("utf-8", "surrogateescape").lower())
                if directive is not None:
                    found.setdefault(pattern.lower(), (pattern, self._render(directive)))
                continue
            for directive in DIRECTIVES:
                if directive.flags & HIDDEN:
                    continue
                for name in (directive.name, *directive.aliases):
                    key = name.encode()
                    if key not in found and glob_match(pattern, key, nocase=True):
                        found[key] = (key, self._render(directive))
        return list(found.values())

    def _render(self, directive: Directive) -> bytes:
        text = directive.kind.render(self._values[directive.name])
        return text.encode("utf-8", "surrogateescape")

    # -- CONFIG SET ------------------------------------------------------------------------------------

    def set_many(self, pairs: list[tuple[bytes, bytes]], local_client: bool = True) -> None:
        """Validate every pair, then apply all of them or none (CONFIG SET)."""
        chosen: list[tuple[str, Directive, str]] = []
        seen: set[str] = set()
        for raw_name, raw_value in pairs:
            given = raw_name.decode("utf-8", "surrogateescape")
            directive = BY_NAME.get(given.lower())
            if directive is None:
                raise ConfigError(f"ERR Unknown option or number of arguments for CONFIG SET - '{given}'")
            if directive.flags & IMMUTABLE:
                raise _set_failed(given, "can't set immutable config")
            if directive.flags & PROTECTED and not self._protected_allowed(local_client):
                raise _set_failed(given, "can't set protected config")
            if given.lower() in seen:
                raise _set_failed(given, "duplicate parameter")
            seen.add(given.lower())
            chosen.append((given, directive, raw_value.decode("utf-8", "surrogateescape")))
        staged = dict(self._values)
        for given, directive, text in chosen:
            try:
                kind = directive.kind
                words = split_set_words(text) if kind.multi_arg else [text]
                staged[directive.name] = kind.parse(words, staged[directive.name])
            except BadValue as exc:
                raise _set_failed(given, exc.reason) from None
        for given, directive, _ in chosen:  # applying comes after every value parsed, as in Redis
            if directive.name in NO_TLS and staged[directive.name]:
                raise _set_failed(given, NO_TLS_REASON)
        self._apply(staged, {directive.name: given for given, directive, _ in chosen})

    def _protected_allowed(self, local_client: bool) -> bool:
        setting = self._values["enable-protected-configs"]
        return setting == "yes" or (setting == "local" and local_client)

    def _apply(self, staged: dict[str, Any], given_names: dict[str, str]) -> None:
        """Install staged values and run the callbacks of those that changed; undo all on a refusal."""
        changed = [name for name in given_names if staged[name] != self._values[name]]
        old = {name: self._values[name] for name in changed}
        done: list[str] = []
        for name in changed:
            self._values[name] = staged[name]
            done.append(name)
            try:
                self._notify(name)
            except ConfigError as exc:
                for undone in reversed(done):
                    self._values[undone] = old[undone]
                for undone in reversed(done[:-1]):
                    self._notify_quietly(undone)
                message = exc.message
                if not message.startswith("ERR "):
                    message = _set_failed(given_names[name], message).message
                raise ConfigError(message) from None

    def _notify(self, name: str) -> None:
        for callback in self._callbacks.get(name, ()):
            callback(self._values[name])

    def _notify_quietly(self, name: str) -> None:
        # Restoring a value the server ran with a moment ago: a refusal now has nothing to fall back to.
        try:
            self._notify(name)
        except ConfigError:
            pass

    def on_change(self, name: str, callback: Callable[[Any], None]) -> None:
        """Call callback(new typed value) whenever CONFIG SET changes the directive."""
        self._callbacks.setdefault(BY_NAME[name.lower()].name, []).append(callback)

    # -- CONFIG REWRITE and start-up report ------------------------------------------------------------

    def rewrite(self) -> None:
        if self.file is None:
            raise ConfigError("ERR The server is running without a config file")
        try:
            rewrite_config_file(self.file, self._values, self._defaults)
        except OSError as exc:
            raise ConfigError(f"ERR Rewriting config file: {exc.strerror or exc}") from None

    def unimplemented_in_use(self) -> list[str]:
        """Directives the file or command line set to a non-default value that emberkv accepts but does
        not act on (``daemonize yes`` included: emberkv stays in the foreground), then the config-file-only
        directives it ignores (rename-command, user, loadmodule, sentinel)."""
        names = [d.name for d in DIRECTIVES if d.name in self._given
                 and self._values[d.name] != self._defaults[d.name] and d.name not in IMPLEMENTED]
        if self._values["daemonize"]:
            names.append("daemonize")
        if self.renamed_commands:
            names.append("rename-command")
        names.extend(dict.fromkeys(name for name, _ in self.other_lines))
        return names


def _set_failed(name: str, reason: str) -> ConfigError:
    return ConfigError(f"ERR CONFIG SET failed (possibly related to argument '{name}') - {reason}")
