"""Loading the AOF: the base file, then every incr file, replayed in order (spec §3.8, §3.9).

A file that starts with ``REDIS`` is loaded as an RDB first (keys whose TTL passed are kept: the commands
after it may still touch them), then read on as commands. Commands run through the command table with
a client that has no connection; the clock is frozen far in the past while loading, so no key expires
and an absolute expire time in the past is stored as is, exactly as the server had it when it logged
the commands (a key that expired back then was logged as a DEL). MULTI ... EXEC blocks run together.

Stricter than Redis where Redis would lose or corrupt data:

* a torn tail (an unfinished command, a partial annotation, an unfinished MULTI block, or a tail of NUL
  bytes left by a crash) is cut off only in the **last** file, and always back to the start of the
  unfinished transaction, so commands appended later can never be swallowed by it;
* a wrong argument count or a SELECT of a database that does not exist stops the load, like an
  unknown command, naming the file and the offset.

Everything else that is wrong stops start-up with one line: file, offset and reason.
"""

from __future__ import annotations

import gc
import os
import time
from collections.abc import Generator
from typing import TYPE_CHECKING

from emberkv.persistence.aof.format import AofFormatError, AofReader, parse_one
from emberkv.persistence.aof.manifest import AofFile, Manifest
from emberkv.persistence.aof.replay import AofLoadError, Replay
from emberkv.persistence.rdb.errors import RdbError
from emberkv.persistence.rdb.reader import LoadStats, RdbReader
from emberkv.persistence.saving import encoding_limits

__all__ = ["EMPTY", "LOADED", "NOT_EXIST", "TRUNCATED", "AofLoadError", "AofLoader"]

if TYPE_CHECKING:
    from emberkv.server.app import Server

# Small reads: the commands parsed from one are replayed while they are still in the CPU cache (at
# 256 KB the load took half as long again).
READ_CHUNK = 16 * 1024
SLICE_BYTES = 2 * 1024 * 1024  # serve clients (-LOADING, INFO) this often
PROGRESS_LOG_SECONDS = 1.0
# The clock while loading: earlier than any expire time, so nothing expires and nothing is relative.
LOAD_CLOCK_MS = -(2**62)
TAIL_SCAN_MAX = 64 * 1024 * 1024

# What loading the AOF came to.
NOT_EXIST, EMPTY, LOADED, TRUNCATED = "not-exist", "empty", "loaded", "truncated"


