"""Pub/Sub commands: SUBSCRIBE, UNSUBSCRIBE, PSUBSCRIBE, PUNSUBSCRIBE, PUBLISH and PUBSUB
CHANNELS / NUMSUB / NUMPAT / HELP. The hub they drive is server/pubsub.py.

A (un)subscribe command answers once per channel, each answer a push (``>`` in RESP3, an array in
RESP2) carrying the client's total number of subscriptions. The answers go into the output buffer in
order with other replies (inside EXEC they become elements of EXEC's array, as in Redis), so the
handlers write them there themselves and return no reply of their own.
"""

from __future__ import annotations

from emberkv.commands.errors import CommandError
from emberkv.commands.table import command, container
from emberkv.keyspace.glob import glob_match
from emberkv.protocol.replies import NO_REPLY, Push, SimpleString

container("pubsub", group="pubsub", summary="Ask about the state of Pub/Sub: channels, subscribers, patterns.")


def _confirm(c, kind: bytes, name: bytes | None) -> None:
    c.encode(Push([kind, name, c.subscriptions]), c.out)


@command("subscribe", -2, "pubsub noscript loading stale", group="pubsub")
def subscribe(c, argv):
    """Listen for messages published to channels."""
    hub = c.server.pubsub
    for channel in argv[1:]:
        hub.subscribe(c, channel)
        _confirm(c, b"subscribe", channel)
    return NO_REPLY


@command("unsubscribe", -1, "pubsub noscript loading stale", group="pubsub")
def unsubscribe(c, argv):
    """Stop listening to some channels, or to all of them."""
    hub = c.server.pubsub
    channels = argv[1:] or list(c.channels)
    if not channels:
        _confirm(c, b"unsubscribe", None)
    for channel in channels:
        hub.unsubscribe(c, channel)
        _confirm(c, b"unsubscribe", channel)
    return NO_REPLY


@command("psubscribe", -2, "pubsub noscript loading stale", group="pubsub")
def psubscribe(c, argv):
    """Listen for messages published to channels whose names match glob patterns."""
    hub = c.server.pubsub
    for pattern in argv[1:]:
        hub.psubscribe(c, pattern)
        _confirm(c, b"psubscribe", pattern)
    return NO_REPLY


@command("punsubscribe", -1, "pubsub noscript loading stale", group="pubsub")
def punsubscribe(c, argv):
    """Stop listening to some patterns, or to all of them."""
    hub = c.server.pubsub
    patterns = argv[1:] or list(c.patterns)
    if not patterns:
        _confirm(c, b"punsubscribe", None)
    for pattern in patterns:
        hub.punsubscribe(c, pattern)
        _confirm(c, b"punsubscribe", pattern)
    return NO_REPLY


@command("publish", 3, "pubsub loading stale fast", group="pubsub")
def publish(c, argv):
    """Send a message to a channel; the reply counts the clients that received it."""
    return c.server.pubsub.publish(argv[1], argv[2])


@command("channels", -2, "pubsub loading stale", parent="pubsub", group="pubsub")
def pubsub_channels(c, argv):
    """Channels that have at least one subscriber, optionally only those matching a pattern."""
    channels = c.server.pubsub.channels
    if len(argv) == 2:
        return list(channels)
    if len(argv) > 3:
        raise CommandError(
            "ERR unknown subcommand or wrong number of arguments for 'channels'. Try PUBSUB HELP.")
    pattern = argv[2]
    return [name for name in channels if glob_match(pattern, name)]


@command("numsub", -2, "pubsub loading stale", parent="pubsub", group="pubsub")
def pubsub_numsub(c, argv):
    """Number of subscribers of each channel given (patterns not counted)."""
    channels = c.server.pubsub.channels
    out: list = []
    for name in argv[2:]:
        out.append(name)
        out.append(len(channels.get(name, ())))
    return out


@command("numpat", 2, "pubsub loading stale", parent="pubsub", group="pubsub")
def pubsub_numpat(c, argv):
    """Number of distinct patterns clients are subscribed to."""
    return len(c.server.pubsub.patterns)


PUBSUB_HELP = [
    "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CHANNELS [<pattern>]",
    "    Channels with at least one subscriber, those matching <pattern> if given (default '*').",
    "NUMPAT",
    "    Number of distinct patterns with subscribers.",
    "NUMSUB [<channel> ...]",
    "    Subscriber count of each channel given, not counting pattern subscriptions.",
    "HELP",
    "    This text.",
]


@command("help", 2, "loading stale", parent="pubsub", group="pubsub")
def pubsub_help(c, argv):
    """What each PUBSUB subcommand does."""
    return [SimpleString(line.encode()) for line in PUBSUB_HELP]
