"""The Pub/Sub hub: who is subscribed to which channel or pattern, and delivery of messages.

Also the publisher of keyspace notifications (``__keyspace@<db>__:<key>`` and
``__keyevent@<db>__:<event>``), which the keyspace calls through ``Keyspace.notifier``, and the
reader of ``notify-keyspace-events`` that decides which of them are published.

A message is appended to the receiver's output buffer, like any reply, and the receivers' buffers
are handed to ``server.reply_ready`` once per turn of the event loop. Going through the buffer keeps
the order Redis gives: a RESP3 client that publishes to a channel it listens to gets the message
before PUBLISH's own reply, and a burst of messages costs one write per receiver, not one per message.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from emberkv.keyspace.db import (
    NOTIFY_EVICTED,
    NOTIFY_EXPIRED,
    NOTIFY_GENERIC,
    NOTIFY_HASH,
    NOTIFY_KEY_MISS,
    NOTIFY_KEYEVENT,
    NOTIFY_KEYSPACE,
    NOTIFY_LIST,
    NOTIFY_NEW,
    NOTIFY_SET,
    NOTIFY_STREAM,
    NOTIFY_STRING,
    NOTIFY_ZSET,
    Database,
)
from emberkv.keyspace.glob import glob_match
from emberkv.protocol.replies import Push

if TYPE_CHECKING:
    from emberkv.server.app import Server
    from emberkv.server.client import Client

# Module events ('d'): emberkv has no modules, but Redis accepts the letter and 'A' includes it.
NOTIFY_MODULE = 1 << 13
NOTIFY_ALL = (NOTIFY_GENERIC | NOTIFY_STRING | NOTIFY_LIST | NOTIFY_SET | NOTIFY_HASH | NOTIFY_ZSET
              | NOTIFY_EXPIRED | NOTIFY_EVICTED | NOTIFY_STREAM | NOTIFY_MODULE)

# Letters of notify-keyspace-events, in the order CONFIG GET prints the classes.
_CLASS_LETTERS = (
    ("g", NOTIFY_GENERIC), ("$", NOTIFY_STRING), ("l", NOTIFY_LIST), ("s", NOTIFY_SET),
    ("h", NOTIFY_HASH), ("z", NOTIFY_ZSET), ("x", NOTIFY_EXPIRED), ("e", NOTIFY_EVICTED),
    ("t", NOTIFY_STREAM), ("d", NOTIFY_MODULE), ("n", NOTIFY_NEW),
)
_LETTERS = {**dict(_CLASS_LETTERS), "A": NOTIFY_ALL, "K": NOTIFY_KEYSPACE, "E": NOTIFY_KEYEVENT,
            "m": NOTIFY_KEY_MISS}
INVALID_EVENT_CLASS = "Invalid event class character. Use 'Ag$lshzxeKEtmdn'."


def parse_notify_flags(text: str | bytes) -> int | None:
    """The NOTIFY_* flags that a notify-keyspace-events string names; None if a letter is unknown."""
    if isinstance(text, bytes):
        text = text.decode("latin-1")
    flags = 0
    for letter in text:
        flag = _LETTERS.get(letter)
        if flag is None:
            return None
        flags |= flag
    return flags


def format_notify_flags(flags: int) -> str:
    """The canonical spelling CONFIG GET shows: 'A' for all classes, then K, E and m.

    As in Redis 7.0, 'n' is not shown once 'A' is (it is not part of 'A', but the check stops there)."""
    if flags & NOTIFY_ALL == NOTIFY_ALL:
        text = "A"
    else:
        text = "".join(letter for letter, flag in _CLASS_LETTERS if flags & flag)
    for letter, flag in (("K", NOTIFY_KEYSPACE), ("E", NOTIFY_KEYEVENT), ("m", NOTIFY_KEY_MISS)):
        if flags & flag:
            text += letter
    return text


class PubSub:
    def __init__(self, server: Server) -> None:
        self.server = server
        # channel (or pattern) -> {client id: client}, in subscription order.
        self.channels: dict[bytes, dict[int, Client]] = {}
        self.patterns: dict[bytes, dict[int, Client]] = {}
        # Receivers with messages in their buffers, flushed once per loop turn.
        self._receivers: dict[int, Client] = {}
        self._flush_scheduled = False
        server.keyspace.notifier = self.notify_keyspace_event
        self.apply_notify_config()
        server.config.on_change("notify-keyspace-events", self.apply_notify_config)

    def apply_notify_config(self, *_args: object) -> None:
        """Set the keyspace's notification flags from notify-keyspace-events (start-up and CONFIG SET)."""
        flags = parse_notify_flags(self.server.config["notify-keyspace-events"])
        self.server.keyspace.notify_flags = flags or 0

    # -- subscriptions -----------------------------------------------------------------------------

    def subscribe(self, c: Client, channel: bytes) -> None:
        if channel not in c.channels:
            c.channels.add(channel)
            self.channels.setdefault(channel, {})[c.id] = c

    def unsubscribe(self, c: Client, channel: bytes) -> bool:
        if channel not in c.channels:
            return False
        c.channels.discard(channel)
        _forget(self.channels, channel, c)
        return True

    def psubscribe(self, c: Client, pattern: bytes) -> None:
        if pattern not in c.patterns:
            c.patterns.add(pattern)
            self.patterns.setdefault(pattern, {})[c.id] = c

    def punsubscribe(self, c: Client, pattern: bytes) -> bool:
        if pattern not in c.patterns:
            return False
        c.patterns.discard(pattern)
        _forget(self.patterns, pattern, c)
        return True

    def unsubscribe_all(self, c: Client) -> None:
        """Drop every subscription of c silently (the connection closed, or RESET)."""
        for channel in list(c.channels):
            self.unsubscribe(c, channel)
        for pattern in list(c.patterns):
            self.punsubscribe(c, pattern)

    # -- delivery ----------------------------------------------------------------------------------

    def publish(self, channel: bytes, message: bytes) -> int:
        """Deliver to channel subscribers, then to matching patterns; returns the receiver count."""
        receivers = 0
        subscribers = self.channels.get(channel)
        if subscribers:
            for c in list(subscribers.values()):
                self._deliver(c, Push([b"message", channel, message]))
            receivers = len(subscribers)
        if self.patterns:
            for pattern, clients in list(self.patterns.items()):
                if glob_match(pattern, channel):
                    for c in list(clients.values()):
                        self._deliver(c, Push([b"pmessage", pattern, channel, message]))
                        receivers += 1
        return receivers

    def _deliver(self, c: Client, message: Push) -> None:
        if c.closed:
            return
        c.encode(message, c.out)
        self._receivers[c.id] = c
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self.server.loop.call_soon(self.flush)

    def flush(self) -> None:
        """Hand the receivers' buffers to the server for writing."""
        self._flush_scheduled = False
        receivers, self._receivers = self._receivers, {}
        for c in receivers.values():
            if not c.closed:
                self.server.reply_ready(c)

    def notify_keyspace_event(self, cls: int, event: bytes, db: Database, key: bytes) -> None:
        flags = self.server.keyspace.notify_flags
        if flags & NOTIFY_KEYSPACE:
            self.publish(b"__keyspace@%d__:%s" % (db.id, key), event)
        if flags & NOTIFY_KEYEVENT:
            self.publish(b"__keyevent@%d__:%s" % (db.id, event), key)


def _forget(registry: dict[bytes, dict[int, Client]], name: bytes, c: Client) -> None:
    subscribers = registry.get(name)
    if subscribers is not None:
        subscribers.pop(c.id, None)
        if not subscribers:
            del registry[name]
