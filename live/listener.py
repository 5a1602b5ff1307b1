"""One channel-layer listener per process, handing each submission's events, in order, to its sinks.

A channel-layer consumer per subscription costs a layer receive (and, over
Redis, a round trip) per subscriber per event. Here each process (each event
loop) holds one channel, joins a submission's group while it has at least one
local sink (live.groups: the subscriptions of one document), and hands every
event it receives to that submission's sinks, in version order.
"""

import asyncio
import contextvars
import itertools
import logging
import weakref
from collections import defaultdict
from collections.abc import Callable
from functools import partial
from typing import Protocol

from channels.layers import get_channel_layer

from submissions import events

logger = logging.getLogger(__name__)

RETRY_DELAY_SECONDS = 1.0
# Both channels-redis layers lose messages silently while Redis is away (the
# pub/sub layer even reconnects without a word), so the listener sends itself
# a heartbeat through the layer: one that does not come back in time means
# events may have been lost, and the next one that does triggers a resync.
HEARTBEAT = "listener.heartbeat"
HEARTBEAT_INTERVAL_SECONDS = 2.0
# Generous: a busy process answers its own heartbeat late, and a false alarm
# makes every subscriber re-read at once, which makes it busier still.
HEARTBEAT_TIMEOUT_SECONDS = 10.0
# The core layer forgets group members after its group_expiry (one day):
# a listener that lives longer must join its groups again.
REJOIN_INTERVAL_SECONDS = 3600.0
# Changes committed a moment apart are published from different threads or
# processes and can arrive out of order: an early event waits this long for
# the ones before it, once per process, before subscribers get it.
REORDER_WAIT_SECONDS = 0.5


class Sink(Protocol):
    """What takes a submission's events: live.groups.Group."""

    async def deliver(self, event: dict) -> None:
        """The next event of the submission, in version order (or late, or after a gap)."""

    def resync(self) -> None:
        """Events may have been lost: whoever this feeds must re-read the submission."""


def _task_of_its_own(coroutine, name: str | None = None) -> asyncio.Task:
    """A task in a context of its own, not that of the subscriber whose call started it."""
    return asyncio.get_running_loop().create_task(coroutine, name=name, context=contextvars.Context())


class _InOrder:
    """Hands out one submission's events in version order, waiting briefly for late ones."""

    def __init__(self, hand_out: Callable[[dict], None]):
        self._hand_out = hand_out
        self._last: int | None = None
        self._early: dict[int, dict] = {}
        self._timer: asyncio.TimerHandle | None = None

    def add(self, event: dict) -> None:
        version = event["version"]
        if self._last is not None and version > self._last + 1:
            self._early[version] = event
            if self._timer is None:
                self._timer = asyncio.get_running_loop().call_later(REORDER_WAIT_SECONDS, self._give_up_waiting)
            return
        # The next one, the first one seen, or one that came too late (which
        # subscribers drop, having re-read the submission meanwhile).
        self._hand_out(event)
        if self._last is None or version > self._last:
            self._last = version
        while self._last + 1 in self._early:
            self._last += 1
            self._hand_out(self._early.pop(self._last))
        if not self._early:
            self.close()

    def start_after(self, version: int) -> None:
        """Until an event arrives, order from `version` (a subscriber's snapshot)."""
        if self._last is None:
            self._last = version

    def _give_up_waiting(self) -> None:
        # The versions in between were lost: hand out what came, in order;
        # subscribers see the gap and re-read the submission.
        self._timer = None
        for version in sorted(self._early):
            self._hand_out(self._early[version])
        self._last = max(self._early)
        self._early.clear()

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


