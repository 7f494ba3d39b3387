"""The encoding thresholds that decide when a collection leaves its compact encoding.

Redis decides a loaded collection's encoding from these (a file written with other thresholds is
re-encoded on load), and the writer sizes quicklist nodes with ``list_max_listpack_size``. The names are
redis.conf's, with ``-`` as ``_``; the defaults are Redis 7.0's.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class EncodingLimits:
    hash_max_listpack_entries: int = 512
    hash_max_listpack_value: int = 64
    set_max_intset_entries: int = 512
    zset_max_listpack_entries: int = 128
    zset_max_listpack_value: int = 64
    # Negative -1..-5: quicklist node byte limit 4/8/16/32/64 KiB; positive: elements per node.
    list_max_listpack_size: int = -2


DEFAULT_LIMITS = EncodingLimits()
