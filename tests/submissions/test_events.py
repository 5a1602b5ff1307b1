"""Publishing after commit: a change committed while the channel layer is down still reaches its subscribers."""

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.db import connection, transaction

from submissions import events, services
from submissions.models import Status, Submission
from tests.conftest import GroupProbe

RETRIES_END_WITHIN_SECONDS = 15


@pytest.fixture
async def redis_channel_layer(settings, redis_server):
    """The core channels-redis layer, as the settings configure it, on a private Redis server."""
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [{"address": redis_server.url, "socket_connect_timeout": 1}]},
        }
    }
    layer = get_channel_layer()
    yield layer
    await layer.close_pools()


def retries_ended() -> bool:
    """Waits (bounded) for the background retries to publish or give up; True if they have."""
    events.flush()  # what failed is with the retries by then
    thread = events._retries._thread
    if thread is not None:
        thread.join(RETRIES_END_WITHIN_SECONDS)
    return events._retries._thread is None


@pytest.fixture
async def quick_retries(monkeypatch):
    """Retries a tenth of a second apart, within a window of ten seconds."""
    monkeypatch.setattr(events._Retries, "FIRST_DELAY_SECONDS", 0.05)
    monkeypatch.setattr(events._Retries, "MAX_DELAY_SECONDS", 0.1)
    monkeypatch.setattr(events._Retries, "WINDOW_SECONDS", 10.0)
    yield
    # No retry of this test may publish into the next one.
    assert await asyncio.to_thread(retries_ended)


def set_status(submission, status, message=None) -> dict:
    return sync_to_async(services.set_status)(submission, status, message)


def stored_version(submission) -> int:
    return Submission.objects.get(pk=submission.pk).version


@pytest.mark.django_db(transaction=True)
async def test_a_change_committed_while_redis_is_down_is_published_once_redis_is_back(
    submission, redis_channel_layer, redis_server, quick_retries
):
    subscriber = await GroupProbe.join(submission.pk)
    # Stopped with its data, as a Redis with snapshots restarts: the subscriber's membership survives.
    await asyncio.to_thread(redis_server.stop, keep_data=True)

    event = await set_status(submission, Status.LOADED, "Import finished")
    assert await sync_to_async(stored_version)(submission) == event["version"] == 2  # committed all the same

    await asyncio.to_thread(redis_server.start)
    assert await subscriber.next() == event
    await subscriber.assert_nothing_published()


@pytest.mark.django_db(transaction=True)
async def test_of_several_changes_committed_while_redis_is_down_only_the_newest_is_published(
    submission, redis_channel_layer, redis_server, quick_retries
):
    subscriber = await GroupProbe.join(submission.pk)
    await asyncio.to_thread(redis_server.stop, keep_data=True)

    await set_status(submission, Status.LOADED, "Import finished")
    newest = await set_status(submission, Status.ERROR, "Archive down")

    await asyncio.to_thread(redis_server.start)
    # Subscribers that saw version 1 see the gap to 3 and re-read the submission.
    assert await subscriber.next() == newest
    await subscriber.assert_nothing_published()


@pytest.mark.django_db(transaction=True)
async def test_a_change_is_no_longer_retried_once_the_window_has_passed(
    submission, redis_channel_layer, redis_server, quick_retries, monkeypatch
):
    monkeypatch.setattr(events._Retries, "WINDOW_SECONDS", 0.0)
    subscriber = await GroupProbe.join(submission.pk)
    await asyncio.to_thread(redis_server.stop, keep_data=True)

    await set_status(submission, Status.LOADED, "Import finished")
    assert await asyncio.to_thread(retries_ended)

    await asyncio.to_thread(redis_server.start)
    await subscriber.assert_nothing_published()
    # Nothing is stuck either: the next change is published at once.
    assert (await set_status(submission, Status.ERROR, "Archive down"))["version"] == 3
    assert (await subscriber.next())["version"] == 3


# Publishing from plain threads (a worker process, a command) over Redis


@pytest.mark.django_db(transaction=True)
async def test_changes_from_several_plain_threads_reach_redis_subscribers_once_each_in_version_order(
    submission, redis_channel_layer
):
    channel = await redis_channel_layer.new_channel()
    await redis_channel_layer.group_add(events.group_name(submission.pk), channel)
    writers, changes = 4, 25

    def write(writer: int) -> None:
        # No event loop in this thread: as in a worker, events go out through the publishing loop.
        try:
            for n in range(changes):
                services.set_status(submission.pk, Status.LOADED, f"worker {writer} change {n}")
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=writers) as pool:
        await asyncio.gather(*(asyncio.wrap_future(pool.submit(write, n)) for n in range(writers)))

    received = [await asyncio.wait_for(redis_channel_layer.receive(channel), 5) for _ in range(writers * changes)]
    assert [event["version"] for event in received] == list(range(2, writers * changes + 2))
    assert len({event["message"] for event in received}) == writers * changes
    assert await sync_to_async(stored_version)(submission) == writers * changes + 1


# Notices that are not submission events (to workers): the same queue, sent once, never retried

NOTICES = "work.requests"


def _notify(message: dict) -> None:
    try:
        with transaction.atomic():
            events.notify_on_commit(NOTICES, message)
    finally:
        connection.close()


@pytest.mark.django_db(transaction=True)
async def test_a_notice_reaches_its_group_over_redis_after_commit_in_order_with_the_events(
    submission, redis_channel_layer
):
    notices = await redis_channel_layer.new_channel()
    await redis_channel_layer.group_add(NOTICES, notices)
    changes = await redis_channel_layer.new_channel()
    await redis_channel_layer.group_add(events.group_name(submission.pk), changes)

    def change_then_notify() -> None:
        try:
            with transaction.atomic():
                services.set_status(submission.pk, Status.WAITING, "Validation requested")
                events.notify_on_commit(NOTICES, {"type": "work.requested", "request_id": "7"})
                assert _nothing_sent_yet()
        finally:
            connection.close()

    await asyncio.to_thread(change_then_notify)

    assert (await asyncio.wait_for(redis_channel_layer.receive(changes), 5))["version"] == 2
    assert await asyncio.wait_for(redis_channel_layer.receive(notices), 5) == {
        "type": "work.requested",
        "request_id": "7",
    }


def _nothing_sent_yet() -> bool:
    return events._publishing_loop._queue is None or events._publishing_loop._queue.empty()


@pytest.mark.django_db(transaction=True)
async def test_a_notice_sent_while_redis_is_down_is_dropped_not_retried(
    submission, redis_channel_layer, redis_server, quick_retries
):
    notices = await redis_channel_layer.new_channel()
    await redis_channel_layer.group_add(NOTICES, notices)
    await asyncio.to_thread(redis_server.stop, keep_data=True)

    await asyncio.to_thread(_notify, {"type": "work.requested", "request_id": "8"})
    events.flush()
    assert events._retries._thread is None  # nothing was handed to the retries

    await asyncio.to_thread(redis_server.start)
    await asyncio.to_thread(_notify, {"type": "work.requested", "request_id": "9"})
    # The next notice goes out; the one sent while Redis was down never does.
    assert (await asyncio.wait_for(redis_channel_layer.receive(notices), 5))["request_id"] == "9"
