"""Values: rdb_save_* turns a value into its type byte and RDB bytes, rdb_load_* reads it back.

Each save has its load beside it. Saving follows Redis 7.0 (spec §1.7, §1.13): lists are always a
quicklist of listpack nodes (type 18); a set is an intset (11) until ``big`` or when a member is not an
integer, else a plain member list (2); hashes and zsets are one listpack (16, 17) until ``big``, else a
plain pair list (4) or score-descending binary doubles (5). Loading reads every type Redis 7.0 reads and
re-decides ``big`` from the limits exactly as Redis re-decides the encoding of a loaded value, so the
same file gives the same OBJECT ENCODING in both. A collection that loads empty yields None: Redis skips
such keys.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from itertools import chain

from emberkv.keyspace.values import HashValue, ListValue, SetValue, ZSetValue
from emberkv.persistence.rdb import constants as C
from emberkv.persistence.rdb.errors import BlobError
from emberkv.persistence.rdb.intset import intset_decode, intset_encode
from emberkv.persistence.rdb.lengths import encode_length
from emberkv.persistence.rdb.limits import EncodingLimits
from emberkv.persistence.rdb.listpack import (
    EMPTY_SIZE,
    lp_body,
    lp_decode,
    lp_entry,
    lp_pairs_body,
    lp_scored_body,
    lp_wrap,
)
from emberkv.persistence.rdb.source import RdbSource
from emberkv.persistence.rdb.strings import (
    canonical_ints,
    encode_binary_double,
    encode_string,
    encode_strings,
    parse_doubles,
)
from emberkv.persistence.rdb.ziplist import ziplist_decode
from emberkv.persistence.rdb.zipmap import zipmap_decode

_PLAIN = encode_length(C.QUICKLIST_NODE_PLAIN)
_PACKED = encode_length(C.QUICKLIST_NODE_PACKED)
# "one node, a listpack": how most lists start.
_ONE_NODE = encode_length(1) + _PACKED
# A list of this many elements or more is sized from its element lengths before being encoded as one
# node, so one that needs several (a string takes its length + 2 bytes) is not encoded twice.
_SIZE_FIRST_AT = 128


def _blob(src: RdbSource, decode: Callable[[bytes], list]) -> list:
    """Read one string holding a compact blob and decode it; a malformed blob is an RdbError at its start."""
    start = src.offset
    data = src.read_string()
    try:
        return decode(data)
    except BlobError as e:
        raise src.error(f"{e}", start) from None


# -- lists ------------------------------------------------------------------------------------------


def _node_limits(limits: EncodingLimits) -> tuple[int, int]:
    """(byte limit, element limit) of one quicklist node under list-max-listpack-size."""
    fill = max(-5, min(limits.list_max_listpack_size, 32767))
    if fill < 0:
        return C.QUICKLIST_BYTE_LIMITS[fill], 1 << 62
    return C.QUICKLIST_SAFETY_LIMIT, fill


def rdb_save_list(value: ListValue, limits: EncodingLimits, compress: bool) -> bytes:
    """Quicklist v2: nodes cut where Redis's RPUSH would cut them, each a listpack (or one huge element)."""
    byte_limit, count_limit = _node_limits(limits)
    count = len(value)
    if 0 < count <= count_limit and (count < _SIZE_FIRST_AT or sum(map(len, value)) + 2 * count <= byte_limit):
        # Most lists fit one node: encode them in one pass, then check RPUSH would not have cut. Each
        # element is shorter than its entry or is an integer of at most 20 characters, and no node is
        # larger than the whole listpack, so if the whole listpack plus that much fits, it never cut.
        entries = lp_body(value)
        longest = max(len(entries), 20)
        if (
            EMPTY_SIZE + len(entries) + longest + C.QUICKLIST_SIZE_ESTIMATE_OVERHEAD <= byte_limit
            and longest < C.QUICKLIST_PACKED_THRESHOLD
        ):
            return _ONE_NODE + encode_string(lp_wrap(entries, count), compress)
    nodes: list[bytes] = []
    body: list[bytes] = []
    size = count = 0  # current node: listpack bytes, elements

    def close() -> None:
        nodes.append(_PACKED + encode_string(lp_wrap(b"".join(body), count), compress))

    for element in value:
        sz = len(element)
        if sz >= C.QUICKLIST_PACKED_THRESHOLD:
            if count:
                close()
                body, size, count = [], 0, 0
            nodes.append(_PLAIN + encode_string(element, compress))
            continue
        if count and not (
            size + sz + C.QUICKLIST_SIZE_ESTIMATE_OVERHEAD <= byte_limit and count < count_limit
        ):
            close()
            body, size, count = [], 0, 0
        entry = lp_entry(element)
        body.append(entry)
        size = (size or EMPTY_SIZE) + len(entry)
        count += 1
    if count:
        close()
    return encode_length(len(nodes)) + b"".join(nodes)


