"""One channel-layer listener per process, fanning submission events out to local subscribers.

A channel-layer consumer per subscription costs a layer receive (and, over
Redis, a round trip) per subscriber per event. Here each process (each event
loop) holds one channel, joins a submission's group while it has at least one
local subscriber, and hands every event it receives to that submission's
subscribers: straight to the socket of each one that is waiting for exactly
that event (api.operations), into the inbox of any other.
"""

import asyncio
import contextvars
import itertools
import logging
import weakref
from collections import defaultdict
from collections.abc import Awaitable, Callable
from functools import partial

from channels.layers import get_channel_layer

from submissions import events
from submissions.small_queue import SmallQueue

logger = logging.getLogger(__name__)

# What an inbox yields when its subscriber may have missed events (its inbox
# overflowed, or the channel layer failed): re-read the submission.
RESYNC = {"type": "submission.resync"}

# Events held for one subscriber that is slow to read; past this the backlog
# is replaced by a single RESYNC, so memory stays bounded and the subscriber
# converges to the current state.
INBOX_SIZE = 256
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


def _task_of_its_own(coroutine, name: str | None = None) -> asyncio.Task:
    """A task in a context of its own, not that of the subscriber whose call started it."""
    return asyncio.get_running_loop().create_task(coroutine, name=name, context=contextvars.Context())


class Inbox:
    """The events of one submission for one subscriber, and the version it has reached.

    The subscriber reads with `get` (waiting) or `get_nowait`; while it is not
    reading (it waits in `get`, or `get_nowait` found nothing), it is caught
    up. The listener then hands a change that is next in order to `send`, if
    set, which delivers it without waking the subscriber and returns False to
    have it queued instead. An event queued for a caught-up subscriber that is
    not waiting in `get` calls `on_event`, so that it starts reading again.
    Events that arrive while `send` runs queue behind the one it sends.
    """

    __slots__ = ("_events", "_reading", "last_version", "on_event", "send", "size")

    def __init__(self, size: int = INBOX_SIZE):
        self.size = size
        self._events = SmallQueue()  # most inboxes are empty most of the time
        self._reading = True  # until the subscriber has its snapshot
        # Set by the subscriber from its snapshot; None until it has one.
        self.last_version: int | None = None
        self.send: Callable[[dict], Awaitable[bool]] | None = None
        self.on_event: Callable[[], None] | None = None

    async def deliver(self, event: dict) -> None:
        # Not reading means caught up: nothing queued, and a version reached.
        if (
            self.send is not None
            and not self._reading
            and event["type"] == events.STATUS_CHANGED
            and event["version"] == self.last_version + 1
        ):
            self._reading = True
            try:
                sent = await self.send(event)
            finally:
                self._reading = False
            if sent:
                self.last_version = event["version"]
                if len(self._events):
                    self._wake()
                return
        self.put(event)

    def put(self, event: dict) -> None:
        if len(self._events) >= self.size:
            self._events.clear()
            event = RESYNC
        self._events.put_nowait(event)  # wakes the subscriber if it waits in `get`
        if not self._events.waiting and not self._reading:
            self._wake()

    def _wake(self) -> None:
        if self.on_event is not None:
            self._reading = True
            self.on_event()

    def get_nowait(self) -> dict | None:
        """The next event, or None (and the subscriber is caught up) if there is none."""
        event = self._events.get_nowait()
        if event is None:
            self._reading = False
        return event

    async def get(self) -> dict:
        if len(self._events):
            return self._events.get_nowait()
        self._reading = False
        try:
            return await self._events.get()
        finally:
            self._reading = True


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
        self._inboxes: dict[str, set[Inbox]] = defaultdict(set)
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
            if submission_id in self._inboxes:
                self._order_of(submission_id).add(message)

    def _order_of(self, submission_id: str) -> _InOrder:
        if submission_id not in self._in_order:
            self._in_order[submission_id] = _InOrder(partial(self._hand_out, submission_id))
        return self._in_order[submission_id]

    def read_at(self, submission_id: str, version: int) -> None:
        """A subscriber read the submission at `version`: later events are ordered from there."""
        if submission_id in self._inboxes:
            self._order_of(submission_id).start_after(version)

    def _hand_out(self, submission_id: str, event: dict) -> None:
        self._ready_events.put_nowait((submission_id, event))

    async def _deliver_events(self) -> None:
        while True:
            submission_id, event = await self._ready_events.get()
            for inbox in list(self._inboxes.get(submission_id, ())):
                try:
                    await inbox.deliver(event)
                except asyncio.CancelledError:
                    raise
                except Exception:  # one subscriber's failure must not cost the others their event
                    logger.exception("Delivering an event of submission %s failed", submission_id)
                    inbox.put(event)

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
            for submission_id in list(self._inboxes):
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
        for inboxes in self._inboxes.values():
            for inbox in inboxes:
                inbox.put(RESYNC)

    async def join(self, submission_id: str, inbox: Inbox) -> None:
        """Put the events of a submission in `inbox` from now on, until `leave`.

        The group is joined before this returns, so a snapshot read afterwards
        cannot miss a change committed after the read.
        """
        channel = await self._start()
        # Joining and leaving are serialised so that a leave racing a join can
        # never leave the submission's group without this channel.
        async with self._membership:
            if not self._inboxes.get(submission_id):
                await self._layer.group_add(events.group_name(submission_id), channel)
            self._inboxes[submission_id].add(inbox)

    def leave(self, submission_id: str, inbox: Inbox) -> asyncio.Future:
        """Put nothing more in `inbox`; the future returned is done once the group is left if it was the last."""
        self._inboxes[submission_id].discard(inbox)
        # The group is left in a task of its own: whoever leaves need not wait
        # for a channel-layer round trip, and a cancelled leave still happens.
        leaving = _task_of_its_own(self._leave_if_unused(submission_id))
        self._leaving.add(leaving)
        leaving.add_done_callback(self._leaving.discard)
        return asyncio.shield(leaving)

    async def _leave_if_unused(self, submission_id: str) -> None:
        async with self._membership:
            if self._inboxes.get(submission_id):
                return
            self._inboxes.pop(submission_id, None)
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
