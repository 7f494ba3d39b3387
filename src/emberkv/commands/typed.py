"""Typed key lookups shared by the collection families: the value at a key when it has the expected
type, None when the key is missing, WRONGTYPE otherwise."""

from __future__ import annotations

from typing import TypeVar

from emberkv.commands.errors import WRONGTYPE, CommandError

V = TypeVar("V")


def read_typed(c, key: bytes, cls: type[V]) -> V | None:
    """The value at key for reading (a hit/miss counts, lazy expiry applies)."""
    value = c.ks.lookup_read(c.db, key)
    if value is None or type(value) is cls:
        return value
    raise CommandError(WRONGTYPE)


def write_typed(c, key: bytes, cls: type[V]) -> V | None:
    """The value at key, about to be changed in place (the snapshot hook runs first)."""
    value = c.ks.lookup_write(c.db, key)
    if value is None or type(value) is cls:
        return value
    raise CommandError(WRONGTYPE)
