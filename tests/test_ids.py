"""Record ids: UUIDv7, unique, time-ordered, and independent of the global random generator."""

from __future__ import annotations

import os
import random
import time
import uuid

from cxcore._ids import new_id


def test_ids_are_uuid7_hex_and_unique():
    ids = [new_id() for _ in range(100_000)]
    assert len(set(ids)) == len(ids)
    for text in ids[:100]:
        value = uuid.UUID(hex=text)
        assert (value.version, value.variant) == (7, uuid.RFC_4122)
        assert value.hex == text


def test_ids_made_later_sort_later():
    first = new_id()
    time.sleep(0.002)
    assert new_id() > first
    stamp = int(first[:12], 16)
    assert abs(stamp - time.time_ns() // 1_000_000) < 5_000


def test_seeding_random_or_forking_does_not_repeat_ids():
    """An analyst's random.seed() cannot repeat ids; neither can two forked children."""
    random.seed(42)
    a = new_id()
    random.seed(42)
    assert new_id()[12:] != a[12:]
    read, write = os.pipe()
    children = []
    for _ in range(2):
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            os.write(write, new_id().encode() + b"\n")
            os._exit(0)
        children.append(pid)
    for pid in children:
        os.waitpid(pid, 0)
    os.close(write)
    with os.fdopen(read) as pipe:
        made = pipe.read().split()
    assert len(made) == 2
    assert made[0][12:] != made[1][12:]
