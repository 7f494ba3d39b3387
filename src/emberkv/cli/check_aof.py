"""``emberkv check-aof [--fix | --truncate-to-timestamp TS] <manifest | file.aof>``: like redis-check-aof.

Given a manifest it checks the manifest, then the base file (its RDB part through the RDB checker, then
any RESP tail) and every incr file in order; given a single file it checks that file (an old-style AOF,
with or without an RDB preamble). Each file is read with redis-check-aof's strict rules: ``*<n>`` and
``$<len>`` lines ending in CRLF, every argument followed by CRLF, ``#`` annotation lines skipped, MULTI and
EXEC balanced. The report is the same, line for line (``0x<offset>: <error>``, then ``AOF analyzed:
filename=..., size=..., ok_up_to=..., ok_up_to_line=..., diff=...``), so scripts written for one work
with the other.

``--fix`` cuts a bad tail off the last file after asking (only the last file of a manifest may be cut:
the files after a damaged one would replay on top of a hole). ``--truncate-to-timestamp TS`` cuts the
last file at the first ``#TS:`` annotation later than TS. Exit codes: 0 valid (or repaired), 1 not valid
or refused (and bad usage), as redis-check-aof.
"""

from __future__ import annotations

import mmap
import os
import sys
from typing import BinaryIO

from emberkv.persistence.aof.manifest import Manifest, ManifestError

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_USAGE = 1  # as redis-check-aof: scripts written for it test for 0 / non-zero

USAGE = "Usage: emberkv check-aof [--fix|--truncate-to-timestamp $timestamp] <file.manifest|file.aof>\n"
LONG_MAX = 2**63 - 1

# What checking one file ended with (besides exiting).
CHECK_OK, CHECK_EMPTY, CHECK_TRUNCATED, CHECK_TS_TRUNCATED = range(4)


class _Exit(Exception):
    def __init__(self, code: int) -> None:
        self.code = code


class _Stream:
    """A file read the way C stdio reads it (fgets / fread / feof), over a memory map."""

    def __init__(self, f: BinaryIO, size: int) -> None:
        self.data: bytes | mmap.mmap = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
        self.size = size
        self.pos = 0
        self.eof = False

    def fgets(self, size: int) -> bytes | None:
        """Up to size - 1 bytes, stopping after a newline; None at end of file."""
        if self.pos >= self.size:
            self.eof = True
            return None
        end = self.data.find(b"\n", self.pos, self.pos + size - 1)
        stop = end + 1 if end >= 0 else min(self.size, self.pos + size - 1)
        if end < 0 and stop == self.size:
            self.eof = True
        line = self.data[self.pos:stop]
        self.pos = stop
        return line

    def fread(self, n: int) -> bytes:
        chunk = self.data[self.pos:self.pos + n]
        self.pos += len(chunk)
        if len(chunk) < n:
            self.eof = True
        return chunk

    def close(self) -> None:
        if isinstance(self.data, mmap.mmap):
            self.data.close()


def _strtol(buf: bytes, start: int) -> tuple[int, int]:
    """C strtol(buf + start, &end, 10): (value, end index); end == start when there are no digits."""
    p = start
    while p < len(buf) and buf[p] in b" \t\n\v\f\r":
        p += 1
    sign = 1
    if p < len(buf) and buf[p] in b"+-":
        sign = -1 if buf[p] == 45 else 1
        p += 1
    digits = p
    while p < len(buf) and 48 <= buf[p] <= 57:
        p += 1
    if p == digits:
        return 0, start
    value = sign * int(buf[digits:p])
    return max(-LONG_MAX - 1, min(LONG_MAX, value)), p


def _hex(byte: int) -> bytes:
    # printf("%02x") of a (signed) char: bytes from 0x80 up print sign-extended.
    return b"ffffff%02x" % byte if byte >= 0x80 else b"%02x" % byte


