"""A small memo keyed by an object's identity, for what many subscriptions build from one event."""

from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class IdentityCache(Generic[K, V]):
    """Remembers `build(key)` for the last `size` keys, by identity.

    Each key is kept alive beside its value, so its identity cannot be
    reused by another object while it is remembered.
    """

    def __init__(self, size: int):
        self.size = size
        self._kept: OrderedDict[int, tuple[K, V]] = OrderedDict()

    def get(self, key: K, build: Callable[[K], V]) -> V:
        kept = self._kept.get(id(key))
        if kept is not None and kept[0] is key:
            return kept[1]
        value = build(key)
        self._kept[id(key)] = (key, value)
        if len(self._kept) > self.size:
            self._kept.popitem(last=False)
        return value
