"""A connection's operations: ended when the client says so or leaves, failing the way the protocol says."""

import pytest
from asgiref.sync import sync_to_async

from live import snapshots
from submissions import events, metrics, services
from submissions.models import Status
from tests.api.websocket_client import bearer

pytestmark = pytest.mark.django_db(transaction=True)


def active_subscriptions() -> float:
    return metrics.subscriptions_active._value.get()


async def subscribed(connect, owner, submission, op_id="1"):
    socket = await connect("graphql-transport-ws", bearer(owner))
    await socket.subscribe(op_id, {"id": str(submission.pk)})
    await socket.next_event(op_id)
    return socket


async def test_a_completed_subscription_gets_nothing_more_and_its_id_can_be_used_again(connect, owner, submission):
    before = active_subscriptions()
    socket = await subscribed(connect, owner, submission)
    await socket.communicator.send_json_to({"id": "1", "type": "complete"})

    await socket.subscribe("1", {"id": str(submission.pk)})
    assert (await socket.next_event("1"))["version"] == 1, "the new subscription's snapshot"
    assert active_subscriptions() == before + 1
    await sync_to_async(services.set_status)(submission, Status.LOADED, "to the new one only")
    assert (await socket.next_event("1"))["message"] == "to the new one only"
    assert await socket.communicator.receive_nothing(timeout=0.2), "nothing is sent for the completed subscription"


async def test_a_closed_connection_leaves_no_subscription_behind(connect, owner, submission):
    before = active_subscriptions()
    socket = await connect("graphql-transport-ws", bearer(owner))
    for op_id in ("1", "2"):
        await socket.subscribe(op_id, {"id": str(submission.pk)})
        await socket.next_event(op_id)
    assert active_subscriptions() == before + 2

    await socket.disconnect()
    assert active_subscriptions() == before


async def test_a_subscription_that_fails_gets_a_masked_error_then_complete_and_is_dropped(
    connect, owner, submission, monkeypatch
):
    before = active_subscriptions()
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
    assert active_subscriptions() == before
