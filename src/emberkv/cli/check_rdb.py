"""``emberkv check-rdb FILE``: walk an RDB file and say whether it is sound, like redis-check-rdb.

It reads every record with the same reader the server loads with (so "looks OK" means the server will
accept the bytes), validating every blob and the checksum, and reports in redis-check-rdb's style: the
RDB version, AUX fields, databases, then a summary of keys per type, expires and already expired keys.
For a bad file it prints the byte offset and the reason, what was being read, and exits non-zero.
Streams and module data, which emberkv cannot load yet, are walked and checked like the rest, and
reported with their own exit status.
"""

from __future__ import annotations

import os
import sys
import time
from collections import Counter
from typing import TextIO

from emberkv.keyspace.values import TYPE_NAMES
from emberkv.persistence.rdb.constants import TYPE_NAMES as RDB_TYPE_NAMES
from emberkv.persistence.rdb.errors import RdbError
from emberkv.persistence.rdb.reader import RdbReader, UnsupportedValue

EXIT_OK = 0
EXIT_CORRUPT = 1  # not a valid RDB file: corrupt, truncated, bad checksum, unreadable
EXIT_USAGE = 2
EXIT_UNSUPPORTED = 3  # a valid RDB file, but it holds data emberkv cannot load (streams, modules)

USAGE = "Usage: emberkv check-rdb <rdb-file-name>"


def _show(value: bytes, limit: int = 120) -> str:
    text = value.decode("utf-8", "backslashreplace")
    return text if len(text) <= limit else text[:limit] + "..."


class _Report:
    """Counts what the reader sees and prints redis-check-rdb's lines as it goes."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.keys = 0
        self.expires = 0
        self.already_expired = 0
        self.types: Counter[str] = Counter()
        self.per_db: Counter[int] = Counter()
        self.unsupported: list[str] = []
        self.now_ms = int(time.time() * 1000)

    def line(self, text: str, offset: int | None = None) -> None:
        self.out.write(f"[offset {offset}] {text}\n" if offset is not None else f"{text}\n")

    def observe(self, kind: str, offset: int, payload: object) -> None:
        if kind == "version":
            self.line(f"RDB version {payload}", offset)
        elif kind == "aux":
            name, value = payload  # type: ignore[misc]
            self.line(f"AUX FIELD {_show(name)} = '{_show(value)}'", offset)
        elif kind == "selectdb":
            self.line(f"Selecting DB ID {payload}", offset)
        elif kind == "function":
            first = payload.split(b"\n", 1)[0]  # type: ignore[attr-defined]
            self.line(f"Function library '{_show(first)}'", offset)
        elif kind == "module-aux":
            self.line(f"Module AUX data of module '{payload}' (emberkv cannot load it)", offset)
            self.unsupported.append(f"module AUX data of '{payload}'")

    def entry(self, dbid: int, key: bytes, value: object, expire_ms: int | None, offset: int) -> None:
        self.keys += 1
        self.per_db[dbid] += 1
        if isinstance(value, UnsupportedValue):
            self.types[value.type_name] += 1
            self.line(f"Key '{_show(key)}' is a {value.type_name} ({value.detail}): "
                      "emberkv cannot load it yet", offset)
            self.unsupported.append(f"{value.type_name} key '{_show(key)}'")
        else:
            self.types[TYPE_NAMES[type(value)].decode()] += 1
        if expire_ms is not None:
            self.expires += 1
            if expire_ms < self.now_ms:
                self.already_expired += 1

    def summary(self) -> None:
        self.line(f"[info] {self.keys} keys read")
        self.line(f"[info] {self.expires} expires")
        self.line(f"[info] {self.already_expired} already expired")
        for name, count in sorted(self.types.items()):
            self.line(f"[info] {count} {name} keys")
        for dbid, count in sorted(self.per_db.items()):
            self.line(f"[info] db{dbid}: {count} keys")


def check_rdb(path: str, out: TextIO) -> int:
    report = _Report(out)
    report.line(f"Checking RDB file {path}", 0)
    reader: RdbReader | None = None
    try:
        f = open(path, "rb")  # closed below; failing to open is reported apart from RDB errors
    except OSError as e:
        report.line(f"Cannot open {path}: {e.strerror or e}", 0)
        return EXIT_CORRUPT
    try:
        size = os.fstat(f.fileno()).st_size
        reader = RdbReader(f, total_size=size, skip_unsupported=True, observer=report.observe)
        while (entry := reader.next_entry()) is not None:
            report.entry(entry.dbid, entry.key, entry.value, entry.expire_ms, reader.current_offset)
        _report_checksum(report, reader)
        if reader.bytes_read != size:
            report.line(f"{size - reader.bytes_read} bytes after the end of the RDB data (ignored)",
                        reader.bytes_read)
    except RdbError as e:
        report.line("--- RDB ERROR DETECTED ---")
        report.line(e.reason, e.offset)
        if reader is not None and reader.current_key is not None:
            report.line(f"[additional info] Reading key '{_show(reader.current_key)}'")
        if reader is not None and reader.current_type is not None:
            name = RDB_TYPE_NAMES.get(reader.current_type, "unknown")
            report.line(f"[additional info] Reading type {reader.current_type} ({name})")
        report.summary()
        return EXIT_CORRUPT
    except OSError as e:
        report.line(f"Read error: {e.strerror or e}", reader.bytes_read if reader else 0)
        return EXIT_CORRUPT
    finally:
        f.close()
    report.line("\\o/ RDB looks OK! \\o/", reader.bytes_read)
    report.summary()
    if report.unsupported:
        report.line(f"[warning] emberkv cannot load this file: it holds {', '.join(report.unsupported[:5])}"
                    + (" ..." if len(report.unsupported) > 5 else ""))
        return EXIT_UNSUPPORTED
    return EXIT_OK


def _report_checksum(report: _Report, reader: RdbReader) -> None:
    end = reader.bytes_read
    if reader.checksum is None:
        report.line(f"No checksum: RDB version {reader.version} files have none", end)
    elif reader.checksum == 0:
        report.line("RDB file was saved with checksum disabled: no check performed.", end)
    else:
        report.line("Checksum OK", end)


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] in ("-h", "--help"):
        sys.stdout.write(USAGE + "\n")
        return EXIT_OK if argv and argv[0] in ("-h", "--help") else EXIT_USAGE
    try:
        return check_rdb(argv[0], sys.stdout)
    except BrokenPipeError:
        # The reader of our output went away (| head): stop quietly, without a second error at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_CORRUPT
    except Exception as e:  # a bug must still not end in a traceback for the operator
        sys.stdout.write(f"[internal error] {type(e).__name__}: {e}\n")
        return EXIT_CORRUPT


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
