"""A set of 64-bit keys in flat arrays: how a run remembers a million ids in ~16 MB. No I/O.

Python sets and dicts of strings cost ~100 bytes per entry; a batch run must remember every
custom id it has seen (duplicate check) and every id already answered (resume), so it keeps a
64-bit hash of each instead, in an open-addressing table over ``array('Q')`` (16 bytes per key
at the 50 % load it keeps). A hash match is not proof of equal ids: the duplicate check
confirms matches on a second pass over the actual strings (:func:`key_of` is blake2b, so two
different ids colliding among a million has odds around 1 in 10^7).
"""

from __future__ import annotations

from array import array
from hashlib import blake2b

__all__ = ["U64Map", "U64Set", "key_of"]

_MASK = (1 << 64) - 1


def key_of(text: str) -> int:
    """The 64-bit key of ``text`` (never 0: that marks an empty slot)."""
    value = int.from_bytes(blake2b(text.encode("utf-8"), digest_size=8).digest(), "little")
    return value or 1


class U64Set:
    """Open addressing with linear probing over ``array('Q')``; grows at 50 % load."""

    __slots__ = ("_mask", "_slots", "_used")

    def __init__(self, capacity: int = 1024) -> None:
        size = 1024
        while size < capacity * 2:
            size *= 2
        self._slots = array("Q", bytes(8 * size))
        self._mask = size - 1
        self._used = 0

    def __len__(self) -> int:
        return self._used

    def __contains__(self, key: int) -> bool:
        slots, mask = self._slots, self._mask
        i = (key ^ (key >> 29)) & mask
        while True:
            value = slots[i]
            if value == key:
                return True
            if value == 0:
                return False
            i = (i + 1) & mask

    def add(self, key: int) -> bool:
        """Insert ``key`` (non-zero); False when it was already there."""
        if not key:
            raise ValueError("0 is not a valid key")
        slots, mask = self._slots, self._mask
        i = (key ^ (key >> 29)) & mask
        while True:
            value = slots[i]
            if value == key:
                return False
            if value == 0:
                slots[i] = key & _MASK
                self._used += 1
                if self._used * 2 > mask:
                    self._grow()
                return True
            i = (i + 1) & mask

    def _grow(self) -> None:
        old = self._slots
        self._slots = array("Q", bytes(16 * len(old)))
        self._mask = len(self._slots) - 1
        self._used = 0
        for key in old:
            if key:
                self.add(key)


class U64Map:
    """64-bit keys to 64-bit values (file offsets), like :class:`U64Set`; 32 bytes a key."""

    __slots__ = ("_keys", "_mask", "_used", "_values")

    def __init__(self) -> None:
        self._keys = array("Q", bytes(8 * 1024))
        self._values = array("Q", bytes(8 * 1024))
        self._mask = 1023
        self._used = 0

    def __len__(self) -> int:
        return self._used

    def _slot(self, key: int) -> int:
        keys, mask = self._keys, self._mask
        i = (key ^ (key >> 29)) & mask
        while True:
            value = keys[i]
            if value == key or value == 0:
                return i
            i = (i + 1) & mask

    def get(self, key: int) -> int | None:
        i = self._slot(key)
        return self._values[i] if self._keys[i] == key else None

    def set(self, key: int, value: int, *, keep_first: bool = False) -> None:
        """Map ``key`` (non-zero) to ``value``; with ``keep_first`` an existing entry wins."""
        if not key:
            raise ValueError("0 is not a valid key")
        i = self._slot(key)
        if self._keys[i] == key:
            if not keep_first:
                self._values[i] = value
            return
        self._keys[i] = key
        self._values[i] = value
        self._used += 1
        if self._used * 2 > self._mask:
            old_keys, old_values = self._keys, self._values
            size = 2 * len(old_keys)
            self._keys = array("Q", bytes(8 * size))
            self._values = array("Q", bytes(8 * size))
            self._mask = size - 1
            self._used = 0
            for k, v in zip(old_keys, old_values, strict=True):
                if k:
                    self.set(k, v)
