"""The RDB codec: rdb_load (reader.py), rdb_save (writer.py), DUMP/RESTORE payloads (dump.py).

Pure: it reads and writes file objects and byte strings, nothing else. constants.py describes the file
format; each encoding has its encoder and decoder side by side (lengths, strings, listpack, intset,
objects), and the read-only legacy blobs (ziplist, zipmap) their decoders.
"""

from emberkv.persistence.rdb.dump import dump_payload, restore_payload
from emberkv.persistence.rdb.errors import DumpError, ModuleError, RdbError, UnsupportedTypeError
from emberkv.persistence.rdb.limits import DEFAULT_LIMITS, EncodingLimits
from emberkv.persistence.rdb.reader import LoadStats, RdbEntry, RdbReader, UnsupportedValue, load_rdb_file
from emberkv.persistence.rdb.writer import RdbWriter, rdb_save_keyspace

__all__ = [
    "DEFAULT_LIMITS",
    "DumpError",
    "EncodingLimits",
    "LoadStats",
    "ModuleError",
    "RdbEntry",
    "RdbError",
    "RdbReader",
    "RdbWriter",
    "UnsupportedTypeError",
    "UnsupportedValue",
    "dump_payload",
    "load_rdb_file",
    "rdb_save_keyspace",
    "restore_payload",
]
