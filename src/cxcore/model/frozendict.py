"""An immutable, hashable mapping for the fields of frozen model values."""

from __future__ import annotations

from collections.abc import ItemsView, Iterator, KeysView, Mapping, ValuesView
from typing import Any, TypeVar, overload

K = TypeVar("K")
V = TypeVar("V")
T = TypeVar("T")

__all__ = ["FrozenDict"]


class FrozenDict(Mapping[K, V]):
    """A read-only mapping that can be hashed, so frozen values stay values.

    It compares equal to any mapping with the same items, keeps insertion order,
    and its ``repr`` reads like a dict.

    >>> d = FrozenDict({"store": "BLR-01"})
    >>> d["store"], d == {"store": "BLR-01"}, hash(d) == hash(FrozenDict(store="BLR-01"))
    ('BLR-01', True, True)

    .. versionadded:: 0.1.0
    """

    __slots__ = ("_data", "_hash")

    def __init__(self, *args: Any, **kwargs: V) -> None:  # noqa: ANN401 - what dict() takes
        self._data: dict[K, V] = dict(*args, **kwargs)
        self._hash: int | None = None

    def __getitem__(self, key: K) -> V:
        return self._data[key]

    def __iter__(self) -> Iterator[K]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    # Mapping's get() and `in` call __getitem__ and catch its KeyError: asking for a key
    # that is not there (a rule filtering on an attribute few interactions have) costs an
    # exception each time. The dict answers both directly, with the same results.
    @overload
    def get(self, key: K, /) -> V | None: ...
    @overload
    def get(self, key: K, default: V, /) -> V: ...
    @overload
    def get(self, key: K, default: T, /) -> V | T: ...
    def get(self, key: K, default: object = None, /) -> object:
        """The value of *key*, else *default*, as :meth:`dict.get`."""
        return self._data.get(key, default)

    def __contains__(self, key: object) -> bool:
        return key in self._data

    # Mapping's views go through __iter__ and __getitem__ for every item; the dict's own
    # views are the same items, in the same order, read in C.
    def keys(self) -> KeysView[K]:
        """The keys, as :meth:`dict.keys`."""
        return self._data.keys()

    def values(self) -> ValuesView[V]:
        """The values, as :meth:`dict.values`."""
        return self._data.values()

    def items(self) -> ItemsView[K, V]:
        """The items, as :meth:`dict.items`."""
        return self._data.items()

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash(frozenset(self._data.items()))
        return self._hash

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Mapping):
            return self._data == dict(other.items())
        return NotImplemented

    def __repr__(self) -> str:
        return f"FrozenDict({self._data!r})"

    def set(self, key: K, value: V) -> FrozenDict[K, V]:
        """Return a copy with *key* set to *value*."""
        data = dict(self._data)
        data[key] = value
        return FrozenDict(data)
