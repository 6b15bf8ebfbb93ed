"""Identifiers of stored records: unique, and in the order they were made.

:func:`new_id` makes a UUID version 7 (RFC 9562) as 32 hexadecimal digits,
the form ``uuid.uuid4().hex`` had: 48 bits of Unix time in milliseconds,
then 74 random bits. Ids made one after another sort together, so a table's
primary-key index takes each new row at its end, on pages already in memory,
rather than on a random page a write (a random id touches, and journals, a
page anywhere in the index). The random bits come from a generator of this
module's own, seeded from ``os.urandom`` at import and again in every forked
child, so seeding :mod:`random` (an analyst's ``random.seed(42)``) cannot make
two processes, or two runs, give the same ids. They are not secrets: nothing
is granted by knowing an id (tokens are signed apart).
"""

from __future__ import annotations

import os
import random
import time

__all__ = ["new_id"]

_VERSION = 0x7 << 76
_VARIANT = 0b10 << 62
_LOW = (1 << 62) - 1

_random = random.Random(os.urandom(32))  # noqa: S311 - ids are not secrets (above)


def _reseed() -> None:
    _random.seed(os.urandom(32))


os.register_at_fork(after_in_child=_reseed)


def new_id() -> str:
    """A new UUIDv7 as 32 lowercase hexadecimal digits (time-ordered to the millisecond).

    >>> a, b = new_id(), new_id()
    >>> len(a), a != b, a[12]
    (32, True, '7')
    """
    bits = _random.getrandbits(74)
    value = (time.time_ns() // 1_000_000) << 80 | _VERSION | (bits >> 62) << 64 | _VARIANT
    return f"{value | (bits & _LOW):032x}"
