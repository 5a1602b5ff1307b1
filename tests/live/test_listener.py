"""One listener per process: it joins a group while someone listens, and never loses track of who does."""

import asyncio
import signal
from contextlib import asynccontextmanager

import pytest
from channels.layers import get_channel_layer

from live import listener as listener_module
from live.listener import Listener
from submissions import events

RESYNC = "resync"


class RecordingSink:
    """A sink that keeps what the listener hands it, as live.groups.Group takes it."""

    def __init__(self):
        self.received = asyncio.Queue()

    async def deliver(self, event):
        self.received.put_nowait(event)

    def resync(self):
        self.received.put_nowait(RESYNC)


@asynccontextmanager
async def subscribed(listener, submission_id):
    sink = RecordingSink()
    await listener.join(submission_id, sink)
    try:
        yield sink
    finally:
        await listener.leave(submission_id, sink)


def status_event(submission_id, version):
    return {"type": events.STATUS_CHANGED, "submission_id": submission_id, "version": version}


async def next_message(sink):
    return await asyncio.wait_for(sink.received.get(), 2)


async def test_events_reach_every_subscriber_of_their_submission_only():
    layer = get_channel_layer()
    listener = Listener(layer)
    async with (
        subscribed(listener, "1") as first,
        subscribed(listener, "1") as second,
        subscribed(listener, "2") as other,
    ):
        await layer.group_send(events.group_name(1), status_event("1", 2))
        await layer.group_send(events.group_name(2), status_event("2", 7))
        assert (await next_message(first))["version"] == 2
        assert (await next_message(second))["version"] == 2
        assert (await next_message(other))["version"] == 7


async def test_the_group_is_left_when_its_last_subscriber_goes():
    layer = get_channel_layer()
    listener = Listener(layer)
    async with subscribed(listener, "1"):
        async with subscribed(listener, "1"):
            pass
        assert listener._channel in layer.groups.get(events.group_name(1), {})
    assert listener._channel not in layer.groups.get(events.group_name(1), {})


async def test_a_subscriber_cancelled_while_leaving_is_forgotten():
    layer = get_channel_layer()
    listener = Listener(layer)
    await listener._start()

    async def subscribe_then_wait():
        async with subscribed(listener, "9"):
            await asyncio.Event().wait()

    task = asyncio.create_task(subscribe_then_wait())
    while "9" not in listener._sinks:
        await asyncio.sleep(0)
    async with listener._membership:  # a slow join elsewhere holds the lock
        task.cancel()
        await asyncio.sleep(0)
        task.cancel()  # cancelled again while it waits to leave
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.wait_for(listener._membership.acquire(), 2)
    listener._membership.release()
    assert not listener._sinks.get("9")


async def test_a_listener_whose_tasks_died_restarts_them_for_the_next_subscriber():
    layer = get_channel_layer()
    listener = Listener(layer)
    await listener._start()
    for task in listener._tasks:
        task.cancel()
    await asyncio.gather(*listener._tasks, return_exceptions=True)

    async with subscribed(listener, "1") as inbox:
        await layer.group_send(events.group_name(1), status_event("1", 2))
        assert (await next_message(inbox))["version"] == 2


# The heartbeat: the layer can lose messages without a word, so the listener notices an outage by
# its own heartbeat and, once the layer answers again, tells every subscriber to re-read.

OUTAGE_NOTICED_WITHIN_SECONDS = 5
LAYER_BACKENDS = {
    "core": "channels_redis.core.RedisChannelLayer",
    "pubsub": "channels_redis.pubsub.RedisPubSubChannelLayer",
}


@pytest.fixture
def quick_heartbeat(monkeypatch):
    monkeypatch.setattr(listener_module, "HEARTBEAT_INTERVAL_SECONDS", 0.05)
    monkeypatch.setattr(listener_module, "HEARTBEAT_TIMEOUT_SECONDS", 1.0)
    monkeypatch.setattr(listener_module, "RETRY_DELAY_SECONDS", 0.05)


@pytest.fixture(params=LAYER_BACKENDS)
async def redis_layer(request, settings, redis_server):
    """Each channels-redis layer, as the settings configure it, on a private Redis server."""
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": LAYER_BACKENDS[request.param],
            "CONFIG": {"hosts": [{"address": redis_server.url, "socket_connect_timeout": 1}]},
        }
    }
    layer = get_channel_layer()
    yield layer
    if hasattr(layer, "close_pools"):
        await layer.close_pools()
    else:
        await layer.flush()


@asynccontextmanager
async def running(listener):
    try:
        yield listener
    finally:
        for task in listener._tasks:
            task.cancel()
        await asyncio.gather(*listener._tasks, return_exceptions=True)


async def outage_noticed(listener):
    """Waits (bounded) until the listener has seen its heartbeat go missing or the layer fail.

    The listener announces this only in its log, so its flag is polled: there is no event to wait on.
    """
    async with asyncio.timeout(OUTAGE_NOTICED_WITHIN_SECONDS):
        while not listener._lost:
            await asyncio.sleep(0.01)


async def test_after_redis_comes_back_empty_every_subscriber_resyncs_and_events_flow_again(
    quick_heartbeat, redis_layer, redis_server
):
    async with (
        running(Listener(redis_layer)) as listener,
        subscribed(listener, "1") as first,
        subscribed(listener, "1") as second,
        subscribed(listener, "2") as other,
    ):
        await redis_layer.group_send(events.group_name(1), status_event("1", 2))
        assert (await next_message(first))["version"] == 2
        assert (await next_message(second))["version"] == 2

        await asyncio.to_thread(redis_server.stop)  # and with it every group member and queued message
        await outage_noticed(listener)
        assert first.received.empty() and second.received.empty() and other.received.empty()

        await asyncio.to_thread(redis_server.start)
        assert await next_message(first) == RESYNC
        assert await next_message(second) == RESYNC
        assert await next_message(other) == RESYNC

        # The new server knows no group (the core layer keeps members in Redis; the pub/sub layer in the
        # process, and subscribes again itself): over the core layer, events arrive only if the groups were
        # joined again.
        await redis_layer.group_send(events.group_name(1), status_event("1", 3))
        await redis_layer.group_send(events.group_name(2), status_event("2", 8))
        assert (await next_message(first))["version"] == 3
        assert (await next_message(second))["version"] == 3
        assert (await next_message(other))["version"] == 8


async def test_after_redis_stops_answering_for_longer_than_the_heartbeat_timeout_every_subscriber_resyncs(
    quick_heartbeat, redis_layer, redis_server
):
    async with running(Listener(redis_layer)) as listener, subscribed(listener, "1") as inbox:
        redis_server.process.send_signal(signal.SIGSTOP)  # connections open, nothing answered: no error to see
        try:
            await outage_noticed(listener)
            assert inbox.received.empty()
        finally:
            redis_server.process.send_signal(signal.SIGCONT)
        assert await next_message(inbox) == RESYNC

        await redis_layer.group_send(events.group_name(1), status_event("1", 4))
        assert (await next_message(inbox))["version"] == 4
