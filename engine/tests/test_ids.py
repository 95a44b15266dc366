"""``notigate.ids``: prefixed, Crockford base32, time-ordered, unique identifiers."""

from __future__ import annotations

import re
import time

import pytest

from notigate.ids import new_id

CROCKFORD = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")


@pytest.mark.parametrize("prefix", ["ntf", "dlv", "att"])
def test_id_has_its_prefix_and_26_characters(prefix: str) -> None:
    """An id is ``<prefix>_`` followed by exactly 26 characters."""
    value = new_id(prefix)
    assert value.startswith(f"{prefix}_")
    assert len(value) == len(prefix) + 1 + 26


def test_suffix_uses_the_crockford_alphabet() -> None:
    """The suffix uses Crockford base32 only: no I, L, O or U, no lower case."""
    for _ in range(1000):
        assert CROCKFORD.match(new_id("ntf").split("_", 1)[1])


def test_ids_sort_by_millisecond() -> None:
    """An id made a millisecond later sorts after, as a plain string, whatever the random part."""
    base = 1_722_480_930_000
    for offset in range(0, 5000, 7):
        earlier = new_id("ntf", now_ms=base + offset)
        later = new_id("ntf", now_ms=base + offset + 1)
        assert earlier < later


def test_ids_sort_across_a_wide_time_range() -> None:
    """Ordering holds from the epoch to far in the future (48 bits of milliseconds)."""
    times = [0, 1, 1_000, 1_722_480_930_000, 2**41, 2**48 - 1]
    ids = [new_id("ntf", now_ms=t) for t in times]
    assert ids == sorted(ids)


def test_time_prefix_encodes_the_millisecond() -> None:
    """The first ten characters encode the creation time in milliseconds."""
    now_ms = 1_722_480_930_123
    head = new_id("ntf", now_ms=now_ms)[4:14]
    alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    assert sum(alphabet.index(c) * 32**i for i, c in enumerate(reversed(head))) == now_ms


def test_default_time_is_now() -> None:
    """Without ``now_ms`` the id carries the current time."""
    before = new_id("ntf", now_ms=int(time.time() * 1000) - 1)
    value = new_id("ntf")
    after = new_id("ntf", now_ms=int(time.time() * 1000) + 1)
    assert before < value < after


def test_ten_thousand_ids_are_unique() -> None:
    """10,000 ids made at once, even in the same millisecond, never collide."""
    assert len({new_id("ntf") for _ in range(10_000)}) == 10_000
    assert len({new_id("ntf", now_ms=42) for _ in range(10_000)}) == 10_000
