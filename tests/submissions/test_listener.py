"""One listener per process: it joins a group while someone listens, and never loses track of who does."""

import asyncio
from contextlib import asynccontextmanager

import pytest
from channels.layers import get_channel_layer

from submissions import events
from submissions.listener import RESYNC, Inbox, Listener


@asynccontextmanager
async def subscribed(listener, submission_id):
    inbox = Inbox()
    await listener.join(submission_id, inbox)
    try:
        yield inbox
    finally:
        await listener.leave(submission_id, inbox)


def status_event(submission_id, version):
    return {"type": events.STATUS_CHANGED, "submission_id": submission_id, "version": version}


async def next_message(inbox):
    return await asyncio.wait_for(inbox.get(), 2)


def test_an_inbox_that_overflows_keeps_only_a_resync():
    inbox = Inbox(size=3)
    for version in range(1, 5):
        inbox.put(status_event("1", version))
    assert asyncio.run(next_message(inbox)) is RESYNC


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
    while "9" not in listener._inboxes:
        await asyncio.sleep(0)
    async with listener._membership:  # a slow join elsewhere holds the lock
        task.cancel()
        await asyncio.sleep(0)
        task.cancel()  # cancelled again while it waits to leave
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.wait_for(listener._membership.acquire(), 2)
    listener._membership.release()
    assert not listener._inboxes.get("9")


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
