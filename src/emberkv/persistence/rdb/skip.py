"""Walking over values emberkv cannot hold (streams, module data) without keeping them.

The server refuses such files, as Redis refuses module data it has no module for. check-rdb, like
redis-check-rdb, still walks them so it can tell a well-formed file from a corrupt one: these functions
read exactly the bytes of one value, validating its structure, and return a short description.

Stream layout (type 19; type 15 lacks the fields marked v2)::

    len(nodes)  nodes * (str(16-byte node key: master id ms + seq, big endian)  str(listpack))
    len(length)  len(last_id.ms) len(last_id.seq)
    v2: len(first_id.ms) len(first_id.seq)  len(max_deleted.ms) len(max_deleted.seq)  len(entries_added)
    len(groups)  groups * (
        str(name)  len(last_delivered.ms) len(last_delivered.seq)  v2: len(entries_read)
        len(pel)  pel * (16-byte id, 8-byte LE delivery time, len(delivery count))
        len(consumers)  consumers * (str(name), 8-byte LE seen time, len(n), n * 16-byte id))

Module data (a type-7 value after its module id, and MODULE_AUX records) is a sequence of
``len(opcode)`` + value, ended by opcode 0.
"""

from __future__ import annotations

from emberkv.persistence.rdb import constants as C
from emberkv.persistence.rdb.errors import BlobError
from emberkv.persistence.rdb.listpack import lp_decode
from emberkv.persistence.rdb.source import RdbSource

STREAM_ID_SIZE = 16


def module_type_name(module_id: int) -> str:
    """The 9-character type name held in the top 54 bits of a module id."""
    charset = C.MODULE_NAME_CHARSET
    return "".join(chr(charset[(module_id >> (64 - 6 * (j + 1))) & 63]) for j in range(9))


def skip_stream(src: RdbSource, rdbtype: int) -> str:
    v2 = rdbtype == C.TYPE_STREAM_LISTPACKS_2
    for _ in range(src.read_length()):
        start = src.offset
        if len(src.read_string()) != STREAM_ID_SIZE:
            raise src.error("Stream node key entry is not the size of a stream ID", start)
        start = src.offset
        try:
            if not lp_decode(src.read_string()):
                raise BlobError("Empty listpack inside stream")
        except BlobError as e:
            raise src.error(f"Stream listpack integrity check failed: {e}", start) from None
    length = src.read_length()
    for _ in range(2 + (5 if v2 else 0)):
        src.read_length()
    groups = src.read_length()
    for _ in range(groups):
        src.read_string()
        for _ in range(3 if v2 else 2):
            src.read_length()
        for _ in range(src.read_length()):
            src.read_raw(STREAM_ID_SIZE + 8)
            src.read_length()
        for _ in range(src.read_length()):
            src.read_string()
            src.read_raw(8)
            src.read_raw(STREAM_ID_SIZE * src.read_length())
    return f"{length} entries, {groups} consumer groups"


def skip_module_data(src: RdbSource) -> None:
    """Module opcodes up to and including the EOF opcode."""
    while True:
        start = src.offset
        opcode = src.read_length()
        if opcode == C.MODULE_OPCODE_EOF:
            return
        if opcode in (C.MODULE_OPCODE_SINT, C.MODULE_OPCODE_UINT):
            src.read_length()
        elif opcode == C.MODULE_OPCODE_FLOAT:
            src.read_raw(4)
        elif opcode == C.MODULE_OPCODE_DOUBLE:
            src.read_raw(8)
        elif opcode == C.MODULE_OPCODE_STRING:
            src.read_string()
        else:
            raise src.error(f"Unknown module opcode {opcode}", start)


def skip_module_value(src: RdbSource, rdbtype: int, module_id: int) -> str:
    """A type-7 module value (its id already read). Type 6 is opaque: only the module could skip it."""
    name = module_type_name(module_id)
    if rdbtype == C.TYPE_MODULE:
        raise src.error(f"The RDB file contains module data of type '{name}' in the pre-4.0 format, "
                        "which cannot be walked without the module")
    skip_module_data(src)
    return f"module type '{name}'"
