"""DUMP and RESTORE payloads (spec §1.15): one value in RDB form, with a version and a checksum.

    type byte + value, exactly as in an RDB file
    2 bytes: RDB version, little endian (0a 00)
    8 bytes: CRC-64 of everything before it, little endian

The checksum is always there, and unlike in a file a zero checksum is not "disabled": it is refused.
Anything after the value and before the footer is ignored, as Redis ignores it.
"""

from __future__ import annotations

import io
import struct

from emberkv.persistence.rdb import constants as C
from emberkv.persistence.rdb.crc64 import crc64
from emberkv.persistence.rdb.errors import DumpError, RdbError
from emberkv.persistence.rdb.limits import DEFAULT_LIMITS, EncodingLimits
from emberkv.persistence.rdb.objects import LOADERS, rdb_load_object, rdb_save_object
from emberkv.persistence.rdb.source import RdbSource

BAD_VERSION_OR_CHECKSUM = "ERR DUMP payload version or checksum are wrong"
BAD_DATA_FORMAT = "ERR Bad data format"
_VERSION = struct.Struct("<H")
_FOOTER_VERSION = _VERSION.pack(C.RDB_VERSION)


def dump_payload(value: object, limits: EncodingLimits = DEFAULT_LIMITS, compress: bool = True) -> bytes:
    encoded = rdb_save_object(value, limits, compress)
    if encoded is None:
        raise ValueError("an empty collection has no DUMP payload")
    body = bytes([encoded[0]]) + encoded[1] + _FOOTER_VERSION
    return body + crc64(body).to_bytes(8, "little")


def verify_payload(payload: bytes) -> None:
    """Footer checks: long enough, a version we read, the right checksum."""
    if len(payload) < C.DUMP_FOOTER_LEN:
        raise DumpError(BAD_VERSION_OR_CHECKSUM)
    version = _VERSION.unpack_from(payload, len(payload) - C.DUMP_FOOTER_LEN)[0]
    stored = int.from_bytes(payload[-8:], "little")
    if version > C.RDB_VERSION or stored != crc64(memoryview(payload)[:-8]):
        raise DumpError(BAD_VERSION_OR_CHECKSUM)


def restore_payload(payload: bytes, limits: EncodingLimits = DEFAULT_LIMITS) -> object:
    """The value a DUMP payload holds; DumpError with Redis's message when it is refused."""
    verify_payload(payload)
    body = payload[: -C.DUMP_FOOTER_LEN]
    if not body:
        raise DumpError(BAD_DATA_FORMAT)
    rdbtype = body[0]
    # Streams and module values are well-formed in Redis but emberkv cannot hold them.
    if rdbtype != C.TYPE_STRING and rdbtype not in LOADERS:
        raise DumpError(BAD_DATA_FORMAT)
    src = RdbSource(io.BytesIO(body), checksum=False, total_size=len(body))
    try:
        src.read_byte()  # the type byte, looked at above
        value = rdb_load_object(src, rdbtype, limits)
    except RdbError:
        raise DumpError(BAD_DATA_FORMAT) from None
    if value is None:
        raise DumpError(BAD_DATA_FORMAT)
    return value
