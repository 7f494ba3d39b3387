"""Redis's CRC-64 ("Jones"), which guards RDB files and DUMP payloads.

Parameters (spec §1.12 and §6.3): polynomial 0xAD93D23594C935A9 in normal form (0x95AC9329AC4BC9B5
reflected), reflected input and output, initial value 0 and no final xor. Redis's own source carries a
generated comment claiming an all-ones initial value; the value it really starts from is 0. anycrc's
"CRC64-REDIS" model has exactly these parameters, and it is built from them explicitly here so a change
in the library's catalogue cannot silently change our checksum. Check value: crc64(b"123456789") =
0xE9C6D914C4B8D9CA.

Because init is 0 and there is no final xor, the CRC of a‖b is crc64(b, crc64(a)): the reader and writer
update it chunk by chunk.
"""

from __future__ import annotations

import anycrc

_JONES = anycrc.CRC(
    width=64,
    poly=0xAD93D23594C935A9,
    init=0,
    refin=True,
    refout=True,
    xorout=0,
    check=0xE9C6D914C4B8D9CA,
)

# Large chunks keep the per-call overhead negligible; anycrc reads any buffer without copying.
_calc = _JONES.calc


def crc64(data: bytes | bytearray | memoryview, crc: int = 0) -> int:
    """CRC-64/Jones of data, continuing from crc (the CRC of everything before data)."""
    if not data:
        return crc
    return _calc(data, crc)
