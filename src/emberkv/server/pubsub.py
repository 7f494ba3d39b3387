"""The Pub/Sub hub: who is subscribed to which channel or pattern, and delivery of messages.

Also the publisher of keyspace notifications (``__keyspace@<db>__:<key>`` and
``__keyevent@<db>__:<event>``), which the keyspace calls through ``Keyspace.notifier``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from emberkv.keyspace.db import NOTIFY_KEYEVENT, NOTIFY_KEYSPACE, Database
from emberkv.keyspace.glob import glob_match
from emberkv.protocol.replies import Push

if TYPE_CHECKING:
    from emberkv.server.app import Server
    from emberkv.server.client import Client


class PubSub:
    def __init__(self, server: Server) -> None:
        self.server = server
        self.channels: dict[bytes, dict[int, Client]] = {}
        self.patterns: dict[bytes, dict[int, Client]] = {}
        server.keyspace.notifier = self.notify_keyspace_event

    def subscribe(self, c: Client, channel: bytes) -> None:
        if channel not in c.channels:
            c.channels.add(channel)
            self.channels.setdefault(channel, {})[c.id] = c

    def unsubscribe(self, c: Client, channel: bytes) -> bool:
        if channel not in c.channels:
            return False
        c.channels.discard(channel)
        subscribers = self.channels.get(channel)
        if subscribers is not None:
            subscribers.pop(c.id, None)
            if not subscribers:
                del self.channels[channel]
        return True

    def psubscribe(self, c: Client, pattern: bytes) -> None:
        if pattern not in c.patterns:
            c.patterns.add(pattern)
            self.patterns.setdefault(pattern, {})[c.id] = c

    def punsubscribe(self, c: Client, pattern: bytes) -> bool:
        if pattern not in c.patterns:
            return False
        c.patterns.discard(pattern)
        subscribers = self.patterns.get(pattern)
        if subscribers is not None:
            subscribers.pop(c.id, None)
            if not subscribers:
                del self.patterns[pattern]
        return True

    def unsubscribe_all(self, c: Client) -> None:
        for channel in list(c.channels):
            self.unsubscribe(c, channel)
        for pattern in list(c.patterns):
            self.punsubscribe(c, pattern)

    def publish(self, channel: bytes, message: bytes) -> int:
        """Deliver to channel subscribers, then to matching patterns; returns the receiver count."""
        receivers = 0
        for c in list(self.channels.get(channel, {}).values()):
            c.push(Push([b"message", channel, message]))
            receivers += 1
        for pattern, subscribers in list(self.patterns.items()):
            if glob_match(pattern, channel):
                for c in list(subscribers.values()):
                    c.push(Push([b"pmessage", pattern, channel, message]))
                    receivers += 1
        return receivers

    def notify_keyspace_event(self, cls: int, event: bytes, db: Database, key: bytes) -> None:
        flags = self.server.keyspace.notify_flags
        if flags & NOTIFY_KEYSPACE:
            self.publish(b"__keyspace@%d__:%s" % (db.id, key), event)
        if flags & NOTIFY_KEYEVENT:
            self.publish(b"__keyevent@%d__:%s" % (db.id, event), key)