class AofLoader:
    """One load of the files a manifest lists into the (empty) keyspace, as a generator of slices."""

    def __init__(self, server: Server, aof_dir: str, manifest: Manifest, appendfilename: str) -> None:
        self.server = server
        self.dir = aof_dir
        self.manifest = manifest
        self.appendfilename = appendfilename
        self.replay = Replay(server)
        self.loaded_before = 0  # bytes of the files already loaded
        self.last_log = 0.0
        self.started = 0.0
        self.base_size = 0
        self.total_size = 0

    def steps(self, slice_bytes: int | None) -> Generator[int, None, str]:
        """Load everything, yielding between slices (how many keys or commands the slice loaded);
        returns NOT_EXIST, EMPTY, LOADED or TRUNCATED.
        Raises AofLoadError."""
        files = self.manifest.load_order()
        if not files:
            return NOT_EXIST
        sizes = []
        for f in files:
            try:
                sizes.append(os.stat(self._path(f)).st_size)
            except OSError as exc:
                raise AofLoadError(f"Unable to obtain the AOF file {f.name} length. stat: "
                                   f"{exc.strerror}") from None
        self.total_size = sum(sizes)
        if not self.total_size:
            return EMPTY
        server = self.server
        state, ks = server.persistence, server.keyspace
        saved = (ks.dirty, ks.stat_keyspace_hits, ks.stat_keyspace_misses, server.flushall_hooks)
        server.flushall_hooks = []  # no RDB save in the middle of a load
        gc_was_enabled = gc.isenabled()
        gc.disable()  # millions of objects created, none freed: the cyclic collector would only rescan
        self.started = self.last_log = time.time()
        was_loading = state.loading  # True for the whole of start-up
        state.loading = True
        state.loading_start_time = int(self.started)
        state.loading_total_bytes = self.total_size
        state.loading_loaded_bytes = 0
        result = LOADED
        try:
            for i, f in enumerate(files):
                last = i == len(files) - 1
                began = time.time()
                truncated = yield from self._load_file(f, last, slice_bytes)
                kind = "base" if f is self.manifest.base else "incr"
                server.log.notice(f"DB loaded from {kind} file {f.name}: {time.time() - began:.3f} seconds")
                if truncated:
                    result = TRUNCATED
                self.loaded_before += sizes[i]
            self.base_size = sizes[0] if self.manifest.base is not None else 0
        finally:
            state.loading = was_loading
            ks.now_ms = int(time.time() * 1000)
            ks.dirty, ks.stat_keyspace_hits, ks.stat_keyspace_misses, server.flushall_hooks = saved
            if gc_was_enabled:
                gc.enable()
        return result

    def _path(self, f: AofFile) -> str:
        return os.path.join(self.dir, f.name)

    def _load_file(self, f: AofFile, last: bool, slice_bytes: int | None) -> Generator[int, None, bool]:
        """Load one file; True when its torn tail was cut off."""
        path = self._path(f)
        try:
            fh = open(path, "rb")  # noqa: SIM115 - closed below
        except OSError as exc:
            raise AofLoadError(f"Fatal error: can't open the append log file {f.name} for reading: "
                               f"{exc.strerror}") from None
        self.replay.file = f.name
        with fh:
            size = os.fstat(fh.fileno()).st_size
            if size == 0:
                return False
            offset = 0
            if fh.read(5) == b"REDIS":
                fh.seek(0)
                offset = yield from self._load_rdb_part(fh, f, size, slice_bytes)
                fh.seek(offset)
            else:
                fh.seek(0)
            return (yield from self._load_commands(fh, f, offset, size, last, slice_bytes))

    def _load_rdb_part(self, fh, f: AofFile, size: int, slice_bytes: int | None) -> Generator[int, None, int]:
        server = self.server
        old_style = f.name == self.appendfilename
        server.log.notice("Reading RDB preamble from AOF file..." if old_style
                          else "Reading RDB base file on AOF loading...")
        stats = LoadStats()
        try:
            reader = RdbReader(fh, encoding_limits(server.config), server.config["rdbchecksum"], size)
            keys = 0
            while not reader.load_into(server.keyspace, None, stats, slice_bytes):
                self._progress(reader.bytes_read)
                yield stats.keys_loaded - keys
                keys = stats.keys_loaded
        except RdbError as exc:
            what = "RDB preamble of the AOF file" if old_style else "RDB base file"
            raise AofLoadError(f"Error reading the {what} {f.name}, AOF loading aborted: {exc.reason} at "
                               f"offset {exc.offset}") from None
        server.log.notice(f"Done loading RDB, keys loaded: {stats.keys_loaded}, keys expired: 0.")
        if old_style:
            server.log.notice("Reading the remaining AOF tail...")
        return reader.bytes_read

    def _load_commands(self, fh, f: AofFile, offset: int, size: int, last: bool,
                       slice_bytes: int | None) -> Generator[int, None, bool]:
        reader = AofReader(offset)
        replay = self.replay
        ks = self.server.keyspace
        ks.now_ms = LOAD_CLOCK_MS
        since_yield = commands = 0
        read_size = min(READ_CHUNK, slice_bytes or READ_CHUNK)
        try:
            # A command bigger than a read is read in pieces that double, not in many small ones
            # (each read parses the unfinished command again).
            while chunk := fh.read(max(read_size, len(reader.pending))):
                reader.feed(chunk)
                for start, items in reader.batches():
                    replay.run(items, start)
                    commands += len(items)
                since_yield += len(chunk)
                if slice_bytes is not None and since_yield >= slice_bytes:
                    self._progress(reader.offset)
                    yield commands
                    since_yield = commands = 0
                    ks.now_ms = LOAD_CLOCK_MS  # clients served in between set the clock
        except AofFormatError as exc:
            if not (last and self._torn_by_nul(fh, reader.offset, exc.offset, size)):
                raise AofLoadError(
                    f"Bad file format reading the append only file {f.name} at offset {exc.offset} "
                    f"({exc.reason}): make a backup of your AOF file, then use emberkv check-aof --fix "
                    "<filename.manifest>"
                ) from None
            return self._cut_tail(f, replay.multi_start if replay.queue is not None else reader.offset,
                                  size, last, "a tail of NUL bytes")
        self._progress(reader.offset)
        if replay.queue is not None:
            self.server.log.warning(f"Revert incomplete MULTI/EXEC transaction in AOF file {f.name}")
            replay.queue = None
            return self._cut_tail(f, replay.multi_start, size, last, "an unfinished MULTI/EXEC block")
        if reader.pending:
            self._classify_tail(reader, f)
            return self._cut_tail(f, reader.offset, size, last, "an unfinished command")
        return False

    def _classify_tail(self, reader: AofReader, f: AofFile) -> None:
        """Bytes after the last complete command: an unfinished command or annotation is a torn write;
        anything else is a format error."""
        tail = reader.pending
        if tail[:1] == b"#":
            return
        try:
            parse_one(tail, 0, reader.offset)
        except AofFormatError as exc:
            raise AofLoadError(
                f"Bad file format reading the append only file {f.name} at offset {exc.offset} "
                f"({exc.reason}): make a backup of your AOF file, then use emberkv check-aof --fix "
                "<filename.manifest>"
            ) from None

    def _torn_by_nul(self, fh, boundary: int, error_at: int, size: int) -> bool:
        """A crash can leave NUL bytes where the last write did not land: is everything from the first
        NUL after the last complete command (and at or before the error) to the end NUL?"""
        if not self.server.config["aof-load-truncated"] or size - boundary > TAIL_SCAN_MAX:
            return False
        fh.seek(boundary)
        tail = fh.read(size - boundary)
        first = tail.find(b"\0")
        return 0 <= first <= error_at - boundary and not tail[first:].strip(b"\0")

    def _cut_tail(self, f: AofFile, valid: int, size: int, last: bool, what: str) -> bool:
        log = self.server.log
        if not last:
            raise AofLoadError(f"Fatal error: the truncated file is not the last file ({f.name} ends with "
                               f"{what} at offset {valid})")
        if not self.server.config["aof-load-truncated"]:
            raise AofLoadError(
                f"Unexpected end of file reading the append only file {f.name} ({what} at offset {valid}). "
                "You can: 1) Make a backup of your AOF file, then use emberkv check-aof --fix "
                "<filename.manifest>. 2) Alternatively you can set the 'aof-load-truncated' configuration "
                "option to yes and restart the server."
            )
        log.warning(f"!!! Warning: short read while loading the AOF file {f.name}!!!")
        log.warning(f"!!! Truncating the AOF {f.name} at offset {valid} !!!")
        try:
            os.truncate(self._path(f), valid)
        except OSError as exc:
            raise AofLoadError(f"Error truncating the AOF file {f.name}: {exc.strerror}") from None
        log.warning(f"Dropped {size - valid} bytes of {what} at the end of {f.name}")
        log.warning(f"AOF {f.name} loaded anyway because aof-load-truncated is enabled")
        return True

    def _progress(self, file_offset: int) -> None:
        loaded = self.loaded_before + file_offset
        self.server.persistence.loading_loaded_bytes = loaded
        now = time.time()
        if now - self.last_log >= PROGRESS_LOG_SECONDS and self.total_size:
            self.last_log = now
            elapsed = now - self.started
            eta = elapsed * (self.total_size - loaded) / (loaded + 1)
            self.server.log.notice(f"Loading AOF: {100.0 * loaded / self.total_size:.2f}% done, "
                                   f"ETA {eta:.0f} seconds")
