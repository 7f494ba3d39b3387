"""DEBUG DIGEST and DEBUG DIGEST-VALUE: a SHA1-based fingerprint of the dataset that equals Redis 7.0's
for the same data (spec/debug-digest.md), so a dataset can be compared with a real Redis after a load,
a migration or a restore.

Two ways of folding bytes into a 20-byte state D:

* ``xor_in(D, b)``: D ^= sha1(b). Order does not matter: used for set members, hash fields, zset
  members, whole keys.
* ``mix_in(D, b)``: D = sha1(D ^ sha1(b)). Order matters: used for sequences (list elements, the parts
  of one hash field or zset member, the database number).

States are kept as Python ints between steps so the xors are single operations.
"""

from __future__ import annotations

from hashlib import sha1

from emberkv.keyspace.values import HashValue, ListValue, RawString, SetValue, ZSetValue

ZERO20 = bytes(20)
EMPTY_DIGEST = b"0" * 40
_from = int.from_bytes


def _h(data: bytes) -> int:
    return _from(sha1(data).digest(), "big")


def _mix(state: int, data: bytes) -> int:
    return _h((state ^ _h(data)).to_bytes(20, "big"))


def _mix_hashed(state: int, hashed: int) -> int:
    """mix_in with sha1(data) already computed: the constants below are hashed once."""
    return _h((state ^ hashed).to_bytes(20, "big"))


# sha1 of Redis's type numbers (4 bytes, big endian), folded into every value's digest, and of the
# TTL mark.
_TYPE_STRING = _h((0).to_bytes(4, "big"))
_TYPE_LIST = _h((1).to_bytes(4, "big"))
_TYPE_SET = _h((2).to_bytes(4, "big"))
_TYPE_ZSET = _h((3).to_bytes(4, "big"))
_TYPE_HASH = _h((4).to_bytes(4, "big"))
_EXPIRE_MARK = _h(b"!!expire!!")


def _pair_digest(a: bytes, b: bytes) -> bytes:
    """E = 20 zero bytes; mix_in(E, a); mix_in(E, b) -- one hash field or zset member."""
    return sha1((_h(sha1(a).digest()) ^ _h(b)).to_bytes(20, "big")).digest()


def score_text(score: float, compact: bool) -> bytes:
    """%.17g of a score. A compact (listpack) zset stores -0.0 as the integer 0, so it digests as "0"."""
    text = b"%.17g" % score
    if compact and text == b"-0":
        return b"0"
    return text


def _value_state(value: object, state: int) -> int:
    t = type(value)
    if t is bytes or t is RawString:
        return _mix(_mix_hashed(state, _TYPE_STRING), value)  # type: ignore[arg-type]
    if t is ListValue:
        state = _mix_hashed(state, _TYPE_LIST)
        for element in value:  # type: ignore[attr-defined]
            state = _mix(state, element)
        return state
    if t is SetValue:
        state = _mix_hashed(state, _TYPE_SET)
        for member in value:  # type: ignore[attr-defined]
            state ^= _h(member)
        return state
    if t is ZSetValue:
        state = _mix_hashed(state, _TYPE_ZSET)
        compact = not value.big  # type: ignore[attr-defined]
        for member, score in value.scores.items():  # type: ignore[attr-defined]
            state ^= _h(_pair_digest(member, score_text(score, compact)))
        return state
    if t is HashValue:
        state = _mix_hashed(state, _TYPE_HASH)
        for field, v in value.items():  # type: ignore[attr-defined]
            state ^= _h(_pair_digest(field, v))
        return state
    raise TypeError(f"no digest for a value of type {t.__name__}")


def value_digest(value: object, has_expire: bool, state: bytes = ZERO20) -> bytes:
    """The value's digest steps applied to state (20 bytes), with the TTL mark when it has one."""
    result = _value_state(value, _from(state, "big"))
    if has_expire:
        result ^= _EXPIRE_MARK
    return result.to_bytes(20, "big")


def key_digest_hex(value: object, has_expire: bool) -> bytes:
    """DEBUG DIGEST-VALUE's answer for one existing key: 40 lowercase hex digits."""
    return value_digest(value, has_expire).hex().encode()


def dataset_digest(keyspace: object) -> bytes:
    """DEBUG DIGEST: 40 hex digits over every database; 40 zeros for an empty dataset."""
    final = 0
    for db in keyspace.dbs:  # type: ignore[attr-defined]
        if not db.data:
            continue
        final = _mix(final, db.id.to_bytes(4, "big"))
        expires = db.expires
        for key, value in db.data.items():
            # K = mix_in(zeros, key) = sha1(sha1(key)), then the value steps continue from K.
            k = _value_state(value, _h(sha1(key).digest()))
            if key in expires:
                k ^= _EXPIRE_MARK
            final ^= _h(k.to_bytes(20, "big"))
    if not final:
        return EMPTY_DIGEST
    return final.to_bytes(20, "big").hex().encode()
