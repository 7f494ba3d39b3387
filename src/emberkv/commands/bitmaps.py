"""Bitmap commands on strings: SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP, BITFIELD and BITFIELD_RO.

Bits are numbered from the most significant bit of the first byte, as Redis numbers them. Whole-string
work (counting, searching, AND/OR/XOR/NOT) is done by C-speed primitives on bytes and big integers
(``int.from_bytes``, ``bit_count``, ``bytes.translate``, ``lstrip``) rather than a loop per byte.
Strings these commands change are stored as ``RawString``: Redis reports them as raw.
"""

from __future__ import annotations

from emberkv.commands.args import parse_int, to_int_or_none
from emberkv.commands.errors import BIT_OFFSET, BIT_VALUE, SYNTAX, WRONGTYPE, CommandError
from emberkv.commands.table import command
from emberkv.keyspace.db import NOTIFY_GENERIC, NOTIFY_STRING
from emberkv.keyspace.values import RawString

BIT_ARGUMENT = "ERR The bit argument must be 1 or 0."
BITOP_NOT_ONE_KEY = "ERR BITOP NOT must be called with a single source key."
BAD_FIELD_TYPE = ("ERR Invalid bitfield type. Use something like i16 u8. "
                  "Note that u64 is not supported but i64 is.")
BAD_OVERFLOW = "ERR Invalid OVERFLOW type specified"
RO_ONLY_GET = "ERR BITFIELD_RO only supports the GET subcommand"

_INVERT = bytes(255 - i for i in range(256))


def _string(value: object) -> bytes | None:
    if value is None or type(value) is bytes or type(value) is RawString:
        return value  # type: ignore[return-value]
    raise CommandError(WRONGTYPE)


def bit_offset(c, raw: bytes, per_unit: int = 1) -> int:
    """A bit offset (``#n`` counts in units of per_unit bits for BITFIELD), below proto-max-bulk-len."""
    offset = to_int_or_none(raw)
    if offset is None or offset < 0:
        raise CommandError(BIT_OFFSET)
    offset *= per_unit
    if offset >> 3 >= c.server.config["proto-max-bulk-len"]:
        raise CommandError(BIT_OFFSET)
    return offset


# -- single bits ---------------------------------------------------------------------------------


@command("setbit", 4, "write denyoom", keys=(1, 1, 1), group="bitmap")
def setbit(c, argv):
    """Set or clear one bit of a string (growing it with zero bytes); returns the old bit."""
    offset = bit_offset(c, argv[2])
    if argv[3] not in (b"0", b"1"):
        raise CommandError(BIT_VALUE)
    on = argv[3] == b"1"
    ks, db, key = c.ks, c.db, argv[1]
    old = _string(ks.lookup_write(db, key))
    index, mask = offset >> 3, 0x80 >> (offset & 7)
    previous = 1 if old is not None and index < len(old) and old[index] & mask else 0
    if old is not None and index < len(old) and previous == on:
        # Nothing changes: like Redis, no dirty count, no event, WATCH untouched.
        return previous
    buf = bytearray(old or b"")
    if index >= len(buf):
        buf.extend(bytes(index + 1 - len(buf)))
    if on:
        buf[index] |= mask
    else:
        buf[index] &= ~mask
    if old is None:
        ks.add_key(db, key, RawString(buf))
    else:
        ks.set_key(db, key, RawString(buf), keepttl=True)
    ks.notify(NOTIFY_STRING, b"setbit", db, key)
    return previous


@command("getbit", 3, "readonly fast", keys=(1, 1, 1), group="bitmap")
def getbit(c, argv):
    """Return one bit of a string (0 beyond its end)."""
    offset = bit_offset(c, argv[2])
    value = _string(c.ks.lookup_read(c.db, argv[1]))
    index = offset >> 3
    if value is None or index >= len(value):
        return 0
    return 1 if value[index] & (0x80 >> (offset & 7)) else 0


# -- ranges --------------------------------------------------------------------------------------


def _clamp(start: int, end: int, size: int) -> tuple[int, int]:
    """Redis's range rule: negatives count from the end, then both are clamped into [0, size-1]."""
    if start < 0:
        start = max(size + start, 0)
    if end < 0:
        end = max(size + end, 0)
    return start, min(end, size - 1)


def _bit_window(value: bytes, first: int, last: int, bit: int) -> bytes:
    """The bytes holding bits first..last, inverted when searching for 0, with the bits outside the
    window cleared, so that only wanted bits are set."""
    window = value[first >> 3:(last >> 3) + 1]
    if bit == 0:
        window = window.translate(_INVERT)
    head, tail = first & 7, 7 - (last & 7)
    if head or tail:
        buf = bytearray(window)
        buf[0] &= 0xFF >> head
        buf[-1] &= (0xFF << tail) & 0xFF
        window = bytes(buf)
    return window


def _parse_unit(raw: bytes) -> int:
    unit = raw.lower()
    if unit == b"bit":
        return 1
    if unit == b"byte":
        return 8
    raise CommandError(SYNTAX)


