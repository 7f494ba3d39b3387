"""Redis 7.0's error texts, kept in one place. Clients map the first word to exception classes, so
these must match Redis byte for byte."""

from __future__ import annotations


class CommandError(Exception):
    """Raised by a handler: the message (without the leading ``-``) is the client's error reply."""

    def __init__(self, message: str | bytes) -> None:
        if isinstance(message, str):
            message = message.encode()
        if b"\n" in message or b"\r" in message:
            # Errors quote user input; like Redis, keep the reply one line so the protocol stays intact.
            message = message.replace(b"\r", b" ").replace(b"\n", b" ")
        super().__init__(message)
        self.message: bytes = message


WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"
SYNTAX = "ERR syntax error"
NOT_INTEGER = "ERR value is not an integer or out of range"
NOT_FLOAT = "ERR value is not a valid float"
NO_SUCH_KEY = "ERR no such key"
OVERFLOW = "ERR increment or decrement would overflow"
INVALID_EXPIRE = "ERR invalid expire time in '{}' command"
DB_INDEX_OUT_OF_RANGE = "ERR DB index is out of range"
NOT_ALLOWED_IN_MULTI_SELECT = "ERR SELECT is not allowed in cluster mode"
NOAUTH = "NOAUTH Authentication required."
WRONGPASS = "WRONGPASS invalid username-password pair or user is disabled."
STRING_TOO_LONG = "ERR string exceeds maximum allowed size (proto-max-bulk-len)"
BIT_OFFSET = "ERR bit offset is not an integer or out of range"
BIT_VALUE = "ERR bit is not an integer or out of range"
NOT_POSITIVE = "ERR value is out of range, must be positive"
LOADING = "LOADING Redis is loading the dataset in memory"
# Random-count commands (HRANDFIELD, SRANDMEMBER, ZRANDMEMBER): -2**63 cannot be negated, and a
# count of pairs (WITHVALUES / WITHSCORES) must stay below half the 64-bit range.
COUNT_OUT_OF_RANGE = (
    "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807"
)
OUT_OF_RANGE = "ERR value is out of range"


def wrong_arity(name: str) -> str:
    return f"ERR wrong number of arguments for '{name}' command"


def unknown_command(name: bytes, args: list[bytes]) -> str:
    # Redis quotes the name, then arguments until 128 characters of them have been shown.
    shown = ""
    for arg in args:
        if len(shown) >= 128:
            break
        shown += f"'{_printable(arg)[: 128 - len(shown)]}' "
    return f"ERR unknown command '{_printable(name[:128])}', with args beginning with: {shown}"


def unknown_subcommand(sub: bytes, command: str) -> str:
    return (
        f"ERR unknown subcommand '{_printable(sub[:128])}'. "
        f"Try {command.upper()} HELP."
    )


def _printable(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")
