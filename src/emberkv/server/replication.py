"""Replication, master side: full resynchronisation through the snapshot engine, and the stream after it.

A replica (a real Redis replica, ``redis-cli --rdb``, ``emberkv backup create``) asks for a full
resynchronisation and receives the dataset as an RDB made by the snapshot engine, so other clients keep
being served while it is produced. Two transfer forms exist, as in Redis:

* diskless (the replica announced ``REPLCONF capa eof`` and ``repl-diskless-sync`` is on): the RDB goes
  straight to the sockets framed as ``$EOF:<40 random chars>\\r\\n`` + RDB + the same 40 chars, since its
  size is not known in advance;
* disk (older replicas): the RDB is written to a temporary file first, then sent as ``$<size>\\r\\n`` + RDB.

PSYNC always answers ``+FULLRESYNC <replid> <offset>`` first (there is no backlog for a partial resync);
plain SYNC gets the payload alone. Until their transfer starts, waiting replicas get a ``\\n`` every second
to keep the link alive. A replica that sent ``REPLCONF rdb-only 1`` is disconnected once its RDB is out;
any other one stays online and receives every write effect that followed the snapshot's start (the
replication stream), so a real Redis can replicate from emberkv.

Once it asked for a sync, a connection stops being an ordinary client: ``ReplicaLink`` takes over as the
transport's protocol. Replies to anything the replica sends are dropped (Redis never answers a replica);
``REPLCONF ACK`` updates its acknowledged offset. The link's ``pause_writing``/``resume_writing`` pause the
snapshot when a socket falls behind, so a slow replica cannot make the server buffer the whole dataset.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import TYPE_CHECKING, Any

from emberkv.persistence.rdb.writer import RdbWriter
from emberkv.persistence.saving import encoding_limits, rdb_aux
from emberkv.persistence.snapshot import Snapshot
from emberkv.protocol.resp import ProtocolError, QueryBufferOverflow, RequestParser

if TYPE_CHECKING:
    from emberkv.commands.replication import ReplicaOptions
    from emberkv.server.app import Server
    from emberkv.server.client import Client

EOF_MARK_LEN = 40
KEEPALIVE_SECONDS = 1.0  # newline to replicas waiting for their payload
HIGH_WATER = 4 << 20  # a replica socket buffering more than this pauses the snapshot
LOW_WATER = 1 << 20
FILE_CHUNK = 1 << 20
PING = b"*1\r\n$4\r\nPING\r\n"


class ReplicaLink(asyncio.Protocol):
    """One replica's connection from the moment it asked for a sync."""

    def __init__(self, master: ReplicationMaster, c: Client, psync: bool, options: ReplicaOptions) -> None:
        self.master = master
        self.client = c
        self.transport = c.transport
        self.psync = psync
        self.options = options
        self.parser = RequestParser()
        # wait (for a snapshot) -> transfer (snapshot running) -> send (disk: file going out) -> online;
        # after a diskless transfer, ackwait until the replica's first REPLCONF ACK (it finds the end of
        # an EOF-marked payload only if nothing follows the marker). An rdb-only replica is disconnected
        # instead of going online.
        self.state = "wait"
        self.paused = False
        self.closed = False
        self.ack_offset = 0
        # Stream bytes produced while this replica's snapshot is in flight: they follow its RDB.
        self.backlog: list[bytes] | None = None
        self.file: Any = None  # disk transfers: the RDB being sent, and what is left of it
        self.file_left = 0
        self.host = options.ip_address or c.addr.rsplit(":", 1)[0]
        port = str(options.listening_port) if options.listening_port else "<unknown-replica-port>"
        self.name = f"{self.host}:{port}"

    # -- asyncio.Protocol ------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        self.client.last_interaction = time.time()
        try:
            commands = self.parser.feed(data)
        except (ProtocolError, QueryBufferOverflow):
            self.close()
            return
        for argv in commands:
            if len(argv) >= 3 and argv[0].lower() == b"replconf" and argv[1].lower() == b"ack":
                try:
                    self.ack_offset = int(argv[2])
                except ValueError:
                    continue
                if self.state == "ackwait":
                    self.master.go_online(self)

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        if self.file is not None:
            self.pump_file()
        else:
            self.master.link_drained()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.file is not None:
            self.file.close()
            self.file = None
        self.master.drop(self)
        self.client.connection_lost(exc)

    # -- output ----------------------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        if not self.closed:
            self.transport.write(data)
            self.client.last_interaction = time.time()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.transport.close()

    def send_file(self, path: str, size: int) -> None:
        """Disk transfer: ``$<size>`` then the file, a chunk at a time as the socket drains."""
        if self.closed:
            return
        self.state = "send"
        self.file = open(path, "rb")  # noqa: SIM115 - closed when sent or when the link goes
        self.file_left = size
        self.write(b"$%d\r\n" % size)
        self.pump_file()

    def pump_file(self) -> None:
        while not self.paused and not self.closed and self.file_left:
            chunk = self.file.read(min(FILE_CHUNK, self.file_left))
            if not chunk:
                self.close()  # the file shrank under us: let the replica retry
                return
            self.file_left -= len(chunk)
            self.write(chunk)
        if not self.file_left and self.file is not None:
            self.file.close()
            self.file = None
            self.master.payload_sent(self)


