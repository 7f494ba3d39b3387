"""``backup prune``: retention rules deciding which backups to keep.

Rules combine (a backup kept by any rule is kept):

* ``--keep-last N``: the N newest backups;
* ``--keep-hourly N`` / ``--keep-daily N`` / ``--keep-weekly N``: for each of the N most recent hours /
  days / ISO weeks (UTC) that have backups, the newest backup of that period.

Periods without backups do not count, so a server backed up irregularly still keeps N of each. Without
any rule nothing is selected: pruning everything is never a default.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from emberkv.backup.manifest import Manifest

PERIODS: dict[str, Callable[[datetime], tuple]] = {
    "hourly": lambda t: (t.year, t.month, t.day, t.hour),
    "daily": lambda t: (t.year, t.month, t.day),
    "weekly": lambda t: tuple(t.isocalendar()[:2]),
}


def plan_prune(manifests: list[Manifest], keep_last: int = 0, keep_hourly: int = 0, keep_daily: int = 0,
               keep_weekly: int = 0) -> tuple[dict[str, list[str]], list[Manifest]]:
    """(kept id -> the rules keeping it, backups to delete oldest first)."""
    newest_first = sorted(manifests, key=lambda m: (m.created, m.id), reverse=True)
    reasons: dict[str, list[str]] = {}
    for m in newest_first[:max(0, keep_last)]:
        reasons.setdefault(m.id, []).append("last")
    for name, count in (("hourly", keep_hourly), ("daily", keep_daily), ("weekly", keep_weekly)):
        period_of = PERIODS[name]
        seen: set[tuple] = set()
        for m in newest_first:
            if len(seen) >= count:
                break
            period = period_of(datetime.fromtimestamp(m.created, UTC))
            if period not in seen:
                seen.add(period)
                reasons.setdefault(m.id, []).append(name)
    doomed = [m for m in reversed(newest_first) if m.id not in reasons]
    return reasons, doomed
