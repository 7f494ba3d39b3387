"""The RDB format's numbers, each described once beside its constant.

An RDB file (version 10 is what Redis 7.0 writes, and what we write) is::

    "REDIS" + 4 ASCII digits of version        "REDIS0010"
    AUX records                                 redis-ver, redis-bits, ctime, used-mem, [repl-*], aof-base
    FUNCTION2 records                           one per function library
    per non-empty database, ascending:
        SELECTDB len(dbid)  RESIZEDB len(keys) len(keys with a TTL)
        per key: [EXPIRETIME_MS ms] [IDLE len] [FREQ byte]  type-byte  str(key)  value
    EOF
    8-byte CRC-64 of every byte before it, little endian (0 = saved without a checksum; absent before v5)

``len(x)`` and ``str(x)`` are the length and string encodings of lengths.py and strings.py. Opcodes and
object type bytes share the byte read where a record starts: below 20 it is a type, from 244 up an opcode.
"""

from __future__ import annotations

MAGIC = b"REDIS"
# The version we write, and the highest we read: 7.2 writes 11 (new types 20, 21), 7.4 writes 12.
RDB_VERSION = 10
# Checksums (the 8 trailing bytes after EOF) exist from version 5 on.
RDB_CHECKSUM_SINCE = 5
# Before version 9 an EXPIRETIME_MS was stored in host order; every host Redis ran on is little endian.

# -- Opcodes --------------------------------------------------------------------------------------
OP_FUNCTION2 = 245  # str(library source): "#!lua name=lib\n...", what 7.0 writes
OP_FUNCTION = 246  # 7.0 release candidates: str(name) str(engine) len(has_desc) [str(desc)] str(code)
OP_MODULE_AUX = 247  # len(module id) len(2 = UINT opcode) len(when: 1 before keys, 2 after) module data
OP_IDLE = 248  # len(LRU idle seconds) for the next key (maxmemory-policy *-lru)
OP_FREQ = 249  # 1 byte, LFU logarithmic counter of the next key (maxmemory-policy *-lfu)
OP_AUX = 250  # str(field) str(value): file metadata; unknown fields are ignored
OP_RESIZEDB = 251  # len(keys in db) len(keys with a TTL): a sizing hint only
OP_EXPIRETIME_MS = 252  # 8-byte signed little-endian absolute unix time in ms, for the next key
OP_EXPIRETIME = 253  # 4-byte signed little-endian unix time in seconds (read only: pre-3.0 files)
OP_SELECTDB = 254  # len(db number): following keys go to that database
OP_EOF = 255  # end of the data; the checksum follows

# -- Object types (the byte before a key) -------------------------------------------------------
TYPE_STRING = 0  # str(value)
TYPE_LIST = 1  # len(n) n*str(element)                     read only (pre-3.2 linked list)
TYPE_SET = 2  # len(n) n*str(member)                       sets that are not intsets
TYPE_ZSET = 3  # len(n) n*(str(member) text-double)       read only (pre-3.0)
TYPE_HASH = 4  # len(n) n*(str(field) str(value))         hashtable-encoded hashes
TYPE_ZSET_2 = 5  # len(n) n*(str(member) 8-byte LE double)  skiplist zsets, highest score first
TYPE_MODULE = 6  # len(module id) + private data, not self-describing: unreadable without the module
TYPE_MODULE_2 = 7  # len(module id) + typed module opcodes ended by MODULE_OPCODE_EOF
TYPE_HASH_ZIPMAP = 9  # str(zipmap)                           read only (RDB v1-v3 era)
TYPE_LIST_ZIPLIST = 10  # str(ziplist)                        read only
TYPE_SET_INTSET = 11  # str(intset)
TYPE_ZSET_ZIPLIST = 12  # str(ziplist of member, score)       read only
TYPE_HASH_ZIPLIST = 13  # str(ziplist of field, value)        read only
TYPE_LIST_QUICKLIST = 14  # len(nodes) nodes*str(ziplist)     read only
TYPE_STREAM_LISTPACKS = 15  # stream, v1 layout                  not supported by emberkv yet
TYPE_HASH_LISTPACK = 16  # str(listpack of field, value), insertion order
TYPE_ZSET_LISTPACK = 17  # str(listpack of member, score), rank order
TYPE_LIST_QUICKLIST_2 = 18  # len(nodes) nodes*(len(container) str(data)); every list 7.0 writes
TYPE_STREAM_LISTPACKS_2 = 19  # stream, v2 layout (adds first id, max deleted id, entries added, ...)

# Redis's names for the types, for messages and check-rdb's report.
TYPE_NAMES: dict[int, str] = {
    TYPE_STRING: "string",
    TYPE_LIST: "list",
    TYPE_SET: "set",
    TYPE_ZSET: "zset",
    TYPE_HASH: "hash",
    TYPE_ZSET_2: "zset",
    TYPE_MODULE: "module",
    TYPE_MODULE_2: "module",
    TYPE_HASH_ZIPMAP: "hash",
    TYPE_LIST_ZIPLIST: "list",
    TYPE_SET_INTSET: "set",
    TYPE_ZSET_ZIPLIST: "zset",
    TYPE_HASH_ZIPLIST: "hash",
    TYPE_LIST_QUICKLIST: "list",
    TYPE_STREAM_LISTPACKS: "stream",
    TYPE_HASH_LISTPACK: "hash",
    TYPE_ZSET_LISTPACK: "zset",
    TYPE_LIST_QUICKLIST_2: "list",
    TYPE_STREAM_LISTPACKS_2: "stream",
}

# -- Quicklist v2 node containers --------------------------------------------------------------
QUICKLIST_NODE_PLAIN = 1  # data is one raw element (elements of 1 GiB or more)
QUICKLIST_NODE_PACKED = 2  # data is a listpack of consecutive elements
# Elements at least this long get a PLAIN node of their own.
QUICKLIST_PACKED_THRESHOLD = 1 << 30
# A node may take an element of raw length sz while node_bytes + sz + this <= the node's byte limit.
QUICKLIST_SIZE_ESTIMATE_OVERHEAD = 8
# Byte limit of a node when list-max-listpack-size is positive (a count limit): the safety cap.
QUICKLIST_SAFETY_LIMIT = 8192
# list-max-listpack-size -1..-5 -> node byte limit.
QUICKLIST_BYTE_LIMITS = {-1: 4096, -2: 8192, -3: 16384, -4: 32768, -5: 65536}

# -- Module values (type 7 and MODULE_AUX): a stream of (len(opcode), value) -----------------------
MODULE_OPCODE_EOF = 0  # end of the module's data
MODULE_OPCODE_SINT = 1  # len(value)
MODULE_OPCODE_UINT = 2  # len(value)
MODULE_OPCODE_FLOAT = 3  # 4 bytes LE
MODULE_OPCODE_DOUBLE = 4  # 8 bytes LE
MODULE_OPCODE_STRING = 5  # str(value)
# A module id is 64 bits: 9 characters of 6 bits each (most significant first) naming the type, then a
# 10-bit encoding version. The characters index this alphabet.
MODULE_NAME_CHARSET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

# -- DUMP payload footer --------------------------------------------------------------------------
# type byte + value + 2-byte LE RDB version + 8-byte LE CRC-64 of everything before it.
DUMP_FOOTER_LEN = 10