class _Checker:
    """The state redis-check-aof keeps across the files of one run."""

    def __init__(self, out: BinaryIO, stdin: BinaryIO, fix: bool, to_timestamp: int | None) -> None:
        self.out = out
        self.stdin = stdin
        self.fix = fix
        self.to_timestamp = to_timestamp
        self.line = 1  # counted over all files of a manifest, as Redis does
        self.epos = 0
        self.error = b""
        # When a count line is short, the "\r\n" check looks past its end at what the previous count
        # line left in the (reused) line buffer, as in C; a length line's buffer is clobbered in
        # between, and observed to read as zeros.
        self.countbuf = bytearray(129)

    def say(self, text: str | bytes) -> None:
        self.out.write(text if isinstance(text, bytes) else text.encode("utf-8", "surrogateescape"))

    def set_error(self, message: bytes) -> None:
        self.error = b"0x%16x: %s" % (self.epos, message)

    # -- one record ------------------------------------------------------------------------------

    def read_long(self, s: _Stream, prefix: int) -> int | None:
        self.epos = s.pos
        line = s.fgets(128)
        if line is None:
            return None
        buf = self.countbuf if prefix == 42 else bytearray(129)
        buf[:len(line) + 1] = line + b"\0"
        if line[0] != prefix:
            self.set_error(b"Expected prefix '%c', got: '%c'" % (prefix, line[0]))
            return None
        value, end = _strtol(bytes(buf[:len(line)]), 1)
        if buf[end:end + 2] != b"\r\n":
            self.set_error(b"Expected \\r\\n, got: %s%s" % (_hex(buf[end]), _hex(buf[end + 1])))
            return None
        self.line += 1
        return value

    def read_string(self, s: _Stream) -> bytes | None:
        length = self.read_long(s, 36)
        if length is None:
            return None
        if length < 0 or length > LONG_MAX - 2:
            self.set_error(b"Expected to read string of %d bytes, which is not in the suitable range" % length)
            return None
        self.epos = s.pos
        data = s.fread(length + 2)
        if len(data) != length + 2:
            self.set_error(b"Expected to read %d bytes, got %d bytes" % (length + 2, len(data)))
            return None
        if data[-2:] != b"\r\n":
            self.set_error(b"Expected \\r\\n, got: %s%s" % (_hex(data[-2]), _hex(data[-1])))
            return None
        self.line += 1
        return data[:-2]

    def read_command(self, s: _Stream, path: str, multi: int) -> int | None:
        """One ``*`` record; the new MULTI depth, or None when it is not sound."""
        argc = self.read_long(s, 42)
        if argc is None:
            return None
        for i in range(argc):
            arg = self.read_string(s)
            if arg is None:
                return None
            if i == 0:
                name = arg.lower()
                if name == b"multi":
                    if multi:
                        self.set_error(b"Unexpected MULTI in AOF %s" % os.fsencode(path))
                        return None
                    multi += 1
                elif name == b"exec":
                    multi -= 1
                    if multi:
                        self.set_error(b"Unexpected EXEC in AOF %s" % os.fsencode(path))
                        return None
        return multi

    def annotation(self, s: _Stream, path: str, name: str, last_file: bool) -> bool:
        """Skip a ``#`` line; with --truncate-to-timestamp, cut the file at a later ``#TS:``.
        False when the file was cut there."""
        self.epos = s.pos
        line = s.fgets(1024) or b""
        if self.to_timestamp is None or not line.startswith(b"#TS:"):
            return True
        ts, end = _strtol(line, 4)
        if line[end:end + 1] != b"\r" or ts in (LONG_MAX, -LONG_MAX - 1):
            self.say("Invalid timestamp annotation\n")
            raise _Exit(EXIT_INVALID)
        if ts <= self.to_timestamp:
            return True
        if self.epos == 0:
            self.say(f"AOF {path} has nothing before timestamp {self.to_timestamp}, aborting...\n")
            raise _Exit(EXIT_INVALID)
        if not last_file:
            self.say(f"Failed to truncate AOF {path} to timestamp {self.to_timestamp} to offset "
                     f"{self.epos} because it is not the last file.\n"
                     "If you insist, please delete all files after this file according to the manifest "
                     "file and delete the corresponding records in manifest file manually. Then re-run "
                     "emberkv check-aof.\n")
            raise _Exit(EXIT_INVALID)
        self._truncate(path, self.epos)
        return False

    # -- one file --------------------------------------------------------------------------------

    def check_file(self, name: str, path: str, last_file: bool, preamble: bool) -> int:
        try:
            f = open(path, "rb")  # noqa: SIM115 - closed below
        except OSError as exc:
            self.say(f"Cannot open file {path}: {exc.strerror}, aborting...\n")
            raise _Exit(EXIT_INVALID) from None
        with f:
            size = os.fstat(f.fileno()).st_size
            if size == 0:
                return CHECK_EMPTY
            s = _Stream(f, size)
            try:
                return self._check_stream(s, name, path, size, last_file, preamble)
            finally:
                s.close()

    def _check_stream(self, s: _Stream, name: str, path: str, size: int, last_file: bool,
                      preamble: bool) -> int:
        if preamble:
            end = _check_preamble(path, self.out)
            if end is None:
                self.say("RDB preamble of AOF file is not sane, aborting.\n")
                raise _Exit(EXIT_INVALID)
            self.say("RDB preamble is OK, proceeding with AOF tail...\n")
            s.pos = end
        multi = 0
        pos = s.pos
        while True:
            if not multi:
                pos = s.pos
            if s.pos >= s.size:
                s.eof = True
                break
            first = s.data[s.pos]
            if first == 35:
                if not self.annotation(s, path, name, last_file):
                    return CHECK_TS_TRUNCATED
            elif first == 42:
                depth = self.read_command(s, path, multi)
                if depth is None:
                    break
                multi = depth
            else:
                self.say(f"AOF {name} format error\n")
                break
        if s.eof and multi and not self.error:
            self.set_error(b"Reached EOF before reading EXEC for MULTI")
        if self.error:
            self.say(self.error + b"\n")
        diff = size - pos
        if diff == 0 and self.to_timestamp is not None:
            self.say(f"Truncate nothing in AOF {name} to timestamp {self.to_timestamp}\n")
            return CHECK_OK
        self.say(f"AOF analyzed: filename={name}, size={size}, ok_up_to={pos}, "
                 f"ok_up_to_line={self.line}, diff={diff}\n")
        if diff <= 0:
            return CHECK_OK
        if not self.fix:
            self.say(f"AOF {name} is not valid. Use the --fix option to try fixing it.\n")
            raise _Exit(EXIT_INVALID)
        if not last_file:
            self.say(f"Failed to truncate AOF {name} because it is not the last file\n")
            raise _Exit(EXIT_INVALID)
        self.say(f"This will shrink the AOF {name} from {size} bytes, with {diff} bytes, to {pos} bytes\n")
        self.say("Continue? [y/N]: ")
        self.out.flush()
        answer = self.stdin.readline()
        if not answer[:1] or answer[:1] not in b"yY":
            self.say("Aborting...\n")
            raise _Exit(EXIT_INVALID)
        self._truncate(path, pos)
        self.say(f"Successfully truncated AOF {name}\n")
        return CHECK_TRUNCATED

    def _truncate(self, path: str, size: int) -> None:
        try:
            os.truncate(path, size)
        except OSError:
            self.say(f"Failed to truncate AOF {path}\n")
            raise _Exit(EXIT_INVALID) from None

    def report(self, status: int, name: str, kind: str) -> None:
        if status == CHECK_OK:
            self.say(f"{kind} {name} is valid\n")
        elif status == CHECK_EMPTY:
            self.say(f"{kind} {name} is empty\n")
        elif status == CHECK_TS_TRUNCATED:
            self.say(f"Successfully truncated AOF {name} to timestamp {self.to_timestamp}\n")


