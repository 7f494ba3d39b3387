"""Configuration: redis.conf and command-line parsing, fatal errors, CONFIG GET/SET/REWRITE.

Redis 7.0.15 is the oracle throughout: where redis-server is installed, the same file, command line or
CONFIG command is given to both and the answers must be identical, byte for byte.
"""

from __future__ import annotations

import io
import os
import stat
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import redis

from emberkv.server.config import IMPLEMENTED, Config, ConfigError, FatalConfigError, load_config
from emberkv.server.config_table import BY_NAME, DIRECTIVES, IMMUTABLE, PROTECTED
from tests.servers import REDIS_SERVER, ServerProcess, free_port

DEBIAN_CONF = Path("/etc/redis/redis.conf")
needs_redis = pytest.mark.skipif(REDIS_SERVER is None,
                                 reason="redis-server is not installed: the oracle comparisons need it")


def fatal(argv: list[str], stdin: str | None = None) -> str:
    with pytest.raises(FatalConfigError) as info:
        load_config(argv, io.StringIO(stdin) if stdin is not None else None)
    return str(info.value)


def block(line_number: int, line: str, reason: str) -> str:
    return (f"\n*** FATAL CONFIG FILE ERROR (Redis 7.0.15) ***\nReading the configuration file, "
            f"at line {line_number}\n>>> '{line}'\n{reason}")


def set_error(pairs: list[tuple[str, str]], config: Config | None = None, local: bool = True) -> str:
    config = config or load_config([])
    with pytest.raises(ConfigError) as info:
        config.set_many([(n.encode(), v.encode()) for n, v in pairs], local_client=local)
    return info.value.message


# -- Parsing ---------------------------------------------------------------------------------------------

def test_file_lines_quotes_comments_and_case(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.conf").write_text(
        "# a comment\n\n   HZ 12   \r\nrequirepass \"p\\x41ss\\n\\\"w\\\"\"\nmasterauth 'it\\'s'\n"
        "\tloglevel VERBOSE\n")
    config = load_config(["a.conf"])
    assert config.file == str(tmp_path / "a.conf")
    assert config["hz"] == 12
    assert config["requirepass"] == 'pAss\n"w"'
    assert config["masterauth"] == "it's"
    assert config["loglevel"] == "verbose"


