"""The persistence counters INFO persistence reports, in Redis 7.0.15's field order.

The RDB and AOF layers update this one object; server/info.py renders it. Fields about fork children
(cow sizes, module forks) keep Redis's names and report 0, since snapshots here run in-process.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class PersistenceState:
    # Loading (RDB or AOF at start-up, DEBUG RELOAD)
    loading: bool = False
    loading_start_time: int = 0
    loading_total_bytes: int = 0
    loading_rdb_used_mem: int = 0
    loading_loaded_bytes: int = 0
    # RDB
    rdb_bgsave_in_progress: bool = False
    rdb_last_save_time: int = field(default_factory=lambda: int(time.time()))
    rdb_last_bgsave_ok: bool = True
    rdb_last_bgsave_time_sec: int = -1
    rdb_bgsave_start: float = 0.0
    rdb_saves: int = 0
    rdb_last_load_keys_expired: int = 0
    rdb_last_load_keys_loaded: int = 0
    save_keys_processed: int = 0
    save_keys_total: int = 0
    # AOF
    aof_enabled: bool = False
    aof_rewrite_in_progress: bool = False
    aof_rewrite_scheduled: bool = False
    aof_last_rewrite_time_sec: int = -1
    aof_rewrite_start: float = 0.0
    aof_last_bgrewrite_ok: bool = True
    aof_rewrites: int = 0
    aof_rewrites_consecutive_failures: int = 0
    aof_last_write_ok: bool = True
    aof_current_size: int = 0
    aof_base_size: int = 0
    aof_buffer_length: int = 0
    aof_pending_bio_fsync: int = 0
    aof_delayed_fsync: int = 0

    def info_fields(self, dirty: int, appendonly: bool) -> list[tuple[str, object]]:
        now = time.time()
        fields: list[tuple[str, object]] = [
            ("loading", int(self.loading)),
            ("async_loading", 0),
            ("current_cow_peak", 0),
            ("current_cow_size", 0),
            ("current_cow_size_age", 0),
            ("current_fork_perc", "%.2f" % (100 * self.save_keys_processed / self.save_keys_total
                                             if self.save_keys_total else 0)),
            ("current_save_keys_processed", self.save_keys_processed),
            ("current_save_keys_total", self.save_keys_total),
            ("rdb_changes_since_last_save", dirty),
            ("rdb_bgsave_in_progress", int(self.rdb_bgsave_in_progress)),
            ("rdb_last_save_time", self.rdb_last_save_time),
            ("rdb_last_bgsave_status", "ok" if self.rdb_last_bgsave_ok else "err"),
            ("rdb_last_bgsave_time_sec", self.rdb_last_bgsave_time_sec),
            ("rdb_current_bgsave_time_sec",
             int(now) - int(self.rdb_bgsave_start) if self.rdb_bgsave_in_progress else -1),
            ("rdb_saves", self.rdb_saves),
            ("rdb_last_cow_size", 0),
            ("rdb_last_load_keys_expired", self.rdb_last_load_keys_expired),
            ("rdb_last_load_keys_loaded", self.rdb_last_load_keys_loaded),
            ("aof_enabled", int(self.aof_enabled)),
            ("aof_rewrite_in_progress", int(self.aof_rewrite_in_progress)),
            ("aof_rewrite_scheduled", int(self.aof_rewrite_scheduled)),
            ("aof_last_rewrite_time_sec", self.aof_last_rewrite_time_sec),
            ("aof_current_rewrite_time_sec",
             int(now - self.aof_rewrite_start) if self.aof_rewrite_in_progress else -1),
            ("aof_last_bgrewrite_status", "ok" if self.aof_last_bgrewrite_ok else "err"),
            ("aof_rewrites", self.aof_rewrites),
            ("aof_rewrites_consecutive_failures", self.aof_rewrites_consecutive_failures),
            ("aof_last_write_status", "ok" if self.aof_last_write_ok else "err"),
            ("aof_last_cow_size", 0),
            ("module_fork_in_progress", 0),
            ("module_fork_last_cow_size", 0),
        ]
        if appendonly:
            fields += [
                ("aof_current_size", self.aof_current_size),
                ("aof_base_size", self.aof_base_size),
                ("aof_pending_rewrite", int(self.aof_rewrite_scheduled)),
                ("aof_buffer_length", self.aof_buffer_length),
                ("aof_pending_bio_fsync", self.aof_pending_bio_fsync),
                ("aof_delayed_fsync", self.aof_delayed_fsync),
            ]
        if self.loading:
            fields += self._loading_fields(now)
        return fields

    def _loading_fields(self, now: float) -> list[tuple[str, object]]:
        elapsed = now - self.loading_start_time
        loaded, total = self.loading_loaded_bytes, self.loading_total_bytes
        if total:
            perc = 100.0 * loaded / total
        elif self.loading_rdb_used_mem:
            perc = min(99.99, 100.0 * loaded / self.loading_rdb_used_mem)
        else:
            perc = 0.0
        eta = 1 if elapsed <= 0 else int(elapsed * (total - loaded) / (loaded + 1))
        return [
            ("loading_start_time", self.loading_start_time),
            ("loading_total_bytes", total),
            ("loading_rdb_used_mem", self.loading_rdb_used_mem),
            ("loading_loaded_bytes", loaded),
            ("loading_loaded_perc", "%.2f" % perc),
            ("loading_eta_seconds", eta),
        ]