def _check_preamble(path: str, out: BinaryIO) -> int | None:
    """Check the RDB part of path with the RDB checker's report; the offset where it ends, or None."""
    import io

    from emberkv.cli.check_rdb import _Report, _report_checksum
    from emberkv.persistence.rdb.errors import RdbError
    from emberkv.persistence.rdb.reader import RdbReader

    text = io.StringIO()
    report = _Report(text)
    report.line(f"Checking RDB file {os.path.basename(path)}", 0)
    end = None
    try:
        with open(path, "rb") as f:
            reader = RdbReader(f, total_size=os.fstat(f.fileno()).st_size, skip_unsupported=True,
                               observer=report.observe)
            while (entry := reader.next_entry()) is not None:
                report.entry(entry.dbid, entry.key, entry.value, entry.expire_ms, reader.current_offset)
            _report_checksum(report, reader)
            end = reader.bytes_read
        report.line("\\o/ RDB looks OK! \\o/", end)
    except (RdbError, OSError) as exc:
        report.line("--- RDB ERROR DETECTED ---")
        report.line(getattr(exc, "reason", None) or str(exc), getattr(exc, "offset", None))
        end = None
    report.summary()
    out.write(text.getvalue().encode("utf-8", "surrogateescape"))
    return end


def _is_manifest(path: str) -> bool:
    """redis-check-aof's test: some line (read 1024 bytes at most at a time) starts with "file"."""
    with open(path, "rb") as f:
        while line := f.readline(1025):
            if line.startswith(b"file"):
                return True
    return False


