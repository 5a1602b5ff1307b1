"""One channel-layer listener per process, fanning submission events out to local subscribers.

A channel-layer consumer per subscription costs a layer receive (and, over
Redis, a round trip) per subscriber per event. Here each process (each event
loop) holds one channel, joins a submission's group while it has at least one
local subscriber, and hands every event it receives to that submission's
subscriber inboxes.
"""

import asyncio
import logging
import weakref
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from channels.layers import get_channel_layer

from submissions import events

logger = logging.getLogger(__name__)

# What an inbox yields when its subscriber may have missed events (its inbox
# overflowed, or the channel layer failed): re-read the submission.
RESYNC = {"type": "submission.resync"}

# Events held for one subscriber that is slow to read; past this the backlog
# is replaced by a single RESYNC, so memory stays bounded and the subscriber
# converges to the current state.
INBOX_SIZE = 256
RETRY_DELAY_SECONDS = 1.0


class Inbox:
    """The events of one submission waiting for one subscriber."""

    def __init__(self, size: int = INBOX_SIZE):
        self._queue: asyncio.Queue[dict] = asyncio.Queue(maxsize=size)

    def put(self, event: dict) -> None:
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            while not self._queue.empty():
                self._queue.get_nowait()
            self._queue.put_nowait(RESYNC)

    async def get(self) -> dict:
        return await self._queue.get()


class Listener:
    def __init__(self, layer):
        self._layer = layer
        self._channel: str | None = None
        self._inboxes: dict[str, set[Inbox]] = defaultdict(set)
        self._ready = asyncio.Lock()
        self._membership = asyncio.Lock()
        self._task: asyncio.Task | None = None

    async def _start(self) -> str:
        async with self._ready:
            if self._channel is None:
                self._channel = await self._layer.new_channel(prefix="submissions")
                self._task = asyncio.create_task(self._run(), name="submission-event-listener")
        return self._channel

    async def _run(self) -> None:
        while True:
            try:
                event = await self._layer.receive(self._channel)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("Receiving submission events failed; retrying")
                await asyncio.sleep(RETRY_DELAY_SECONDS)
                await self._recover()
                continue
            for inbox in self._inboxes.get(event.get("submission_id"), ()):
                inbox.put(event)

    async def _recover(self) -> None:
        # Group membership may have been lost with the layer's server, and
        # events certainly were: rejoin, and have every subscriber re-read.
        async with self._membership:
            for submission_id in list(self._inboxes):
                try:
                    await self._layer.group_add(events.group_name(submission_id), self._channel)
                except Exception:
                    logger.exception("Rejoining the group of submission %s failed", submission_id)
                    return
            for inboxes in self._inboxes.values():
                for inbox in inboxes:
                    inbox.put(RESYNC)

    @asynccontextmanager
    async def subscribe(self, submission_id: str) -> AsyncIterator[Inbox]:
        """Receive the events of one submission while inside this block.

        The group is joined before the block starts, so a snapshot read inside
        it cannot miss a change committed after the read.
        """
        channel = await self._start()
        group = events.group_name(submission_id)
        inbox = Inbox()
        # Joining and leaving are serialised so that a leave racing a join can
        # never leave the submission's group without this channel.
        async with self._membership:
            if not self._inboxes.get(submission_id):
                await self._layer.group_add(group, channel)
            self._inboxes[submission_id].add(inbox)
        try:
            yield inbox
        finally:
            async with self._membership:
                inboxes = self._inboxes[submission_id]
                inboxes.discard(inbox)
                if not inboxes:
                    del self._inboxes[submission_id]
                    try:
                        await self._layer.group_discard(group, channel)
                    except Exception:
                        logger.exception("Leaving the group of submission %s failed", submission_id)


_listeners: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Listener]" = weakref.WeakKeyDictionary()


def listener() -> Listener:
    """The listener of the running event loop (one per process in a server)."""
    loop = asyncio.get_running_loop()
    if loop not in _listeners:
        _listeners[loop] = Listener(get_channel_layer())
    return _listeners[loop]
