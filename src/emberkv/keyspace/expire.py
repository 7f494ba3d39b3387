"""The active expire cycle: deletes keys whose time has passed even if nobody reads them.

Like Redis, it runs from the cron, samples expiring keys per database (20 at a time), keeps going in a
database while more than a quarter of a sample had expired, and stops when its time budget is spent.
Instead of random sampling it walks a copy of the database's expiring keys in order, refreshing the copy
when it reaches the end: each key is looked at once per pass, with no random access into a dict (which
Python cannot do cheaply), and the copy costs one pointer per expiring key.
"""

from __future__ import annotations

import time

from emberkv.keyspace.db import Keyspace

SAMPLE = 20
STALE_RATIO = 0.25


def active_expire_cycle(ks: Keyspace, budget_s: float) -> int:
    """Expire what can be found within budget_s seconds; returns how many keys were removed."""
    deadline = time.perf_counter() + budget_s
    removed = 0
    now = ks.now_ms
    for db in ks.dbs:
        expires = db.expires
        if not expires:
            continue
        while True:
            if db.expire_scan_pos >= len(db.expire_scan):
                db.expire_scan = list(expires)
                db.expire_scan_pos = 0
            batch = db.expire_scan[db.expire_scan_pos:db.expire_scan_pos + SAMPLE]
            db.expire_scan_pos += SAMPLE
            expired = 0
            for key in batch:
                when = expires.get(key)
                if when is not None and when <= now:
                    ks.expire_key(db, key)
                    expired += 1
            removed += expired
            if expired <= len(batch) * STALE_RATIO or not expires:
                break
            if time.perf_counter() > deadline:
                return removed
        if time.perf_counter() > deadline:
            break
    return removed
