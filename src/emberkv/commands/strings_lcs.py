"""LCS: the longest common subsequence of two strings, as text, as a length, or as matching ranges.

The classic dynamic programme fills an (n+1) x (m+1) table, far too slow cell by cell in Python. Each
row is kept instead as one m-bit integer (the bit-vector formulation of Allison and Dix): bit j of
row i is clear where the LCS of ``a[:i]`` and ``b[:j+1]`` is one longer than that of ``a[:i]`` and
``b[:j]``, so a table cell is a population count, and a row costs a few big-integer operations.

Which common subsequence is reported (there are often several) and how its ranges are grouped must
match Redis exactly, so the walk back from the bottom-right corner follows the same rule: take a
matching character diagonally, else move up when the cell above is strictly larger, else left.
Ranges are the diagonal runs of that walk, reported from the end of the strings backwards.
"""

from __future__ import annotations

from emberkv.commands.args import parse_int
from emberkv.commands.errors import SYNTAX, CommandError
from emberkv.commands.table import command
from emberkv.keyspace.values import RawString
from emberkv.protocol.replies import Map

NOT_STRINGS = "ERR The specified keys must contain string values"
IDX_AND_LEN = "ERR If you want both the length and indexes, please just use IDX."
TOO_MUCH_MEMORY = "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len"
# Redis sizes its table as (n+1)*(m+1) 32-bit cells and refuses it beyond proto-max-bulk-len.
CELL_BYTES = 4


def lcs_rows(a: bytes, b: bytes) -> list[int]:
    """Row i (0..len(a)) of the LCS table of a and b, as a bit vector over b's positions."""
    full = (1 << len(b)) - 1
    matches: dict[int, int] = {}
    for j, ch in enumerate(b):
        matches[ch] = matches.get(ch, 0) | (1 << j)
    rows = [full]
    row = full
    for ch in a:
        hits = row & matches.get(ch, 0)
        row = ((row + hits) | (row - hits)) & full
        rows.append(row)
    return rows


def _cell(rows: list[int], i: int, j: int) -> int:
    """LCS length of a[:i] and b[:j]: the clear bits among the first j of row i."""
    return j - (rows[i] & ((1 << j) - 1)).bit_count()


def lcs_walk(a: bytes, b: bytes) -> tuple[bytes, list[tuple[int, int, int, int]]]:
    """The common subsequence Redis reports, and its runs as (a_start, a_end, b_start, b_end),
    last run first."""
    rows = lcs_rows(a, b)
    i, j = len(a), len(b)
    picked = bytearray()
    runs: list[tuple[int, int, int, int]] = []
    run: list[int] | None = None  # a_start, a_end, b_start, b_end of the run being extended
    while i > 0 and j > 0:
        if a[i - 1] == b[j - 1]:
            picked.append(a[i - 1])
            if run is not None and run[0] == i and run[2] == j:
                run[0] -= 1
                run[2] -= 1
            else:
                if run is not None:
                    runs.append(tuple(run))  # type: ignore[arg-type]
                run = [i - 1, i - 1, j - 1, j - 1]
            i -= 1
            j -= 1
        elif _cell(rows, i - 1, j) > _cell(rows, i, j - 1):
            i -= 1
        else:
            j -= 1
    if run is not None:
        runs.append(tuple(run))  # type: ignore[arg-type]
    picked.reverse()
    return bytes(picked), runs


def lcs_length(a: bytes, b: bytes) -> int:
    return _cell(lcs_rows(a, b), len(a), len(b))


def _string_or_empty(c, key: bytes) -> bytes:
    value = c.ks.lookup_read(c.db, key)
    if value is None:
        return b""
    if type(value) is not bytes and type(value) is not RawString:
        raise CommandError(NOT_STRINGS)
    return value


@command("lcs", -3, "readonly", keys=(1, 2, 1), group="string")
def lcs(c, argv):
    """Find the longest common subsequence of two strings."""
    a = _string_or_empty(c, argv[1])
    b = _string_or_empty(c, argv[2])
    want_idx = want_len = with_match_len = False
    min_match_len = 0
    i = 3
    while i < len(argv):
        option = argv[i].lower()
        if option == b"idx":
            want_idx = True
        elif option == b"len":
            want_len = True
        elif option == b"withmatchlen":
            with_match_len = True
        elif option == b"minmatchlen" and i + 1 < len(argv):
            i += 1
            min_match_len = max(parse_int(argv[i]), 0)
        else:
            raise CommandError(SYNTAX)
        i += 1
    if want_idx and want_len:
        raise CommandError(IDX_AND_LEN)
    if (len(a) + 1) * (len(b) + 1) * CELL_BYTES > c.server.config["proto-max-bulk-len"]:
        raise CommandError(TOO_MUCH_MEMORY)
    if want_len:
        return lcs_length(a, b)
    picked, runs = lcs_walk(a, b)
    if not want_idx:
        return picked
    matches = []
    for a_start, a_end, b_start, b_end in runs:
        length = a_end - a_start + 1
        if length < min_match_len:
            continue
        entry: list = [[a_start, a_end], [b_start, b_end]]
        if with_match_len:
            entry.append(length)
        matches.append(entry)
    return Map([b"matches", matches, b"len", len(picked)])