def rdb_load_list(src: RdbSource, rdbtype: int, limits: EncodingLimits) -> ListValue | None:
    lst = ListValue()
    if rdbtype == C.TYPE_LIST_QUICKLIST_2:
        for _ in range(src.read_length()):
            start = src.offset
            container = src.read_length()
            if container == C.QUICKLIST_NODE_PLAIN:
                element = src.read_string()
                if not element:
                    raise src.error("Quicklist plain node is empty", start)
                lst.append(element)
            elif container == C.QUICKLIST_NODE_PACKED:
                lst.extend(_blob(src, lp_decode))
            else:
                raise src.error(f"Quicklist integrity check failed: unknown container {container}", start)
    elif rdbtype == C.TYPE_LIST_QUICKLIST:
        for _ in range(src.read_length()):
            lst.extend(_blob(src, ziplist_decode))
    elif rdbtype == C.TYPE_LIST_ZIPLIST:
        lst.extend(_blob(src, ziplist_decode))
    else:
        for _ in range(src.read_length()):
            lst.append(src.read_string())
    return lst or None


# -- sets -------------------------------------------------------------------------------------------


def rdb_save_set(value: SetValue, limits: EncodingLimits, compress: bool) -> tuple[int, bytes]:
    if not value.big:
        ints = canonical_ints(value)
        if ints is not None:
            return C.TYPE_SET_INTSET, encode_string(intset_encode(ints), compress)
    return C.TYPE_SET, encode_length(len(value)) + b"".join(encode_strings(value, compress))


def rdb_load_set(src: RdbSource, rdbtype: int, limits: EncodingLimits) -> SetValue | None:
    start = src.offset
    if rdbtype == C.TYPE_SET_INTSET:
        s = SetValue(map(b"%d".__mod__, _blob(src, intset_decode)))
        s.big = len(s) > limits.set_max_intset_entries
        return s
    n = src.read_length()
    members = src.read_strings(n)
    s = SetValue(members)
    if len(s) != n:
        raise src.error("Duplicate set members detected", start)
    s.big = n > limits.set_max_intset_entries or canonical_ints(members) is None
    return s or None


# -- sorted sets ------------------------------------------------------------------------------------


def rdb_save_zset(value: ZSetValue, limits: EncodingLimits, compress: bool) -> tuple[int, bytes]:
    if not value.big:
        return C.TYPE_ZSET_LISTPACK, encode_string(lp_wrap(lp_scored_body(value.ranked), 2 * len(value)), compress)
    # Highest score first; each member followed by its score as a little-endian double.
    parts = [encode_length(len(value))]
    for score, member in reversed(value.ranked):
        parts += (encode_string(member, compress), encode_binary_double(score))
    return C.TYPE_ZSET_2, b"".join(parts)


def _zset(scores: dict[bytes, float]) -> ZSetValue:
    z = ZSetValue()
    z.scores = scores
    z.ranked.update(zip(scores.values(), scores, strict=True))  # the new zset's own, empty, SortedList
    return z


def rdb_load_zset(src: RdbSource, rdbtype: int, limits: EncodingLimits) -> ZSetValue | None:
    start = src.offset
    if rdbtype == C.TYPE_ZSET_LISTPACK or rdbtype == C.TYPE_ZSET_ZIPLIST:
        items = _blob(src, lp_decode if rdbtype == C.TYPE_ZSET_LISTPACK else ziplist_decode)
        if len(items) % 2:
            raise src.error("Zset listpack has an odd number of elements", start)
        try:
            values = parse_doubles(items[1::2])
        except BlobError as e:
            raise src.error(str(e), start) from None
        scores = dict(zip(items[::2], values, strict=True))
        if len(scores) * 2 != len(items):
            raise src.error("Duplicate zset fields detected", start)
        if any(map(math.isnan, values)):
            raise src.error("Zset with NAN score detected", start)
        z = _zset(scores)
        z.big = len(scores) > limits.zset_max_listpack_entries
        return z if scores else None
    n = src.read_length()
    read_score = src.read_binary_double if rdbtype == C.TYPE_ZSET_2 else src.read_text_double
    scores = {}
    longest = 0
    for _ in range(n):
        member = src.read_string()
        score = read_score()
        if math.isnan(score):
            raise src.error("Zset with NAN score detected", start)
        scores[member] = score
        if len(member) > longest:
            longest = len(member)
    if len(scores) != n:
        raise src.error("Duplicate zset fields detected", start)
    z = _zset(scores)
    z.big = n > limits.zset_max_listpack_entries or longest > limits.zset_max_listpack_value
    return z if n else None


# -- hashes -----------------------------------------------------------------------------------------


def rdb_save_hash(value: HashValue, limits: EncodingLimits, compress: bool) -> tuple[int, bytes]:
    if not value.big:
        return C.TYPE_HASH_LISTPACK, encode_string(lp_wrap(lp_pairs_body(value.items()), 2 * len(value)), compress)
    parts = encode_strings(chain.from_iterable(value.items()), compress)
    return C.TYPE_HASH, encode_length(len(value)) + b"".join(parts)


