"""A subscription past its snapshot keeps the protocol's promises after Strawberry's stream for it has ended."""

import asyncio

import pytest
from asgiref.sync import sync_to_async

from api import operations
from api.consumers import GraphQLWSConsumer
from submissions import events, metrics, services, snapshots
from submissions.listener import listener
from submissions.models import Status
from tests.api.websocket_client import bearer

pytestmark = pytest.mark.django_db(transaction=True)


def subscribers_of(submission) -> int:
    return len(listener()._inboxes.get(str(submission.pk), ()))


async def subscribed(connect, owner, submission):
    """A connection with subscription "1" to `submission`, its snapshot received."""
    socket = await connect("graphql-transport-ws", bearer(owner))
    await socket.subscribe("1", {"id": str(submission.pk)})
    await socket.next_event("1")
    return socket


def delivered() -> float:
    return metrics.events_delivered._value.get()


def active_subscriptions() -> float:
    return metrics.subscriptions_active._value.get()


async def test_a_completed_subscription_gets_nothing_more_and_its_id_can_be_used_again(connect, owner, submission):
    socket = await subscribed(connect, owner, submission)
    await socket.communicator.send_json_to({"id": "1", "type": "complete"})

    await socket.subscribe("1", {"id": str(submission.pk)})
    assert (await socket.next_event("1"))["version"] == 1, "the new subscription's snapshot"
    assert subscribers_of(submission) == 1
    await sync_to_async(services.set_status)(submission, Status.LOADED, "to the new one only")
    assert (await socket.next_event("1"))["message"] == "to the new one only"
    assert await socket.communicator.receive_nothing(timeout=0.2), "nothing is sent for the completed subscription"


async def test_a_closed_connection_leaves_no_subscriber_behind(connect, owner, submission):
    socket = await connect("graphql-transport-ws", bearer(owner))
    for op_id in ("1", "2"):
        await socket.subscribe(op_id, {"id": str(submission.pk)})
        await socket.next_event(op_id)
    assert subscribers_of(submission) == 2

    await socket.disconnect()
    assert subscribers_of(submission) == 0


async def test_a_subscription_that_falls_behind_is_caught_up_in_order_by_its_own_task(
    connect, owner, submission, monkeypatch
):
    socket = await subscribed(connect, owner, submission)
    # The next two changes cannot be sent straight away, as for a client
    # behind on its pongs: they wait in the subscription's inbox.
    refused = asyncio.Event()

    async def send_later(self, result, *, wait):
        if not wait:
            refused.set()
            return False
        return await send(self, result, wait=wait)

    send = operations.OperationSocket.send
    monkeypatch.setattr(operations.OperationSocket, "send", send_later)
    delivered_before = delivered()
    await sync_to_async(services.set_status)(submission, Status.LOADED, "first")
    await sync_to_async(services.set_status)(submission, Status.READY, "second")

    assert [(await socket.next_event("1"))["message"] for _ in range(2)] == ["first", "second"]
    assert refused.is_set()
    assert delivered() == delivered_before + 2, "each change counted once, when it was sent"


async def test_a_subscription_that_fails_gets_a_masked_error_then_complete_and_is_dropped(
    connect, owner, submission, monkeypatch
):
    socket = await subscribed(connect, owner, submission)

    def broken(**kwargs):
        raise RuntimeError("the database said something private")

    monkeypatch.setattr(snapshots, "snapshot", broken)
    send = events._group_send
    monkeypatch.setattr(events, "_group_send", lambda event: None if event["version"] == 2 else send(event))
    await sync_to_async(services.set_status)(submission, Status.LOADED, "lost on the way")
    await sync_to_async(services.set_status)(submission, Status.READY, "after a gap, so a snapshot is read")

    message = await socket.receive()
    assert message["type"] == "next" and message["payload"]["data"] is None
    assert message["payload"]["errors"][0]["message"] == "Unexpected error."
    assert message["payload"]["errors"][0]["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    assert await socket.receive() == {"id": "1", "type": "complete"}
    assert subscribers_of(submission) == 0


async def test_a_subscription_whose_socket_fails_is_dropped_and_leaves_no_subscriber_behind(
    connect, owner, submission, monkeypatch
):
    await subscribed(connect, owner, submission)
    failed = asyncio.Event()

    async def closing(self, text_data=None, **kwargs):
        failed.set()
        raise ConnectionError("the client went away")

    monkeypatch.setattr(GraphQLWSConsumer, "send", closing)
    await sync_to_async(services.set_status)(submission, Status.LOADED, "too late")

    await asyncio.wait_for(failed.wait(), 5)
    assert subscribers_of(submission) == 0
    assert active_subscriptions() == 0