def test_command_line_options_follow_the_file_and_win(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.conf").write_text("port 7000\nhz 20\n")
    config = load_config(["a.conf", "--port", "7001", "--bind", "127.0.0.1", "::1", "--maxmemory 1gb"])
    assert (config["port"], config["hz"], config["bind"]) == (7001, 20, ["127.0.0.1", "::1"])
    assert config["maxmemory"] == 1 << 30


def test_option_values_may_start_with_dashes_and_bare_save_means_no_save_points() -> None:
    config = load_config(["--masterauth", "--secret", "--save", "--port", "7002"])
    assert (config["masterauth"], config["save"], config["port"]) == ("--secret", [], 7002)
    assert load_config(["--save"])["save"] == []
    assert load_config(["--save", ""])["save"] == []


def test_config_from_stdin_after_the_file(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.conf").write_text("hz 5\nport 7003\n")
    config = load_config(["a.conf", "-"], io.StringIO("hz 6\n"))
    assert (config["hz"], config["port"]) == (6, 7003)
    only_stdin = load_config(["-"], io.StringIO("hz 7\n"))
    assert only_stdin["hz"] == 7 and only_stdin.file is None


def test_save_lines_replace_the_defaults_then_accumulate(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert load_config([])["save"] == [(3600, 1), (300, 100), (60, 10000)]
    (tmp_path / "a.conf").write_text("save 900 1\nsave 300 10\n")
    assert load_config(["a.conf", "--save", "60", "100"])["save"] == [(900, 1), (300, 10), (60, 100)]
    (tmp_path / "b.conf").write_text('save 900 1\nsave ""\nsave "5 5"\n')
    assert load_config(["b.conf"])["save"] == [(5, 5)]


def test_include_is_relative_to_the_working_directory_and_accepts_globs(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "one.conf").write_text("hz 30\n")
    (tmp_path / "sub" / "two.conf").write_text("timeout 9\n")
    (tmp_path / "main.conf").write_text("include sub/one.conf\ninclude sub/t*.conf\ninclude sub/none*.conf\n")
    config = load_config(["main.conf"])
    assert (config["hz"], config["timeout"]) == (30, 9)


def test_include_after_dir_is_found_in_that_dir(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "extra.conf").write_text("hz 40\n")
    config = load_config(["--dir", "data", "--include", "extra.conf"])
    assert (config["dir"], config["hz"]) == (str(tmp_path / "data"), 40)


def test_aliases_set_the_canonical_directive() -> None:
    config = load_config(["--slaveof", "10.0.0.1", "6380", "--hash-max-ziplist-entries", "7",
                          "--lua-time-limit", "100"])
    assert config["replicaof"] == ("10.0.0.1", 6380) and config["slaveof"] == ("10.0.0.1", 6380)
    assert config["hash-max-listpack-entries"] == 7
    assert config["busy-reply-threshold"] == 100


def test_file_only_and_retired_directives_are_accepted() -> None:
    config = load_config(["--rename-command", "FLUSHALL", "", "--user", "default", "on",
                          "--list-max-ziplist-entries", "5", "--lua-replicate-commands", "yes"])
    assert config.renamed_commands == [("FLUSHALL", "")]
    assert config.unimplemented_in_use() == ["rename-command", "user"]


def test_typed_values() -> None:
    config = load_config(["--appendonly", "yes", "--client-output-buffer-limit", "pubsub", "1mb", "2mb", "3",
                          "--notify-keyspace-events", "KEA", "--maxmemory-clients", "10%",
                          "--latency-tracking-info-percentiles", "50 99.5"])
    assert config["appendonly"] is True
    assert config["client-output-buffer-limit"]["pubsub"] == (1 << 20, 2 << 20, 3)
    assert config["client-output-buffer-limit"]["replica"] == (256 << 20, 64 << 20, 60)
    assert config["notify-keyspace-events"] == "AKE"
    assert config["maxmemory-clients"] == "10%"
    assert config["latency-tracking-info-percentiles"] == [50.0, 99.5]
    assert config["oom-score-adj-values"] == [0, 200, 800]
    assert config["replicaof"] is None


def test_unimplemented_in_use_names_only_changed_directives() -> None:
    config = load_config(["--tcp-backlog", "511", "--activerehashing", "no", "--hz", "20", "--daemonize", "yes"])
    assert config.unimplemented_in_use() == ["activerehashing", "daemonize"]
    assert {"port", "save", "appendonly", "maxmemory", "busy-reply-threshold"} <= IMPLEMENTED


@pytest.mark.skipif(not os.access(DEBIAN_CONF, os.R_OK), reason="Debian's /etc/redis/redis.conf is not here")
def test_debian_redis_conf_loads(monkeypatch, tmp_path) -> None:
    monkeypatch.chdir(tmp_path)
    text = DEBIAN_CONF.read_text().replace("dir /var/lib/redis", f"dir {tmp_path}")
    config = load_config(["-"], io.StringIO(text))
    assert config["daemonize"] is True and config["logfile"] == "/var/log/redis/redis-server.log"
    assert config["bind"] == ["127.0.0.1", "-::1"]


# -- Fatal errors ----------------------------------------------------------------------------------------

def test_fatal_error_texts(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.conf").write_text('hz 10\nport "abc"\n')
    assert fatal(["a.conf"]) == block(2, 'port "abc"', "argument couldn't be parsed into an integer")
    assert fatal(["--foo", "bar"]) == block(2, 'foo "bar"', "Bad directive or wrong number of arguments")
    assert fatal(["--port", "70000"]) == block(2, 'port "70000"', "argument must be between 0 and 65535 inclusive")
    assert fatal(["--appendonly", "maybe"]) == block(2, 'appendonly "maybe"', "argument must be 'yes' or 'no'")
    assert fatal(["--loglevel", "loud"]) == block(
        2, 'loglevel "loud"', "argument(s) must be one of the following: debug, verbose, notice, warning")
    assert fatal(["--maxmemory", "1xb"]) == block(2, 'maxmemory "1xb"', "argument must be a memory value")
    assert fatal(["--port"]) == block(2, "port", "wrong number of arguments")
    assert fatal(["--port", 'a"b\n\x01']) == block(2, 'port "a\\"b\\n\\x01"',
                                                    "argument couldn't be parsed into an integer")


def test_fatal_error_line_numbers_count_the_file_then_the_options(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "nl.conf").write_text("hz 10\n")
    (tmp_path / "no-nl.conf").write_text("hz 10")
    assert "at line 3\n" in fatal(["nl.conf", "--port", "x"])
    assert "at line 2\n" in fatal(["no-nl.conf", "--port", "x"])
    (tmp_path / "q.conf").write_text('# c\nport "abc\n')
    assert fatal(["q.conf"]) == block(2, 'port "abc', "Unbalanced quotes in configuration line")


def test_missing_config_file_is_reported_as_a_log_line(tmp_path) -> None:
    message = fatal([str(tmp_path / "nope.conf")])
    assert message.endswith(f"# Fatal error, can't open config file '{tmp_path / 'nope.conf'}': "
                            "No such file or directory")
    assert ":C " in message


def test_missing_include_and_stray_arguments(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert fatal(["--include", "nope.conf"]).endswith(
        "# Fatal error, can't open config file 'nope.conf': No such file or directory")
    (tmp_path / "a.conf").write_text("hz 10\n")
    assert fatal(["a.conf", "foo"]) == block(3, '"foo"', "Bad directive or wrong number of arguments")
    assert fatal(["--port 1", "extra"]) == block(2, 'port 1 "extra"', "wrong number of arguments")
    assert fatal(["--port", "--", "x"]) == block(2, 'port "--" "x"', "wrong number of arguments")


# Values that tell a directive's kind and range apart, tried on every name; the rest on the special ones.
PROBES = ["abc", "", "-9223372036854775808", "9223372036854775807", "1kb"]
VALUES = ["yes", "no", "YES", "0", "1", "-1", "2147483648", "100%", "900 1", "local", "a/b", "0777",
          "pubsub 1mb 1mb 5", "1 2 3", "KEA", "50 99.9", "{title}", "{title",
          "{{title}}", "{ti{tle}", "x {port}", " ", "{server-mode}", "a}b"]
SPECIAL = ["save", "bind", "client-output-buffer-limit", "oom-score-adj-values", "notify-keyspace-events",
           "latency-tracking-info-percentiles", "replicaof", "maxmemory-clients", "unixsocketperm",
           "proc-title-template", "appendfilename", "dbfilename", "enable-debug-command", "maxmemory", "hz",
           "list-max-ziplist-size", "cluster-announce-hostname", "activedefrag"]


def _oracle_fatal(argv: list[str], cwd: Path) -> str:
    proc = subprocess.run([REDIS_SERVER or "redis-server", *argv], cwd=cwd, capture_output=True, text=True,
                          timeout=20)
    return proc.stderr.rstrip("\n")


@pytest.mark.interop
@needs_redis
def test_every_directive_and_value_fails_or_passes_as_in_redis(tmp_path, monkeypatch) -> None:
    # The trailing bad port makes every run fail, so each answer is a fatal message to compare: ours
    # stops at the same line with the same reason, or both accepted the value and stop at the port.
    monkeypatch.chdir(tmp_path)
    names = sorted(n for n in BY_NAME if n not in ("dir", "unixsocket", "logfile"))
    cases = [[f"--{name}", value] for name in names for value in PROBES]
    cases += [[f"--{name}", value] for name in SPECIAL for value in VALUES]
    cases += [["--save", "900", "1", "300"], ["--bind", *"1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17".split()],
              ["--client-output-buffer-limit", "normal", "1", "2"], ["--oom-score-adj-values", "1", "2", "5000"],
              ["--replicaof", "a", "b"], ["--replicaof", "no", "one"], ["--rename-command", "a"],
              ["--include", "a", "b"], ["--latency-tracking-info-percentiles", "200"], ["--dir", "missing"],
              ["--client-output-buffer-limit", "normal 1 2 3", "pubsub"], ["--save", "900  1"]]
    cases = [[*argv, "--port", "notaport"] for argv in cases]
    with ThreadPoolExecutor(4) as pool:
        expected = list(pool.map(lambda argv: _oracle_fatal(argv, tmp_path), cases))
    mismatches = []
    for argv, want in zip(cases, expected, strict=True):
        got = fatal(argv)
        if got != want:
            mismatches.append((argv, want, got))
    assert mismatches == []


# -- CONFIG GET ------------------------------------------------------------------------------------------

def _as_dict(pairs: list[tuple[bytes, bytes]]) -> dict[bytes, bytes]:
    return dict(pairs)


def _oracle_get(client, *patterns: str) -> dict[bytes, bytes]:
    reply = client.execute_command("CONFIG", "GET", *patterns)
    items = list(reply.items()) if isinstance(reply, dict) else list(zip(reply[::2], reply[1::2], strict=True))
    return {bytes(k): bytes(v) for k, v in items}


def _same_as_oracle(redis_oracle) -> Config:
    """Our config from the exact command line the oracle was started with."""
    return load_config(redis_oracle.argv[1:])


def test_config_get_renders_values_as_redis() -> None:
    config = load_config(["--maxmemory", "1gb", "--bind", "127.0.0.1", "::1", "--unixsocketperm", "700",
                          "--notify-keyspace-events", "KEA", "--save", "900 1"])
    got = _as_dict(config.get_matching([b"maxmemory", b"bind", b"unixsocketperm", b"notify-keyspace-events",
                                        b"save", b"appendonly", b"client-output-buffer-limit"]))
    assert got == {b"maxmemory": b"1073741824", b"bind": b"127.0.0.1 ::1", b"unixsocketperm": b"700",
                   b"notify-keyspace-events": b"AKE", b"save": b"900 1", b"appendonly": b"no",
                   b"client-output-buffer-limit":
                       b"normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60"}


def test_config_get_echoes_exact_names_and_lists_aliases_for_globs() -> None:
    config = load_config([])
    assert config.get_matching([b"Port", b"HZ", b"hz", b"h?"]) == [(b"Port", b"6379"), (b"HZ", b"10")]
    assert {name for name, _ in config.get_matching([b"*ziplist*"])} == {
        b"hash-max-ziplist-entries", b"hash-max-ziplist-value", b"zset-max-ziplist-entries",
        b"zset-max-ziplist-value", b"list-max-ziplist-size"}
    assert config.get_matching([b"nonexistent", b"h\\z"]) == []


def test_config_get_hides_testing_directives_from_globs() -> None:
    config = load_config([])
    assert config.get_matching([b"rdb-key-*"]) == []
    assert config.get_matching([b"RDB-KEY-SAVE-DELAY"]) == [(b"RDB-KEY-SAVE-DELAY", b"0")]


@needs_redis
def test_defaults_equal_redis_for_every_directive(redis_oracle) -> None:
    # Same command line (port, dir, save, ...) on both sides: every value must then be identical.
    theirs = _oracle_get(redis_oracle.client(), "*")
    ours = _as_dict(_same_as_oracle(redis_oracle).get_matching([b"*"]))
    assert ours == theirs


@needs_redis
@pytest.mark.parametrize("patterns", [
    ["*ziplist*"], ["*slave*"], ["HZ", "Port", "hz"], ["h?"], ["*max*"], ["rdb-key-save-delay"], ["RDB-KEY-*"],
    ["[a-c]*"], ["nonexistent"], ["*-delay", "watchdog-period", "use-exit-on-panic", "key-load-delay"],
    ["h\\z"], ["*", "PORT"], ["[^a-r]*"], ["lua-*", "busy-*"],
])
def test_config_get_patterns_match_redis(redis_oracle, patterns: list[str]) -> None:
    ours = _as_dict(_same_as_oracle(redis_oracle).get_matching([p.encode() for p in patterns]))
    assert ours == _oracle_get(redis_oracle.client(), *patterns)


# -- CONFIG SET ------------------------------------------------------------------------------------------

def test_config_set_error_texts() -> None:
    assert set_error([("foo", "bar"), ("hz", "1")]) == \
        "ERR Unknown option or number of arguments for CONFIG SET - 'foo'"
    assert set_error([("hz", "abc"), ("foo", "bar")]) == \
        "ERR Unknown option or number of arguments for CONFIG SET - 'foo'"
    assert set_error([("hz", "abc"), ("daemonize", "no")]) == \
        "ERR CONFIG SET failed (possibly related to argument 'daemonize') - can't set immutable config"
    assert set_error([("hz", "1"), ("HZ", "2")]) == \
        "ERR CONFIG SET failed (possibly related to argument 'HZ') - duplicate parameter"
    assert set_error([("port", "70000")]) == \
        "ERR CONFIG SET failed (possibly related to argument 'port') - argument must be between 0 and 65535 inclusive"
    assert set_error([("save", "100  1")]) == \
        "ERR CONFIG SET failed (possibly related to argument 'save') - Invalid save parameters"
    assert set_error([("slaveof", "a 1")]) == \
        "ERR CONFIG SET failed (possibly related to argument 'slaveof') - can't set immutable config"


def test_config_set_applies_all_or_nothing() -> None:
    config = load_config([])
    with pytest.raises(ConfigError):
        config.set_many([(b"hz", b"20"), (b"maxmemory", b"lots")])
    assert config["hz"] == 10
    config.set_many([(b"hz", b"20"), (b"maxmemory", b"2mb"), (b"save", b"")])
    assert (config["hz"], config["maxmemory"], config["save"]) == (20, 2 << 20, [])


def test_config_set_alias_and_name_together_last_one_wins() -> None:
    config = load_config([])
    config.set_many([(b"hash-max-ziplist-entries", b"5"), (b"hash-max-listpack-entries", b"6")])
    assert config["hash-max-listpack-entries"] == 6


def test_protected_configs_need_enable_protected_configs() -> None:
    refused = "ERR CONFIG SET failed (possibly related to argument 'dir') - can't set protected config"
    assert set_error([("dir", "/")]) == refused
    assert set_error([("dbfilename", "x.rdb")]).endswith("can't set protected config")
    local_only = load_config(["--enable-protected-configs", "local"])
    assert set_error([("dir", "/")], local_only, local=False) == refused
    local_only.set_many([(b"dbfilename", b"x.rdb")], local_client=True)
    assert local_only["dbfilename"] == "x.rdb"
    everyone = load_config(["--enable-protected-configs", "yes"])
    everyone.set_many([(b"dir", b"/")], local_client=False)
    assert everyone["dir"] == "/"


def test_callbacks_see_changes_and_a_refusal_rolls_everything_back() -> None:
    config = load_config([])
    seen: list[tuple[str, object]] = []
    config.on_change("hz", lambda value: seen.append(("hz", value)))
    config.on_change("timeout", lambda value: seen.append(("timeout", value)))

    def refuse_port(value: object) -> None:
        raise ConfigError("Unable to listen on this port")

    config.on_change("port", refuse_port)
    config.set_many([(b"hz", b"10")])  # unchanged: no callback
    assert seen == []
    with pytest.raises(ConfigError) as info:
        config.set_many([(b"hz", b"50"), (b"timeout", b"3"), (b"port", b"7100")])
    assert info.value.message == \
        "ERR CONFIG SET failed (possibly related to argument 'port') - Unable to listen on this port"
    assert (config["hz"], config["timeout"], config["port"]) == (10, 0, 6379)
    assert seen == [("hz", 50), ("timeout", 3), ("timeout", 0), ("hz", 10)]


def test_hz_is_kept_within_its_limits() -> None:
    config = load_config([])
    config.set_many([(b"hz", b"501")])
    assert config["hz"] == 500
    config.set_many([(b"hz", b"0")])
    assert config["hz"] == 1


SET_VALUES = ["abc", "", "0", "1", "-1", "yes", "NO", "1kb", "1k", "1GB", "+5", "010", "9223372036854775808",
              "100%", "10%", "900 1", "100  1", "KEA", "Kx", "g$lshzxetdmn", "50 99.123456789", "0x10",
              "normal 1mb 2mb 3", "replica 1 2 3", "pubsub 1 2", "1 2 3", "-5 2 3", "everysec", "ALWAYS",
              "{title} x", "a-host.example", "bad host"]
UNSAFE_TO_SET = {"bind", "port", "tls-port", "dir", "requirepass", "watchdog-period", "oom-score-adj",
                 "timeout", "maxmemory", "appendonly", "repl-diskless-sync-delay", "key-load-delay"}


@needs_redis
def test_config_set_answers_and_renders_as_redis(redis_oracle) -> None:
    client = redis_oracle.client()
    ours = _same_as_oracle(redis_oracle)
    names = [name for name, directive in BY_NAME.items()
             if not directive.flags & (IMMUTABLE | PROTECTED) and directive.name not in UNSAFE_TO_SET]
    mismatches = []
    for name in names:
        original = _oracle_get(client, name)[name.encode()]
        for value in SET_VALUES:
            try:
                client.config_set(name, value)
                theirs = "OK"
            except redis.ResponseError as exc:  # redis-py drops the "ERR " prefix
                theirs = "ERR " + str(exc)
            try:
                ours.set_many([(name.encode(), value.encode())])
                mine = "OK"
            except ConfigError as exc:
                mine = exc.message
            got, want = _as_dict(ours.get_matching([name.encode()])), _oracle_get(client, name)
            if (mine, got) != (theirs, want):
                mismatches.append((name, value, mine, theirs, got, want))
            client.config_set(name, original)
            ours.set_many([(name.encode(), original)])
    assert mismatches == [], "\n".join(map(repr, mismatches))
    assert _as_dict(ours.get_matching([b"*"])) == _oracle_get(client, "*")


def test_directive_table_covers_the_implemented_set() -> None:
    assert IMPLEMENTED <= {d.name for d in DIRECTIVES}


# -- CONFIG REWRITE --------------------------------------------------------------------------------------

REWRITE_SOURCE = """# top comment
port 7200
logfile /tmp/x.log
save 900 1
save 300 10
# maxmemory <bytes>
hz 10
HZ 11
rename-command FLUSHALL ""
maxmemory-policy allkeys-lru
hash-max-ziplist-entries 100
slaveof 127.0.0.1 1
unixsocketperm 700
client-output-buffer-limit pubsub 32mb 8mb 60



appendonly no
"""
REWRITE_SETS = [(b"maxmemory", b"1gb"), (b"requirepass", b'a b"c'), (b"notify-keyspace-events", b"KEA"),
                (b"save", b"3600 1 60 5"), (b"maxmemory-clients", b"10%"),
                (b"latency-tracking-info-percentiles", b"50 99.5"), (b"oom-score-adj-values", b"1 2 3"),
                (b"client-output-buffer-limit", b"normal 1mb 1025 5 pubsub 1kb 0 0"),
                (b"hash-max-listpack-value", b"1025"), (b"loglevel", b"warning"),
                (b"auto-aof-rewrite-min-size", b"3mb"), (b"hz", b"12")]


def test_rewrite_without_a_config_file_is_refused() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(["--port", "7000"]).rewrite()
    assert info.value.message == "ERR The server is running without a config file"


def test_rewrite_updates_lines_in_place_and_appends_the_rest(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "r.conf"
    path.write_text(REWRITE_SOURCE)
    path.chmod(0o600)
    config = load_config([str(path)])
    config.set_many(REWRITE_SETS)
    config.rewrite()
    assert path.read_text() == f"""# top comment
port 7200
logfile "/tmp/x.log"
save 3600 1
save 60 5
# maxmemory <bytes>
hz 12

rename-command FLUSHALL ""
maxmemory-policy allkeys-lru
hash-max-listpack-entries 100
replicaof 127.0.0.1 1
unixsocketperm 700
client-output-buffer-limit normal 1mb 1025 5

appendonly no

# Generated by CONFIG REWRITE
loglevel warning
client-output-buffer-limit pubsub 1kb 0 0
oom-score-adj-values 1 2 3
dir "{tmp_path}"
auto-aof-rewrite-min-size 3mb
requirepass "a b\\"c"
maxmemory 1gb
maxmemory-clients 10%
latency-tracking-info-percentiles 50 99.5
notify-keyspace-events "AKE"
hash-max-listpack-value 1025
"""
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.conf"]  # no temporary file left behind
    reloaded = load_config([str(path)])
    assert _as_dict(reloaded.get_matching([b"*"])) == _as_dict(config.get_matching([b"*"]))


def test_rewrite_twice_keeps_one_generated_section(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "r.conf"
    path.write_text("port 7201")
    config = load_config([str(path)])
    config.set_many([(b"timeout", b"5")])
    config.rewrite()
    config.set_many([(b"timeout", b"0"), (b"save", b"")])
    config.rewrite()
    # Emptied lines collapse into one blank line; the old file's final newline leaves one at the end.
    assert path.read_text() == (f'port 7201\n# Generated by CONFIG REWRITE\ntimeout 0\nsave ""\n\n'
                                f'dir "{tmp_path}"\nlatency-tracking-info-percentiles 50 99 99.9\n\n')


def _rewrite_lines(text: str) -> tuple[list[str], set[str]]:
    """The part of a rewritten file before the generated section, and the generated lines as a set
    (Redis appends them in its hash table's order). ACL ``user`` lines are Redis's alone."""
    head, _, tail = text.partition("# Generated by CONFIG REWRITE\n")
    return head.split("\n"), {line for line in tail.split("\n") if line and not line.startswith("user ")}


@needs_redis
def test_rewrite_matches_redis(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    for side in ("ours", "theirs"):
        (tmp_path / side).mkdir()
        (tmp_path / side / "r.conf").write_text(REWRITE_SOURCE.replace("/tmp/x.log", "\"\""))
    port = free_port()
    options = ["--port", str(port), "--dir", str(tmp_path), "--daemonize", "no"]
    theirs = ServerProcess([REDIS_SERVER or "redis-server", str(tmp_path / "theirs" / "r.conf"), *options],
                           port, tmp_path, tmp_path / "redis.log").start()
    try:
        client = theirs.client()
        client.config_set("requirepass", "")
        for name, value in REWRITE_SETS:
            client.execute_command("CONFIG", "SET", name, value)
        client.execute_command("CONFIG", "REWRITE")
    finally:
        theirs.stop()
    ours = load_config([str(tmp_path / "ours" / "r.conf"), *options])
    ours.set_many(REWRITE_SETS)
    ours.rewrite()
    assert _rewrite_lines((tmp_path / "ours" / "r.conf").read_text()) == \
        _rewrite_lines((tmp_path / "theirs" / "r.conf").read_text())
