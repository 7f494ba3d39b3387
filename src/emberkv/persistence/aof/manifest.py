"""The AOF manifest: which files make up the log, in Redis 7.0's multi-part layout (spec §3.2, §3.3).

All files live in ``<dir>/<appenddirname>/``: at most one BASE (``<name>.<seq>.base.rdb|aof``, the
snapshot a rewrite produced), the INCR files (``<name>.<seq>.incr.aof``, commands appended since) and
HISTORY files (what a successful rewrite made obsolete, deleted in the background). The manifest
``<name>.manifest`` lists them one per line::

    file appendonly.aof.1.base.rdb seq 1 type b
    file appendonly.aof.1.incr.aof seq 1 type i

It is parsed with Redis's rules, so a manifest one server accepts the other accepts too, and the same
mistakes are refused with the same words. It is only ever replaced whole (temp file, fsync, rename,
fsync of the directory), so a crash leaves either the old list or the new one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from emberkv.persistence.files import AtomicFile

BASE = "b"
HISTORY = "h"
INCR = "i"
LINE_MAX = 1024  # longest manifest line Redis reads, newline excluded

EMPTY = "Found an empty AOF manifest"
TOO_LONG = "The AOF manifest file contains too long line"
BAD_FORMAT = "Invalid AOF manifest file format"
NOT_BASENAME = "File can't be a path, just a filename"
DUPLICATE_BASE = "Found duplicate base file information"
NON_MONOTONIC = "Found a non-monotonic sequence number"
UNKNOWN_TYPE = "Unknown AOF file type"

_SPACE = b" \t\n\v\f\r"  # C isspace()
_TOKEN_END = b" \n\r\t\0"
_ESCAPES = {ord("n"): 10, ord("r"): 13, ord("t"): 9, ord("b"): 8, ord("a"): 7}
_HEX = b"0123456789abcdefABCDEF"
# Characters that make a file name need quoting, and how each is escaped inside the quotes.
_QUOTED = {ord("\\"): b"\\\\", ord('"'): b'\\"', 10: b"\\n", 13: b"\\r", 9: b"\\t", 7: b"\\a", 8: b"\\b"}


class ManifestError(Exception):
    """A manifest Redis would refuse; ``reason`` is Redis's wording, ``line_no``/``line`` where."""

    def __init__(self, reason: str, line_no: int | None = None, line: bytes | None = None) -> None:
        self.reason = reason
        self.line_no = line_no
        self.line = line
        where = ""
        if line_no is not None:
            shown = (line or b"").decode("utf-8", "backslashreplace")
            where = f" (line {line_no}: '{shown}')"
        super().__init__(reason + where)


@dataclass
class AofFile:
    name: str  # a base name; bytes that are not UTF-8 are kept as surrogate escapes (os.fsdecode)
    seq: int
    kind: str  # BASE, HISTORY or INCR

    @property
    def is_rdb(self) -> bool:
        return self.name.endswith(".rdb")


@dataclass
class Manifest:
    base: AofFile | None = None
    incrs: list[AofFile] = field(default_factory=list)
    history: list[AofFile] = field(default_factory=list)
    # The numbers the next base / incr file get (plus one). An incr counter restarts from the manifest:
    # history entries do not count, as in Redis.
    base_seq: int = 0
    incr_seq: int = 0

    def copy(self) -> Manifest:
        return Manifest(
            None if self.base is None else AofFile(self.base.name, self.base.seq, self.base.kind),
            [AofFile(f.name, f.seq, f.kind) for f in self.incrs],
            [AofFile(f.name, f.seq, f.kind) for f in self.history],
            self.base_seq, self.incr_seq,
        )

    @property
    def empty(self) -> bool:
        """No base and no incr file: as if there were no AOF at all."""
        return self.base is None and not self.incrs

    def load_order(self) -> list[AofFile]:
        """The files whose contents make up the dataset, in the order they are replayed."""
        return ([self.base] if self.base is not None else []) + list(self.incrs)

    # -- changes a rewrite makes -----------------------------------------------------------------

    def next_base(self, appendfilename: str, rdb: bool) -> AofFile:
        """Make a new base (seq + 1) the base; the old base becomes history."""
        if self.base is not None:
            self.base.kind = HISTORY
            self.history.append(self.base)
        self.base_seq += 1
        suffix = "rdb" if rdb else "aof"
        self.base = AofFile(f"{appendfilename}.{self.base_seq}.base.{suffix}", self.base_seq, BASE)
        return self.base

    def next_incr(self, appendfilename: str) -> AofFile:
        self.incr_seq += 1
        incr = AofFile(f"{appendfilename}.{self.incr_seq}.incr.aof", self.incr_seq, INCR)
        self.incrs.append(incr)
        return incr

    def incrs_to_history(self, keep_last: bool) -> None:
        """After a rewrite: the incr files it covered become history (all but the one being written)."""
        keep = self.incrs[-1:] if keep_last else []
        for f in self.incrs[: len(self.incrs) - len(keep)]:
            f.kind = HISTORY
            self.history.append(f)
        self.incrs = keep

    # -- text ------------------------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        """The manifest text, in Redis's order: base, history, incr files."""
        lines = []
        for f in ([self.base] if self.base else []) + self.history + self.incrs:
            lines.append(b"file %s seq %d type %s\n" % (quote_name(os.fsencode(f.name)), f.seq, f.kind.encode()))
        return b"".join(lines)

    @classmethod
    def parse(cls, data: bytes) -> Manifest:
        """Parse manifest text with Redis's rules; raises ManifestError with Redis's message."""
        manifest = cls()
        if not data:
            raise ManifestError(EMPTY)
        last_incr = 0
        for line_no, piece in enumerate(_pieces(data), 1):
            if piece[:1] == b"#":
                continue
            text = piece.split(b"\0", 1)[0]
            if b"\n" not in text:
                raise ManifestError(TOO_LONG)
            line = text.strip(b" \t\r\n")
            entry = _parse_line(line, line_no)
            if entry.kind == BASE:
                if manifest.base is not None:
                    raise ManifestError(DUPLICATE_BASE, line_no, line)
                manifest.base = entry
                manifest.base_seq = entry.seq
            elif entry.kind == HISTORY:
                manifest.history.append(entry)
            elif entry.kind == INCR:
                if entry.seq <= last_incr:
                    raise ManifestError(NON_MONOTONIC, line_no, line)
                last_incr = entry.seq
                manifest.incrs.append(entry)
                manifest.incr_seq = entry.seq
            else:
                raise ManifestError(UNKNOWN_TYPE, line_no, line)
        return manifest