@command("bitcount", -2, "readonly", keys=(1, 1, 1), group="bitmap")
def bitcount(c, argv):
    """Count the set bits of a string, optionally within a byte or bit range."""
    value = _string(c.ks.lookup_read(c.db, argv[1]))
    if value is None:
        return 0
    argc = len(argv)
    if argc == 2:
        return int.from_bytes(value, "big").bit_count()
    if argc not in (4, 5):
        raise CommandError(SYNTAX)
    start, end = parse_int(argv[2]), parse_int(argv[3])
    if start < 0 and end < 0 and start > end:
        # Checked before the unit, so a bad unit goes unnoticed here (as in Redis).
        return 0
    unit = _parse_unit(argv[4]) if argc == 5 else 8
    start, end = _clamp(start, end, len(value) * 8 // unit)
    if start > end:
        return 0
    if unit == 8:
        first, last = start * 8, end * 8 + 7
    else:
        first, last = start, end
    return int.from_bytes(_bit_window(value, first, last, 1), "big").bit_count()


@command("bitpos", -3, "readonly", keys=(1, 1, 1), group="bitmap")
def bitpos(c, argv):
    """Find the first set or clear bit of a string, optionally within a byte or bit range."""
    bit = parse_int(argv[2])
    if bit not in (0, 1):
        raise CommandError(BIT_ARGUMENT)
    value = _string(c.ks.lookup_read(c.db, argv[1]))
    if value is None:
        # A missing key is an endless run of zeros.
        return -1 if bit else 0
    argc = len(argv)
    if argc > 6:
        raise CommandError(SYNTAX)
    # Redis reads start, then the unit, then end: the order decides which error a bad call gets.
    start = parse_int(argv[3]) if argc > 3 else 0
    unit = _parse_unit(argv[5]) if argc == 6 else 8
    end_given = argc > 4
    end = parse_int(argv[4]) if end_given else -1
    start, end = _clamp(start, end, len(value) * 8 // unit)
    if start > end:
        return -1
    first, last = (start * 8, end * 8 + 7) if unit == 8 else (start, end)
    window = _bit_window(value, first, last, bit)
    rest = window.lstrip(b"\x00")
    if rest:
        return ((first >> 3) + len(window) - len(rest)) * 8 + 8 - rest[0].bit_length()
    if bit == 0 and not end_given:
        # Looking for a clear bit past a run of ones with no end given: the bit right after the
        # string counts as clear.
        return (last >> 3) * 8 + 8
    return -1


# -- BITOP ---------------------------------------------------------------------------------------


@command("bitop", -4, "write denyoom", keys=(2, -1, 1), group="bitmap")
def bitop(c, argv):
    """Combine strings bit by bit with AND, OR, XOR or NOT into a destination key."""
    op = argv[1].lower()
    if op not in (b"and", b"or", b"xor", b"not"):
        raise CommandError(SYNTAX)
    if op == b"not" and len(argv) != 4:
        raise CommandError(BITOP_NOT_ONE_KEY)
    ks, db, dest = c.ks, c.db, argv[2]
    sources = [_string(ks.lookup_read(db, key)) or b"" for key in argv[3:]]
    size = max(len(s) for s in sources)
    if op == b"not":
        result = sources[0].translate(_INVERT)
    elif size:
        # Shorter strings count as padded with zero bytes at the end.
        numbers = [int.from_bytes(s.ljust(size, b"\x00"), "big") for s in sources]
        acc = numbers[0]
        for number in numbers[1:]:
            if op == b"and":
                acc &= number
            elif op == b"or":
                acc |= number
            else:
                acc ^= number
        result = acc.to_bytes(size, "big")
    else:
        result = b""
    if result:
        if db.expires and dest in db.expires:
            ks.expire_if_needed(db, dest)
        ks.set_key(db, dest, RawString(result))
        ks.notify(NOTIFY_STRING, b"set", db, dest)
    elif ks.delete_key(db, dest):
        ks.notify(NOTIFY_GENERIC, b"del", db, dest)
    return size


# -- BITFIELD ------------------------------------------------------------------------------------

_OVERFLOWS = {b"wrap", b"sat", b"fail"}
# Sub-command -> number of arguments it takes.
_FIELD_ARGS = {b"get": 2, b"set": 3, b"incrby": 3, b"overflow": 1}


class _FieldOp:
    """One GET/SET/INCRBY of a BITFIELD call, parsed, with the OVERFLOW mode in force for it."""

    __slots__ = ("kind", "signed", "bits", "offset", "value", "overflow")

    def __init__(self, kind: bytes, signed: bool, bits: int, offset: int, value: int,
                 overflow: bytes) -> None:
        self.kind = kind
        self.signed = signed
        self.bits = bits
        self.offset = offset
        self.value = value
        self.overflow = overflow


def _field_type(raw: bytes) -> tuple[bool, int]:
    signed = raw[:1] == b"i"
    bits = to_int_or_none(raw[1:]) if raw[:1] in (b"i", b"u") else None
    if bits is None or not 1 <= bits <= (64 if signed else 63):
        raise CommandError(BAD_FIELD_TYPE)
    return signed, bits


def _parse_field_ops(c, argv: list[bytes]) -> list[_FieldOp]:
    ops: list[_FieldOp] = []
    overflow = b"wrap"
    i, argc = 2, len(argv)
    while i < argc:
        kind = argv[i].lower()
        needs = _FIELD_ARGS.get(kind)
        if needs is None or i + needs >= argc:
            raise CommandError(SYNTAX)
        if kind == b"overflow":
            overflow = argv[i + 1].lower()
            if overflow not in _OVERFLOWS:
                raise CommandError(BAD_OVERFLOW)
        else:
            signed, bits = _field_type(argv[i + 1])
            raw = argv[i + 2]
            offset = bit_offset(c, raw[1:], bits) if raw[:1] == b"#" else bit_offset(c, raw)
            value = parse_int(argv[i + 3]) if needs == 3 else 0
            ops.append(_FieldOp(kind, signed, bits, offset, value, overflow))
        i += needs + 1
    return ops


def _read_field(value: bytes | bytearray, offset: int, bits: int, signed: bool) -> int:
    first, last = offset >> 3, (offset + bits - 1) >> 3
    chunk = value[first:last + 1]
    # Bytes past the end of the string read as zeros.
    number = int.from_bytes(chunk, "big") << (8 * (last + 1 - first - len(chunk)))
    field = (number >> ((last + 1 - first) * 8 - (offset & 7) - bits)) & ((1 << bits) - 1)
    if signed and field >> (bits - 1):
        field -= 1 << bits
    return field


def _write_field(buf: bytearray, offset: int, bits: int, field: int) -> None:
    first, last = offset >> 3, (offset + bits - 1) >> 3
    width = last + 1 - first
    shift = width * 8 - (offset & 7) - bits
    mask = ((1 << bits) - 1) << shift
    number = int.from_bytes(buf[first:last + 1], "big") & ~mask
    buf[first:last + 1] = (number | ((field << shift) & mask)).to_bytes(width, "big")


def _fit(op: _FieldOp, total: int) -> int | None:
    """total brought into the field's range by the OVERFLOW mode (None: FAIL refuses it)."""
    bits = op.bits
    low, high = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if op.signed else (0, (1 << bits) - 1)
    if low <= total <= high:
        return total
    if op.overflow == b"wrap":
        wrapped = total & ((1 << bits) - 1)
        if op.signed and wrapped >> (bits - 1):
            wrapped -= 1 << bits
        return wrapped
    if op.overflow == b"sat":
        return high if total > high else low
    return None


def _bitfield(c, argv: list[bytes], readonly: bool) -> list:
    ops = _parse_field_ops(c, argv)
    writes = [op for op in ops if op.kind != b"get"]
    if readonly and writes:
        raise CommandError(RO_ONLY_GET)
    ks, db, key = c.ks, c.db, argv[1]
    if not writes:
        value = _string(ks.lookup_read(db, key)) or b""
        return [_read_field(value, op.offset, op.bits, op.signed) for op in ops]
    old = _string(ks.lookup_write(db, key))
    # Like Redis, the string grows to fit every SET/INCRBY up front, even those that will FAIL.
    need = max((op.offset + op.bits + 7) >> 3 for op in writes)
    buf = bytearray(old or b"")
    grown = len(buf) < need
    if grown:
        buf.extend(bytes(need - len(buf)))
    replies: list = []
    changes = 0
    for op in ops:
        current = _read_field(buf, op.offset, op.bits, op.signed)
        if op.kind == b"get":
            replies.append(current)
            continue
        if op.kind == b"set":
            # An unsigned field takes the value's 64-bit two's complement pattern: -1 overflows.
            total = op.value if op.signed else op.value & 0xFFFFFFFFFFFFFFFF
        else:
            total = current + op.value
        new = _fit(op, total)
        if new is None:
            replies.append(None)
            continue
        if new != current or grown:
            # Like Redis, rewriting a field with its own value is no change unless the string grew.
            _write_field(buf, op.offset, op.bits, new)
            changes += 1
        replies.append(current if op.kind == b"set" else new)
    if old is None:
        ks.add_key(db, key, RawString(buf))
    elif changes or grown:
        # Growth alone is kept (and, unlike Redis, logged, so that the AOF replays to the same data).
        ks.set_key(db, key, RawString(buf), keepttl=True)
    if changes:
        ks.notify(NOTIFY_STRING, b"setbit", db, key)
    return replies


@command("bitfield", -2, "write denyoom", keys=(1, 1, 1), group="bitmap")
def bitfield(c, argv):
    """Read, write and increment integer fields of any width at any bit offset of a string."""
    return _bitfield(c, argv, readonly=False)


@command("bitfield_ro", -2, "readonly fast", keys=(1, 1, 1), group="bitmap")
def bitfield_ro(c, argv):
    """Read integer fields of a string (BITFIELD limited to GET)."""
    return _bitfield(c, argv, readonly=True)