def _hash_from_pairs(src: RdbSource, start: int, fields: list[bytes], values: list[bytes]) -> HashValue:
    h = HashValue(zip(fields, values, strict=True))
    if len(h) != len(fields):
        raise src.error("Duplicate hash fields detected", start)
    return h


def rdb_load_hash_listpack(src: RdbSource, rdbtype: int, limits: EncodingLimits) -> HashValue | None:
    """Type 16, what Redis 7.0 writes for every small hash: kept lean, it runs once per such key."""
    start = src.offset
    try:
        items = lp_decode(src.read_string())
    except BlobError as e:
        raise src.error(str(e), start) from None
    fields = items[::2]
    h = HashValue(zip(fields, items[1::2], strict=True)) if not len(items) % 2 else None
    if h is None:
        raise src.error("Hash listpack has an odd number of elements", start)
    if len(h) != len(fields):
        raise src.error("Duplicate hash fields detected", start)
    h.big = len(h) > limits.hash_max_listpack_entries
    return h or None


def rdb_load_hash(src: RdbSource, rdbtype: int, limits: EncodingLimits) -> HashValue | None:
    start = src.offset
    max_value = limits.hash_max_listpack_value
    if rdbtype == C.TYPE_HASH:
        n = src.read_length()
        flat = src.read_strings(2 * n)
        h = _hash_from_pairs(src, start, flat[::2], flat[1::2])
        h.big = n > limits.hash_max_listpack_entries or any(len(x) > max_value for x in flat)
    elif rdbtype == C.TYPE_HASH_ZIPMAP:
        pairs = _blob(src, zipmap_decode)
        h = _hash_from_pairs(src, start, [f for f, _ in pairs], [v for _, v in pairs])
        longest = max((max(len(f), len(v)) for f, v in pairs), default=0)
        h.big = len(h) > limits.hash_max_listpack_entries or longest > max_value
    else:
        items = _blob(src, ziplist_decode)
        if len(items) % 2:
            raise src.error("Hash listpack has an odd number of elements", start)
        h = _hash_from_pairs(src, start, items[::2], items[1::2])
        h.big = len(h) > limits.hash_max_listpack_entries
    return h or None


# -- dispatch ---------------------------------------------------------------------------------------

def rdb_load_string(src: RdbSource, rdbtype: int, limits: EncodingLimits) -> bytes:
    return src.read_string()


LOADERS: dict[int, Callable[[RdbSource, int, EncodingLimits], object]] = {
    C.TYPE_STRING: rdb_load_string,
    C.TYPE_LIST: rdb_load_list,
    C.TYPE_LIST_ZIPLIST: rdb_load_list,
    C.TYPE_LIST_QUICKLIST: rdb_load_list,
    C.TYPE_LIST_QUICKLIST_2: rdb_load_list,
    C.TYPE_SET: rdb_load_set,
    C.TYPE_SET_INTSET: rdb_load_set,
    C.TYPE_ZSET: rdb_load_zset,
    C.TYPE_ZSET_2: rdb_load_zset,
    C.TYPE_ZSET_ZIPLIST: rdb_load_zset,
    C.TYPE_ZSET_LISTPACK: rdb_load_zset,
    C.TYPE_HASH: rdb_load_hash,
    C.TYPE_HASH_ZIPMAP: rdb_load_hash,
    C.TYPE_HASH_ZIPLIST: rdb_load_hash,
    C.TYPE_HASH_LISTPACK: rdb_load_hash_listpack,
}


def rdb_save_object(value: object, limits: EncodingLimits, compress: bool) -> tuple[int, bytes] | None:
    """(type byte, value bytes) of any value; None for an empty collection (Redis never holds one)."""
    if isinstance(value, bytes):
        return C.TYPE_STRING, encode_string(value, compress)
    if not value:
        return None
    t = type(value)
    if t is ListValue:
        return C.TYPE_LIST_QUICKLIST_2, rdb_save_list(value, limits, compress)  # type: ignore[arg-type]
    if t is HashValue:
        return rdb_save_hash(value, limits, compress)  # type: ignore[arg-type]
    if t is SetValue:
        return rdb_save_set(value, limits, compress)  # type: ignore[arg-type]
    if t is ZSetValue:
        return rdb_save_zset(value, limits, compress)  # type: ignore[arg-type]
    raise TypeError(f"cannot save a value of type {t.__name__}")


def rdb_load_object(src: RdbSource, rdbtype: int, limits: EncodingLimits) -> object:
    """The value of a (non-stream, non-module) type; None when it loads empty."""
    loader = LOADERS.get(rdbtype)
    if loader is None:
        raise src.error(f"Unknown RDB encoding type {rdbtype}")
    return loader(src, rdbtype, limits)