class Transfer:
    """One snapshot feeding the replicas that were waiting when it started: the snapshot's sink."""

    def __init__(self, links: list[ReplicaLink], diskless: bool) -> None:
        self.links = links
        self.diskless = diskless
        self.mark = os.urandom(EOF_MARK_LEN // 2).hex().encode()
        self.snapshot: Snapshot | None = None
        self.path = ""
        self.file: Any = None

    def write(self, data: bytes) -> int:
        """Straight to the sockets (pausing the snapshot when one falls behind), or to the temp file."""
        if not self.diskless:
            return self.file.write(data)
        paused = False
        for link in self.links:
            link.write(data)
            paused = paused or link.paused
        if paused and self.snapshot is not None:
            self.snapshot.pause()
        return len(data)

    def close_file(self) -> None:
        if self.file is not None and not self.file.closed:
            self.file.close()
        if self.path:
            _unlink(self.path)


class ReplicationMaster:
    """The replicas of one server and the stream of write effects they follow."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.offset = 0  # bytes of replication stream produced so far
        self.links: list[ReplicaLink] = []
        self.transfer: Transfer | None = None
        self.stream_db = -1
        self.feeding = False
        self.last_keepalive = 0.0
        self.last_ping = time.time()
        server.cron_jobs.append(self.cron)

    @property
    def online(self) -> list[ReplicaLink]:
        return [link for link in self.links if link.state == "online"]

    # -- sync ------------------------------------------------------------------------------------

    def attach(self, c: Client, psync: bool, options: ReplicaOptions) -> None:
        """c asked for a sync: from now on its connection is a replica link."""
        link = ReplicaLink(self, c, psync, options)
        c.transport.set_write_buffer_limits(high=HIGH_WATER, low=LOW_WATER)
        c.transport.set_protocol(link)
        self.server.log.notice(f"Replica {link.name} asks for synchronization")
        if link.psync:
            self.server.log.notice(f"Full resync requested by replica {link.name}")
        self.links.append(link)
        self.maybe_start()

    def maybe_start(self) -> None:
        """Start a transfer for the waiting replicas once no other snapshot runs (one at a time)."""
        server = self.server
        links = [link for link in self.links if link.state == "wait"]
        if self.transfer is not None or not links or server.keyspace.snapshot is not None:
            return
        diskless = server.config["repl-diskless-sync"] and all(
            link.options.capa_eof for link in links)
        transfer = Transfer(links, diskless)
        server.log.notice(f"Starting BGSAVE for SYNC with target: {'replicas sockets' if diskless else 'disk'}")
        if not diskless:
            transfer.path = os.path.abspath(f"temp-sync-{os.getpid()}-{id(transfer)}.rdb")
            try:
                transfer.file = open(transfer.path, "wb")  # noqa: SIM115 - closed by close_file
            except OSError as exc:
                server.log.warning(f"Can't open the temp file for the replica sync: {exc.strerror}")
                for link in links:
                    link.close()
                return
        self.transfer = transfer
        self.stream_db = -1  # the stream that follows a new RDB starts with a SELECT
        for link in links:
            link.state = "transfer"
            if link.psync:
                link.write(b"+FULLRESYNC %s %d\r\n" % (server.run_id.encode(), self.offset))
            if diskless:
                link.write(b"$EOF:" + transfer.mark + b"\r\n")
            if not link.options.rdb_only:
                link.backlog = []
        self._update_feed()
        config = server.config
        aux = rdb_aux(server)
        aux[b"repl-offset"] = self.offset
        writer = RdbWriter(transfer, config["rdbcompression"], config["rdbchecksum"],
                           encoding_limits(config))
        if any(link.options.filtered for link in links):
            # REPLCONF rdb-filter-only: keys are filtered out, and emberkv has no function libraries.
            writer.write_header(aux)
            writer.finish()
            self.snapshot_done(None)
            return
        transfer.snapshot = Snapshot(server.keyspace, server.loop, writer, aux, self.snapshot_done,
                                     key_delay_us=max(0, server.config["rdb-key-save-delay"]))
        server.log.notice(f"Background RDB transfer started by pid {os.getpid()}")
        transfer.snapshot.start()

    def link_drained(self) -> None:
        transfer = self.transfer
        if transfer is not None and transfer.snapshot is not None and transfer.diskless:
            if not any(link.paused for link in transfer.links):
                transfer.snapshot.resume()

    def snapshot_done(self, error: BaseException | None) -> None:
        transfer = self.transfer
        if transfer is None:
            return
        self.transfer = None
        # The snapshot slot is free: replicas that asked meanwhile get the next one.
        self.server.loop.call_soon(self.maybe_start)
        log = self.server.log
        if error is not None:
            log.warning(f"Background RDB transfer error: {error}")
            transfer.close_file()
            for link in transfer.links:
                link.close()
            return
        log.notice("Background RDB transfer terminated with success")
        if transfer.diskless:
            for link in list(transfer.links):
                link.write(transfer.mark)
                log.notice(f"Streamed RDB transfer with replica {link.name} succeeded (socket). "
                           "Waiting for REPLCONF ACK from slave to enable streaming")
                self.payload_sent(link, wait_ack=True)
            return
        try:
            transfer.file.flush()
            size = transfer.file.tell()
            transfer.file.close()
            for link in transfer.links:
                link.send_file(transfer.path, size)
        except OSError as exc:
            log.warning(f"Failed sending the RDB to replicas: {exc.strerror}")
            for link in transfer.links:
                link.close()
        finally:
            transfer.close_file()  # open handles keep the data until each replica has it all

    def payload_sent(self, link: ReplicaLink, wait_ack: bool = False) -> None:
        """The whole RDB is on its way: disconnect an rdb-only replica, put any other one online."""
        if link.closed:
            return
        if link.options.rdb_only:
            self.server.log.notice(
                f"RDB transfer completed, rdb only replica ({link.name}) should be disconnected asap")
            link.close()
            return
        if wait_ack:
            link.state = "ackwait"
            return
        self.go_online(link)

    def go_online(self, link: ReplicaLink) -> None:
        """Send the stream that piled up during the transfer; from now on the replica gets it live."""
        backlog, link.backlog = link.backlog or [], None
        link.state = "online"
        if backlog:
            link.write(b"".join(backlog))
        self.server.log.notice(f"Synchronization with replica {link.name} succeeded")

    def drop(self, link: ReplicaLink) -> None:
        """A replica's connection is gone."""
        self.server.log.warning(f"Connection with replica {link.name} lost.")
        if link in self.links:
            self.links.remove(link)
        transfer = self.transfer
        if transfer is not None and link in transfer.links:
            transfer.links.remove(link)
            if not transfer.links and transfer.snapshot is not None:
                transfer.snapshot.abort(ConnectionError("every replica of the transfer went away"))
            else:
                self.link_drained()
        self._update_feed()

    # -- the replication stream ------------------------------------------------------------------

    def _update_feed(self) -> None:
        """Follow the write effects only while some replica wants the stream."""
        wanted = any(not link.options.rdb_only for link in self.links)
        if wanted and not self.feeding:
            self.server.effect_feeds.append(self.feed)
        elif self.feeding and not wanted:
            self.server.effect_feeds.remove(self.feed)
        self.feeding = wanted

    def feed(self, effects: list[tuple[int, list[bytes]]], multi: bool) -> None:
        """Write effects as Redis propagates them: SELECT when the db changes, MULTI/EXEC around."""
        if not effects:
            return
        out: list[bytes] = []
        if multi:
            self._select(effects[0][0], out)
            out.append(b"*1\r\n$5\r\nMULTI\r\n")
        for dbid, argv in effects:
            self._select(dbid, out)
            out.append(_encode(argv))
        if multi:
            out.append(b"*1\r\n$4\r\nEXEC\r\n")
        self._emit(b"".join(out))

    def _select(self, dbid: int, out: list[bytes]) -> None:
        if dbid != self.stream_db:
            self.stream_db = dbid
            out.append(_encode([b"SELECT", b"%d" % dbid]))

    def _emit(self, data: bytes) -> None:
        self.offset += len(data)
        for link in self.links:
            if link.state == "online":
                link.write(data)
            elif link.backlog is not None:
                link.backlog.append(data)

    # -- cron ------------------------------------------------------------------------------------

    def cron(self) -> None:
        """Start a queued transfer, keep waiting replicas' links alive, ping the online ones."""
        now = time.time()
        self.maybe_start()
        if now - self.last_keepalive >= KEEPALIVE_SECONDS:
            self.last_keepalive = now
            diskless = self.transfer is not None and self.transfer.diskless
            for link in self.links:
                if link.state == "wait" or (link.state == "transfer" and not diskless):
                    link.write(b"\n")
        if now - self.last_ping >= self.server.config["repl-ping-replica-period"]:
            self.last_ping = now
            if any(link.state == "online" for link in self.links):
                self._emit(PING)


def _encode(argv: list[bytes]) -> bytes:
    return b"*%d\r\n" % len(argv) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in argv)


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def master_of(server: Server) -> ReplicationMaster:
    master = getattr(server, "replication", None)
    if master is None:
        master = ReplicationMaster(server)
        server.replication = master  # type: ignore[attr-defined]
    return master
