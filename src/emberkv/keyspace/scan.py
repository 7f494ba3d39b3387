"""Cursors for SCAN, HSCAN, SSCAN and ZSCAN.

Redis's guarantee: every element present for the whole iteration is returned at least once. Redis gets
it from a reverse-binary walk over its hash table buckets; a Python dict offers no such position. So a
scan starting at cursor 0 takes a snapshot of the collection's keys (one C-level list copy, a pointer
per element) and later calls walk that list, skipping elements that have gone since. The cursor encodes
the snapshot's id and the position in it. Snapshots are kept for the most recent scans only; a cursor
whose snapshot was dropped starts a fresh snapshot at the same position, which may repeat elements but
never loses ones that were present throughout, because positions only move forward over an
insertion-ordered copy.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable

from emberkv.commands.errors import CommandError

MAX_SNAPSHOTS = 64
_POSITION_BITS = 40


class ScanCursors:
    def __init__(self) -> None:
        # id -> (id of the owner, keys): the owner is the collection scanned, so a cursor used on
        # another collection starts afresh. Only its id is kept, so a flushed or deleted collection
        # is not held alive by a scan that was never finished.
        self.snapshots: OrderedDict[int, tuple[int, list]] = OrderedDict()
        self.next_id = 1

    def step(self, owner: object, cursor: int, source: Callable[[], Iterable], count: int) -> tuple[int, list]:
        """Up to ``count`` items of owner from position ``cursor``; returns (next cursor or 0, items)."""
        snap_id, pos = cursor >> _POSITION_BITS, cursor & ((1 << _POSITION_BITS) - 1)
        snapshot = self.snapshots.get(snap_id) if snap_id else None
        if snapshot is not None and snapshot[0] == id(owner):
            items = snapshot[1]
        else:
            items = list(source())
            snap_id = self.next_id
            self.next_id = self.next_id % ((1 << 23) - 1) + 1
            self.snapshots[snap_id] = (id(owner), items)
            if len(self.snapshots) > MAX_SNAPSHOTS:
                self.snapshots.popitem(last=False)
            self.snapshots.move_to_end(snap_id)
        chunk = items[pos:pos + count]
        pos += count
        if pos >= len(items):
            self.snapshots.pop(snap_id, None)
            return 0, chunk
        return (snap_id << _POSITION_BITS) | pos, chunk


def parse_cursor(raw: bytes) -> int:
    """Cursors are unsigned 64-bit numbers read as strtoul reads them: a sign is allowed and a
    negative number wraps around, as in Redis."""
    digits = raw[1:] if raw[:1] in (b"+", b"-") else raw
    if not digits.isdigit() or len(digits) > 20 or int(digits) >= 2**64:
        raise CommandError("ERR invalid cursor")
    return int(raw) % 2**64