def _pieces(data: bytes) -> list[bytes]:
    """The file cut the way fgets() with a 1025-byte buffer cuts it: at newlines, or every 1024 bytes."""
    pieces = []
    pos = 0
    while pos < len(data):
        end = data.find(b"\n", pos, pos + LINE_MAX)
        stop = end + 1 if end >= 0 else min(len(data), pos + LINE_MAX)
        pieces.append(data[pos:stop])
        pos = stop
    return pieces


def _parse_line(line: bytes, line_no: int) -> AofFile:
    args = split_args(line) if line else None
    if not args or len(args) < 6 or len(args) % 2:
        raise ManifestError(BAD_FORMAT, line_no, line)
    name: bytes | None = None
    seq = 0
    kind = ""
    for key, value in zip(args[::2], args[1::2], strict=True):
        key = key.lower()
        if key == b"file":
            if b"/" in value or b"\\" in value:
                raise ManifestError(NOT_BASENAME, line_no, line)
            name = value
        elif key == b"seq":
            seq = _atoll(value)
        elif key == b"type":
            kind = value[:1].decode("latin-1")
        # Unknown keys are ignored: a newer Redis may add some.
    if name is None or not seq or not kind:
        raise ManifestError(BAD_FORMAT, line_no, line)
    return AofFile(os.fsdecode(name), seq, kind)


def _atoll(text: bytes) -> int:
    """C atoll(): leading blanks, a sign, then digits up to the first non-digit; 0 without digits."""
    s = text.lstrip(_SPACE)
    sign = 1
    if s[:1] in (b"-", b"+"):
        sign = -1 if s[:1] == b"-" else 1
        s = s[1:]
    digits = 0
    while digits < len(s) and 48 <= s[digits] <= 57:
        digits += 1
    return sign * int(s[:digits]) if digits else 0


def split_args(line: bytes) -> list[bytes] | None:
    """Split a line into arguments the way redis.conf lines are split: blanks separate, double quotes
    allow \\n \\r \\t \\b \\a \\xHH and \\<c> escapes, single quotes allow \\'. None when unbalanced."""
    line = line.split(b"\0", 1)[0]
    args: list[bytes] = []
    p, n = 0, len(line)
    while True:
        while p < n and line[p] in _SPACE:
            p += 1
        if p >= n:
            return args
        token = bytearray()
        quote = 0
        while True:
            ch = line[p] if p < n else 0
            if quote == 34:  # inside "..."
                if ch == 92 and p + 3 < n and line[p + 1] == 120 and line[p + 2] in _HEX and line[p + 3] in _HEX:
                    token.append(int(line[p + 2:p + 4], 16))
                    p += 3
                elif ch == 92 and p + 1 < n:
                    p += 1
                    token.append(_ESCAPES.get(line[p], line[p]))
                elif ch == 34:
                    if p + 1 < n and line[p + 1] not in _SPACE:
                        return None
                    p += 1
                    break
                elif p >= n:
                    return None
                else:
                    token.append(ch)
            elif quote == 39:  # inside '...'
                if ch == 92 and p + 1 < n and line[p + 1] == 39:
                    p += 1
                    token.append(39)
                elif ch == 39:
                    if p + 1 < n and line[p + 1] not in _SPACE:
                        return None
                    p += 1
                    break
                elif p >= n:
                    return None
                else:
                    token.append(ch)
            else:
                if p >= n or ch in _TOKEN_END:
                    break
                if ch in (34, 39):
                    quote = ch
                else:
                    token.append(ch)
            p += 1
        args.append(bytes(token))


def quote_name(name: bytes) -> bytes:
    """A file name as the manifest writes it: as is, or double-quoted with escapes when it holds
    blanks, quotes, backslashes or non-printable bytes."""
    if all(33 <= b <= 126 and b not in (34, 92) for b in name):
        return name
    out = bytearray(b'"')
    for b in name:
        if b in _QUOTED:
            out += _QUOTED[b]
        elif 32 <= b <= 126:
            out.append(b)
        else:
            out += b"\\x%02x" % b
    out += b'"'
    return bytes(out)


def is_basename(name: str) -> bool:
    return "/" not in name and "\\" not in name


def read_manifest(path: str) -> Manifest | None:
    """The manifest at path; None when there is none. Raises ManifestError or OSError."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return None
    return Manifest.parse(data)


def write_manifest(path: str, manifest: Manifest, appendfilename: str) -> None:
    """Replace the manifest crash-safely (temp-<name>.manifest, fsync, rename, fsync of the dir)."""
    with AtomicFile(path, f"temp-{appendfilename}.manifest") as f:
        f.write(manifest.to_bytes())
