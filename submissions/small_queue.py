"""An unbounded queue for one reader in one event loop, that costs almost nothing while empty.

asyncio.Queue allocates four deques when it is made; a process holding ten
thousand connections holds a few such queues for each, mostly empty.
"""

import asyncio
from collections import deque


class SmallQueue:
    __slots__ = ("_items", "_waiter")

    def __init__(self):
        self._items: deque | None = None
        self._waiter: asyncio.Future | None = None

    def __len__(self) -> int:
        return len(self._items) if self._items else 0

    def put_nowait(self, item) -> None:
        if self._items is None:
            self._items = deque()
        self._items.append(item)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def get_nowait(self):
        """The first item, or None when there is none."""
        if not self._items:
            return None
        item = self._items.popleft()
        if not self._items:
            self._items = None
        return item

    async def get(self):
        """The first item, once there is one."""
        while not self._items:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self.get_nowait()

    @property
    def waiting(self) -> bool:
        """Whether the reader is waiting in `get`."""
        return self._waiter is not None

    def clear(self) -> None:
        self._items = None
