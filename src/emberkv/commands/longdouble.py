"""Exact x87 extended precision ("long double") arithmetic for INCRBYFLOAT and HINCRBYFLOAT.

Redis does these increments in C ``long double``: on x86-64 the 80-bit x87 format, with a 64-bit
mantissa and exponents down to 2**-16445 (subnormals) and up to just below 2**16384. It reads numbers
with strtold (correctly rounded, ties to even, hex floats and inf accepted) and writes the result with
``%.17Lf`` before dropping trailing zeros and a trailing dot. Python's float has 53 bits, so both the
sums and the text would differ (``INCRBYFLOAT k 0.1`` must answer ``0.1``, ``1e20`` must answer
``100000000000000000000``). Here every long double is an exact ``Fraction`` (or ``±inf``), rounded
to the 64-bit mantissa after parsing and after each addition, and printed exactly.

HINCRBYFLOAT checks in a different order and with other texts; it can call ``parse_long_double`` for
its own checks and pass ``current_error`` to ``incr_long_double``.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction

from emberkv.commands.errors import NOT_FLOAT, CommandError

LongDouble = Fraction | float  # a float here is only ever +inf or -inf

MANTISSA_BITS = 64
# The smallest subnormal is 2**-16445; every finite long double is a multiple of it.
MIN_QUANTUM_EXP = -16445
# Values that round to 2**16384 or more overflow to infinity.
OVERFLOW_EXP = 16384
# Redis refuses number texts of this length or more (its conversion buffer).
MAX_TEXT_LEN = 5120
# Decimal exponents beyond these are certainly out of range, whatever the digits: checked before
# computing 10**exp so that a text like "1e999999999" costs nothing.
_DEC_OVERFLOW = 4933  # 10**4933 > largest long double
_DEC_UNDERFLOW = -4952  # 10**-4952 < half the smallest subnormal
# str <-> int conversions of more than 4300 digits are refused by CPython; convert in chunks.
_CHUNK = 4000

INCR_NAN_OR_INF = "ERR increment would produce NaN or Infinity"

_DECIMAL = re.compile(rb"([+-]?)([0-9]*)(?:\.([0-9]*))?(?:[eE]([+-]?[0-9]+))?\Z")
_HEX = re.compile(rb"([+-]?)0[xX]([0-9a-fA-F]*)(?:\.([0-9a-fA-F]*))?(?:[pP]([+-]?[0-9]+))?\Z")
_INFINITIES = {b"inf", b"infinity"}


def parse_long_double(raw: bytes) -> LongDouble | None:
    """The long double Redis reads from raw, or None where Redis says "not a valid float".

    strtold's grammar, minus what Redis refuses on top: leading spaces, trailing characters (a NUL
    included), NaN, overflow to infinity and non-zero values that underflow to zero."""
    if not raw or len(raw) >= MAX_TEXT_LEN or raw[0] in b" \t\n\v\f\r":
        return None
    match = _DECIMAL.match(raw)
    if match is not None:
        sign, whole, frac, exp = match.groups()
        frac = frac or b""
        if not whole and not frac:
            return None
        return _finish(sign, _decimal_value(whole + frac, _exponent(exp) - len(frac)))
    match = _HEX.match(raw)
    if match is not None:
        sign, whole, frac, exp = match.groups()
        frac = frac or b""
        if not whole and not frac:
            return None
        digits = (whole + frac).lstrip(b"0")
        return _finish(sign, _hex_value(digits, _exponent(exp) - 4 * len(frac)))
    lowered = raw.lower()
    unsigned = lowered[1:] if lowered[:1] in (b"+", b"-") else lowered
    if unsigned in _INFINITIES:
        return -math.inf if lowered[:1] == b"-" else math.inf
    return None


def _exponent(text: bytes | None) -> int:
    if not text:
        return 0
    digits = text.lstrip(b"+-").lstrip(b"0")
    # Anything longer than 9 digits is far outside the range either way; keep it cheap.
    value = int(digits[:10] or b"0") if len(digits) <= 10 else 10**10
    return -value if text[:1] == b"-" else value


def _finish(sign: bytes, value: LongDouble | None) -> LongDouble | None:
    if value is None or (sign == b"-" and value == 0):
        return value
    return -value if sign == b"-" else value


def _decimal_value(digits: bytes, exp10: int) -> LongDouble | None:
    digits = digits.lstrip(b"0")
    if not digits:
        return Fraction(0)
    trimmed = digits.rstrip(b"0")
    exp10 += len(digits) - len(trimmed)
    count = len(trimmed)
    if count - 1 + exp10 >= _DEC_OVERFLOW:
        return None
    if count + exp10 < _DEC_UNDERFLOW:
        return None
    mantissa = _digits_to_int(trimmed)
    exact = Fraction(mantissa * 10**exp10) if exp10 >= 0 else Fraction(mantissa, 10**-exp10)
    return _checked(round_long_double(exact))


def _hex_value(digits: bytes, exp2: int) -> LongDouble | None:
    if not digits:
        return Fraction(0)
    mantissa = int(digits, 16)
    top = mantissa.bit_length() + exp2  # 2**(top-1) <= value < 2**top
    if top - 1 >= OVERFLOW_EXP or top < MIN_QUANTUM_EXP - 1:
        return None
    exact = Fraction(mantissa << exp2) if exp2 >= 0 else Fraction(mantissa, 1 << -exp2)
    return _checked(round_long_double(exact))


def _checked(value: LongDouble) -> LongDouble | None:
    # A non-zero text that rounds to zero or to infinity is a range error, which Redis refuses.
    if isinstance(value, float) or not value:
        return None
    return value


def _digits_to_int(digits: bytes) -> int:
    if len(digits) <= _CHUNK:
        return int(digits)
    split = len(digits) - _CHUNK
    return _digits_to_int(digits[:split]) * 10**_CHUNK + int(digits[split:])


def _int_to_digits(value: int) -> str:
    if value < 10**_CHUNK:
        return str(value)
    high, low = divmod(value, 10**_CHUNK)
    return _int_to_digits(high) + str(low).rjust(_CHUNK, "0")


def round_long_double(exact: Fraction) -> LongDouble:
    """exact rounded to the nearest long double (ties to even), ±inf when it overflows."""
    if exact == 0:
        return Fraction(0)
    num, den = abs(exact.numerator), exact.denominator
    # top: 2**top <= |exact| < 2**(top+1)
    top = num.bit_length() - den.bit_length()
    if (num >> top if top >= 0 else num << -top) < den:
        top -= 1
    exp = max(top - (MANTISSA_BITS - 1), MIN_QUANTUM_EXP)
    if exp >= 0:
        divisor = den << exp
        quotient, rest = divmod(num, divisor)
    else:
        divisor = den
        quotient, rest = divmod(num << -exp, divisor)
    twice = 2 * rest
    if twice > divisor or (twice == divisor and quotient & 1):
        quotient += 1
    if quotient.bit_length() + exp > OVERFLOW_EXP:
        return -math.inf if exact < 0 else math.inf
    result = Fraction(quotient << exp) if exp >= 0 else Fraction(quotient, 1 << -exp)
    return -result if exact < 0 else result


def add_long_double(a: LongDouble, b: LongDouble) -> LongDouble:
    """a + b as the x87 unit computes it; NaN (inf - inf) comes back as a float NaN."""
    if isinstance(a, float):
        # Infinity absorbs any finite value; inf + -inf is NaN. (Never convert a huge Fraction.)
        return a + b if isinstance(b, float) else a
    if isinstance(b, float):
        return b
    return round_long_double(a + b)


def format_long_double(value: Fraction) -> bytes:
    """``%.17Lf`` of a finite long double, trailing zeros and dot dropped, "-0" written "0"."""
    num, den = abs(value.numerator), value.denominator
    scaled, rest = divmod(num * 10**17, den)
    twice = 2 * rest
    if twice > den or (twice == den and scaled & 1):
        scaled += 1
    if scaled == 0:
        return b"0"
    text = _int_to_digits(scaled).rjust(18, "0")
    whole, frac = text[:-17], text[-17:].rstrip("0")
    out = f"{whole}.{frac}" if frac else whole
    return ("-" + out if value < 0 else out).encode()


def incr_long_double(
    current: bytes, increment: bytes, *, current_error: str = NOT_FLOAT
) -> bytes:
    """The text of current + increment, computed as Redis's INCRBYFLOAT does.

    Raises CommandError: ``current_error`` when current is not a number, "ERR value is not a valid
    float" for the increment, and "ERR increment would produce NaN or Infinity" for the result."""
    incr = parse_long_double(increment)
    if incr is None:
        raise CommandError(NOT_FLOAT)
    value = parse_long_double(current)
    if value is None:
        raise CommandError(current_error)
    total = add_long_double(value, incr)
    if isinstance(total, float):
        raise CommandError(INCR_NAN_OR_INF)
    return format_long_double(total)
