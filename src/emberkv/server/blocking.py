"""Clients blocked on keys (BLPOP, BLMOVE, BZPOPMIN, ...): who waits for what, wake-ups and timeouts.

A blocking handler first tries to serve itself; when there is nothing to take it calls
``c.server.blocking.block(c, keys, timeout_ms, cmd, argv)`` and returns ``BLOCKED``. The client then
stops executing its input. A write that may feed a waiter calls ``keyspace.signal_ready(db, key)``;
after that command finishes (after EXEC for a transaction) every ready key is offered to its waiters in
the order they blocked, by running their command again. A command that still finds nothing just keeps
waiting, with its original deadline. Timeouts answer the command's null reply.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any

from emberkv.protocol.replies import NULL_ARRAY, NoReply
from emberkv.protocol.resp import RESP2_TABLE, RESP3_TABLE

if TYPE_CHECKING:
    from emberkv.commands.table import Command
    from emberkv.server.app import Server
    from emberkv.server.client import Client


class _Blocked(NoReply):
    """Returned by a handler that has parked its client: nothing is replied yet."""

    __slots__ = ()


BLOCKED = _Blocked()
# The encoder finds a reply's writer by its exact type: a parked client's non-reply writes nothing.
for _table in (RESP2_TABLE, RESP3_TABLE):
    _table[_Blocked] = _table[NoReply]


class BlockState:
    __slots__ = ("db", "keys", "cmd", "argv", "timer", "timeout_reply", "ready_key")

    def __init__(self, db: Any, keys: list[bytes], cmd: Command, argv: list[bytes], timeout_reply: Any):
        self.db = db
        self.keys = keys
        self.cmd = cmd
        self.argv = argv
        self.timer: Any = None
        self.timeout_reply = timeout_reply
        # The key whose readiness is being offered when the command runs again: Redis 7.0 serves a
        # waiter from that key only, not from the first non-empty key of its list.
        self.ready_key: bytes | None = None


class Blocking:
    def __init__(self, server: Server) -> None:
        self.server = server
        # (dbid, key) -> clients waiting, in the order they blocked
        self.waiters: dict[tuple[int, bytes], deque] = {}
        self.blocked_clients = 0
        self.serving = False
        # Set by block() when a waiter's command, run again on a ready key, found nothing.
        self.still_waiting = False
        # Clients served while ready keys are being handed out, whose queued input runs afterwards.
        self.to_resume: list[Client] = []

    def block(self, c: Client, keys: list[bytes], timeout_ms: int, cmd: Command, argv: list[bytes],
              timeout_reply: Any = NULL_ARRAY) -> _Blocked:
        """Park c until one of keys is ready or timeout_ms (absolute ms, 0 = forever) passes."""
        if c.blocked is not None:
            # A retry that found nothing: keep its place in the queues and its deadline.
            self.still_waiting = True
            return BLOCKED
        state = BlockState(c.db, keys, cmd, argv, timeout_reply)
        self.blocked_clients += 1
        c.blocked = state
        counts = self.server.keyspace.blocking_keys
        for key in dict.fromkeys(keys):
            self.waiters.setdefault((c.db.id, key), deque()).append(c)
            counts[(c.db.id, key)] = counts.get((c.db.id, key), 0) + 1
        if timeout_ms:
            loop = self.server.loop
            delay = max(0.0, (timeout_ms - self.server.keyspace.now_ms) / 1000)
            state.timer = loop.call_later(delay, self.timeout, c)
        return BLOCKED

    def unblock(self, c: Client) -> None:
        """Forget that c waits (it was served, timed out, was unblocked or went away)."""
        state = c.blocked
        if state is None:
            return
        c.blocked = None
        self.blocked_clients -= 1
        if state.timer is not None:
            state.timer.cancel()
        counts = self.server.keyspace.blocking_keys
        for key in dict.fromkeys(state.keys):
            ref = (state.db.id, key)
            queue = self.waiters.get(ref)
            if queue is not None:
                try:
                    queue.remove(c)
                except ValueError:
                    pass
                if not queue:
                    del self.waiters[ref]
            left = counts.get(ref, 0) - 1
            if left > 0:
                counts[ref] = left
            else:
                counts.pop(ref, None)

    def timeout(self, c: Client) -> None:
        state = c.blocked
        if state is None:
            return
        self.unblock(c)
        c.encode(state.timeout_reply, c.out)
        self.finish(c)

    def cancel(self, c: Client, reply: Any) -> None:
        """CLIENT UNBLOCK: end the wait now with reply (the null reply or an error)."""
        self.unblock(c)
        c.encode(reply, c.out)
        self.finish(c)

    def finish(self, c: Client) -> None:
        self.server.reply_ready(c)
        if c.pending:
            if self.serving:
                # Like Redis, a served client's pipelined commands wait until every ready key has
                # been offered: running them now would let it jump ahead of clients that blocked
                # before its next BLPOP.
                self.to_resume.append(c)
            else:
                c.resume()

    def handle_ready_keys(self) -> None:
        """Offer every key made ready by the last command to its waiters, first come first served."""
        if self.serving:
            return
        from emberkv.server.dispatch import call  # dispatch imports this module's users

        ks = self.server.keyspace
        self.serving = True
        try:
            while ks.ready_keys:
                ready, ks.ready_keys = ks.ready_keys, []
                for db, key in dict.fromkeys((d, k) for d, k in ready):
                    queue = self.waiters.get((db.id, key))
                    if not queue:
                        continue
                    for c in list(queue):
                        if key not in db.data:
                            break
                        state = c.blocked
                        if state is None:
                            continue
                        self.still_waiting = False
                        state.ready_key = key
                        call(c, state.cmd, state.argv)
                        if not self.still_waiting:
                            self.unblock(c)
                            self.finish(c)
        finally:
            self.serving = False
        resume, self.to_resume = self.to_resume, []
        for c in resume:
            c.resume()
