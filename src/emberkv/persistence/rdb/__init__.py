"""The RDB codec: rdb_load (reader), rdb_save (writer), DUMP/RESTORE payloads. Pure: it reads and
writes file objects and byte strings, nothing else. constants.py describes the format."""

from emberkv.persistence.rdb.errors import DumpError, ModuleError, RdbError, UnsupportedTypeError
from emberkv.persistence.rdb.limits import DEFAULT_LIMITS, EncodingLimits
from emberkv.persistence.rdb.reader import LoadStats, RdbEntry, RdbReader, UnsupportedValue, load_rdb_file

__all__ = [
    "DEFAULT_LIMITS",
    "DumpError",
    "EncodingLimits",
    "LoadStats",
    "ModuleError",
    "RdbEntry",
    "RdbError",
    "RdbReader",
    "UnsupportedTypeError",
    "UnsupportedValue",
    "load_rdb_file",
]