def _is_rdb(path: str) -> bool:
    with open(path, "rb") as f:
        head = f.read(8)
    return len(head) == 8 and head.startswith(b"REDIS")


def check_manifest(checker: _Checker, manifest_path: str) -> None:
    checker.say("Start checking Multi Part AOF\n")
    try:
        with open(manifest_path, "rb") as f:
            manifest = Manifest.parse(f.read())
    except ManifestError as exc:
        checker.say("\n*** FATAL AOF MANIFEST FILE ERROR ***\n\n")
        if exc.line_no is not None:
            checker.say(f"Reading the manifest file, at line {exc.line_no}\n")
            checker.say(b">>> '%s'\n" % (exc.line or b""))
        checker.say(exc.reason + "\n")
        raise _Exit(EXIT_INVALID) from None
    directory = os.path.dirname(manifest_path) or "."
    files = manifest.load_order()
    for i, entry in enumerate(files):
        path = os.path.join(directory, entry.name)
        last = i == len(files) - 1
        if entry is manifest.base:
            try:
                rdb = _is_rdb(path)
            except OSError as exc:
                checker.say(f"Cannot open file {path}: {exc.strerror}\n")
                raise _Exit(EXIT_INVALID) from None
            checker.say(f"Start to check BASE AOF ({'RDB' if rdb else 'RESP'} format).\n")
            checker.report(checker.check_file(entry.name, path, last, rdb), entry.name, "BASE AOF")
        else:
            if i == (1 if manifest.base is not None else 0):
                checker.say("Start to check INCR files.\n")
            checker.report(checker.check_file(entry.name, path, last, False), entry.name, "INCR AOF")
    checker.say("All AOF files and manifest are valid\n")


def run(argv: list[str], out: BinaryIO, stdin: BinaryIO) -> int:
    fix = False
    to_timestamp = None
    if len(argv) == 1:
        path = argv[0]
    elif len(argv) == 2 and argv[0] == "--fix":
        fix, path = True, argv[1]
    elif len(argv) == 3 and argv[0] == "--truncate-to-timestamp":
        value, end = _strtol(argv[1].encode(), 0)
        if end != len(argv[1]) or value in (LONG_MAX, -LONG_MAX - 1):
            out.write(b"Invalid timestamp, aborting...\n")
            return EXIT_INVALID
        # 0 means "no timestamp" to redis-check-aof too.
        to_timestamp, path = value or None, argv[2]
    else:
        out.write(USAGE.encode())
        return EXIT_USAGE
    checker = _Checker(out, stdin, fix, to_timestamp)
    try:
        try:
            manifest = _is_manifest(path)
            rdb = not manifest and _is_rdb(path)
        except OSError as exc:
            checker.say(f"Cannot open file {path}: {exc.strerror}\n")
            return EXIT_INVALID
        if manifest:
            check_manifest(checker, path)
        else:
            checker.say("Start checking Old-Style AOF\n")
            checker.report(checker.check_file(path, path, True, rdb), path, "AOF")
    except _Exit as done:
        return done.code
    return EXIT_OK


def main(argv: list[str]) -> int:
    if argv[:1] in (["-h"], ["--help"]):
        sys.stdout.write(USAGE)
        return EXIT_OK
    try:
        return run(argv, sys.stdout.buffer, sys.stdin.buffer)
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_INVALID
    finally:
        try:
            sys.stdout.flush()
        except OSError:
            pass