class Listener:
    def __init__(self, layer):
        self._layer = layer
        self._channel: str | None = None
        self._sinks: dict[str, set[Sink]] = defaultdict(set)
        self._in_order: dict[str, _InOrder] = {}
        # Events in order, waiting to be delivered (by the one task that does).
        self._ready_events: asyncio.Queue[tuple[str, dict]] = asyncio.Queue()
        self._ready = asyncio.Lock()
        self._membership = asyncio.Lock()
        self._tasks: list[asyncio.Task] = []
        self._leaving: set[asyncio.Task] = set()
        self._heartbeats: dict[int, asyncio.Future] = {}
        # True from the moment events may have been lost until every
        # subscriber has been told to re-read.
        self._lost = False

    async def _start(self) -> str:
        async with self._ready:
            if self._channel is None:
                self._channel = await self._layer.new_channel(prefix="submissions")
            if not self._tasks or any(task.done() for task in self._tasks):
                for task in self._tasks:
                    task.cancel()
                self._tasks = [
                    _task_of_its_own(self._receive_events(), name="submission-events"),
                    _task_of_its_own(self._deliver_events(), name="submission-events-delivery"),
                    _task_of_its_own(self._watch_layer(), name="submission-events-heartbeat"),
                ]
                for task in self._tasks:
                    task.add_done_callback(self._on_task_done)
        return self._channel

    def _on_task_done(self, task: asyncio.Task) -> None:
        # A listener task ends only on a bug (or at shutdown, cancelled):
        # events may have been missed, so restart, and resync everyone.
        if task.cancelled() or task.exception() is None:
            return
        logger.error("The submission event listener stopped; restarting it", exc_info=task.exception())
        self._mark_lost("The submission event listener stopped")
        asyncio.get_running_loop().call_later(RETRY_DELAY_SECONDS, lambda: asyncio.ensure_future(self._start()))

    async def _receive_events(self) -> None:
        while True:
            try:
                message = await self._layer.receive(self._channel)
            except asyncio.CancelledError:
                raise
            except Exception:
                self._mark_lost("Receiving submission events failed", exc_info=True)
                await asyncio.sleep(RETRY_DELAY_SECONDS)
                continue
            if message["type"] == HEARTBEAT:
                if (arrived := self._heartbeats.pop(message["beat"], None)) and not arrived.done():
                    arrived.set_result(None)
                continue
            submission_id = message.get("submission_id")
            if submission_id in self._sinks:
                self._order_of(submission_id).add(message)

    def _order_of(self, submission_id: str) -> _InOrder:
        if submission_id not in self._in_order:
            self._in_order[submission_id] = _InOrder(partial(self._hand_out, submission_id))
        return self._in_order[submission_id]

    def read_at(self, submission_id: str, version: int) -> None:
        """A subscription read the submission at `version`: later events are ordered from there."""
        if submission_id in self._sinks:
            self._order_of(submission_id).start_after(version)

    def _hand_out(self, submission_id: str, event: dict) -> None:
        self._ready_events.put_nowait((submission_id, event))

    async def _deliver_events(self) -> None:
        while True:
            submission_id, event = await self._ready_events.get()
            for sink in list(self._sinks.get(submission_id, ())):
                try:
                    await sink.deliver(event)
                except asyncio.CancelledError:
                    raise
                except Exception:  # one sink's failure must not cost the others their event
                    logger.exception("Delivering an event of submission %s failed", submission_id)
                    sink.resync()

    async def _watch_layer(self) -> None:
        loop = asyncio.get_running_loop()
        last_rejoin = loop.time()
        for beat in itertools.count():
            await asyncio.sleep(HEARTBEAT_INTERVAL_SECONDS)
            arrived = self._heartbeats[beat] = loop.create_future()
            try:
                await asyncio.wait_for(
                    self._layer.send(self._channel, {"type": HEARTBEAT, "beat": beat}), HEARTBEAT_TIMEOUT_SECONDS
                )
                await asyncio.wait_for(arrived, HEARTBEAT_TIMEOUT_SECONDS)
            except asyncio.CancelledError:
                raise
            except Exception:
                self._heartbeats.pop(beat, None)
                self._mark_lost("The channel layer lost a heartbeat")
                continue
            if self._lost:
                # Cleared first, so that a loss marked while rejoining is kept.
                self._lost = False
                if await self._rejoin():
                    self._resync_all()
                    last_rejoin = loop.time()
                else:
                    self._lost = True
            elif loop.time() - last_rejoin > REJOIN_INTERVAL_SECONDS and await self._rejoin():
                last_rejoin = loop.time()

    def _mark_lost(self, reason: str, **log) -> None:
        if not self._lost:
            logger.warning("%s; subscribers will re-read once the channel layer is back", reason, **log)
        self._lost = True

    async def _rejoin(self) -> bool:
        # After an outage the layer's server may have forgotten our groups.
        async with self._membership:
            for submission_id in list(self._sinks):
                try:
                    await self._layer.group_add(events.group_name(submission_id), self._channel)
                except Exception:
                    logger.warning("Rejoining the group of submission %s failed", submission_id, exc_info=True)
                    return False
        return True

    def _resync_all(self) -> None:
        logger.info("The channel layer is back; every subscriber re-reads its submission")
        for in_order in self._in_order.values():
            in_order.close()
        self._in_order.clear()  # events were lost: what comes next starts afresh
        for sinks in self._sinks.values():
            for sink in sinks:
                sink.resync()

    async def join(self, submission_id: str, sink: Sink) -> None:
        """Hand the events of a submission to `sink` from now on, until `leave`.

        The group is joined before this returns, so a snapshot read afterwards
        cannot miss a change committed after the read.
        """
        channel = await self._start()
        # Joining and leaving are serialised so that a leave racing a join can
        # never leave the submission's group without this channel.
        async with self._membership:
            if not self._sinks.get(submission_id):
                await self._layer.group_add(events.group_name(submission_id), channel)
            self._sinks[submission_id].add(sink)

    def leave(self, submission_id: str, sink: Sink) -> asyncio.Future:
        """Hand nothing more to `sink`; the future returned is done once the group is left if it was the last."""
        self._sinks[submission_id].discard(sink)
        # The group is left in a task of its own: whoever leaves need not wait
        # for a channel-layer round trip, and a cancelled leave still happens.
        leaving = _task_of_its_own(self._leave_if_unused(submission_id))
        self._leaving.add(leaving)
        leaving.add_done_callback(self._leaving.discard)
        return asyncio.shield(leaving)

    async def _leave_if_unused(self, submission_id: str) -> None:
        async with self._membership:
            if self._sinks.get(submission_id):
                return
            self._sinks.pop(submission_id, None)
            if in_order := self._in_order.pop(submission_id, None):
                in_order.close()
            try:
                await self._layer.group_discard(events.group_name(submission_id), self._channel)
            except Exception:
                logger.warning("Leaving the group of submission %s failed", submission_id, exc_info=True)


_listeners: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Listener]" = weakref.WeakKeyDictionary()


def listener() -> Listener:
    """The listener of the running event loop (one per process in a server)."""
    loop = asyncio.get_running_loop()
    if loop not in _listeners:
        _listeners[loop] = Listener(get_channel_layer())
    return _listeners[loop]
